//! medigan: a one-stop shop of pretrained generative models for medical images.
//!
//! Find a model by what it generates, rank models by a metric, generate synthetic data (to disk,
//! in memory, or as a stream), and manage the models on disk. [`Generators`] is the single point
//! of access (the paper's facade); the modules below are its parts:
//!
//! | module | job | medigan (Python) counterpart |
//! |---|---|---|
//! | [`catalog`] | load, validate and merge model catalogues | `config_manager` |
//! | [`search`] | keyword search and ranking by metric | `model_selector` |
//! | [`store`] | download, verify, unpack and cache packages | part of `model_executor` |
//! | [`runtime`] | run a loaded generator (onnxruntime, tract) | `model_executor` |
//! | [`formats`] | each file format written and read in one module (PNG, NPY, DICOM, NIfTI) | image saving in each package |
//! | [`evaluate`] | FID, its real-real lower bound and the FID ratio; feature extractors | the paper's `tests/fid.py` |
//! | [`dataset`] | verify and merge the manifests of sharded runs, root digest | - |
//! | [`legacy`] | run packages in the original Python format, one environment each | `model_executor` |
//! | [`home`] | the on-disk layout of medigan's cache | - |
//! | [`walk`] | the one safe walk over folders medigan reads (images, datasets, run folders) | - |
#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod bundle;
pub mod bundled;
pub mod catalog;
pub mod child;
pub mod contribute;
pub mod convert;
pub mod dataset;
pub mod diffusion;
pub mod env;
pub mod error;
pub mod evaluate;
pub mod formats;
pub mod fs;
#[doc(hidden)]
pub mod fuzz_api;
pub mod generate;
mod generators;
pub mod home;
mod http;
pub mod legacy;
pub mod limits;
pub mod model;
pub mod output;
pub mod progress;
#[cfg(feature = "object-store")]
pub mod remote;
pub mod runtime;
pub mod sample;
pub mod search;
pub mod store;
pub mod walk;

pub use error::{Error, Result};
pub use generators::{GenerateFunction, Generators, Overrides, Settings};
