//! Radiomics features computed the way pyradiomics computes them, in plain Rust.
//!
//! The Frechet Radiomics Distance (FRD, `frd-score`) compares two image sets through
//! pyradiomics features. This crate computes those features natively and exactly: each feature
//! class follows pyradiomics (3.1, the fork `frd-score` installs), including where pyradiomics
//! departs from the IBSI definitions, and each is checked against pyradiomics on committed
//! fixtures (`tests/fixtures/*/make.py`).
//!
//! The pipeline, as pyradiomics' `RadiomicsFeatureExtractor.execute` runs it:
//! 1. [`filters::prepare`]: normalise the image, resample image and mask, check the mask and
//!    find its bounding box; the numeric diagnostics come from here.
//! 2. [`shape`]: shape features on the mask, cropped to its bounding box.
//! 3. For each image type (original, [`filters::log`], [`filters::wavelet`]): crop to the
//!    mask ([`filters::crop`]) and compute the enabled [`texture`] classes.
//!
//! [`extractor::Extractor`] runs the whole pipeline for a [`settings::Settings`].
//!
//! Arrays are indexed `[z, y, x]`, as SimpleITK's `GetArrayFromImage` returns them; spacing,
//! origin and sizes are in ITK order `(x, y, z)`.

pub mod error;
pub mod extractor;
pub mod filters;
pub mod settings;
pub mod shape;
pub mod texture;
pub mod volume;

pub use error::RadiomicsError;
pub use settings::Settings;
pub use volume::{Geometry, Volume};

/// Features of one class (or of the diagnostics), in pyradiomics' order: `(name, value)`.
pub type Features = Vec<(&'static str, f64)>;
