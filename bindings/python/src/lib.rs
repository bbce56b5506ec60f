//! `medigan_rs._native`: the Rust core of medigan-rs as a Python extension module.
//!
//! The module is thin: every method calls the `medigan` library's [`medigan::Generators`] facade
//! and converts what it returns. The original medigan signatures (argument names, defaults,
//! `**kwargs`), the torch adapters and the exception classes live in the pure-Python package
//! around it (`python/medigan_rs/`). One file per core module:
//!
//! | file | core module | job |
//! |---|---|---|
//! | `generators` | `generators` | the `Generators` class: catalogue, search, ranking |
//! | `generate` | `generate`, `sample` | generation to disk and to numpy arrays |
//! | `interrupt` | `progress` | GIL-free work that Ctrl-C stops between batches |
//! | `to_python` | `catalog` | JSON values to Python objects |
//! | `errors` | `error` | library errors to `medigan_rs.exceptions` classes |
//! | `visualize` | `medigan-viz` | the visualiser server and its handle |
//! | `metrics` | `evaluate` | FID/KID/PRDC of two folders, the memorisation audit |
//! | `packed` | `generate` | packed runs another engine drives (the Ray Data adapter) |
//! | `contribute` | `catalog`, `contribute` | metadata validation, the user's catalogue, contribution steps |

mod contribute;
mod errors;
mod generate;
mod generators;
mod interrupt;
mod metrics;
mod packed;
mod to_python;
mod visualize;

use pyo3::prelude::*;

/// The native part of `medigan_rs`; use `medigan_rs.Generators` instead.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<generators::PyGenerators>()?;
    module.add_class::<visualize::PyVisualizer>()?;
    module.add_class::<packed::PyPackedRun>()?;
    module.add_function(wrap_pyfunction!(packed::packed_run, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Whether the pure-Rust backend is built in (cargo feature `tract`; the wheel leaves it out).
    module.add("TRACT", medigan::runtime::TRACT_ENABLED)?;
    module.add_function(wrap_pyfunction!(generators::ort_library_path, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::metrics, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::frd, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::merge_stats, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::metrics_planes, module)?)?;
    module.add_function(wrap_pyfunction!(metrics::audit, module)?)?;
    contribute::register(module)?;
    module.add_function(wrap_pyfunction!(metrics::evaluate_models, module)?)?;
    Ok(())
}
