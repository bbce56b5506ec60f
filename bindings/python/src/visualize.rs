//! The model visualiser from Python: serve the page for a model and hand back a handle with
//! its address.

use medigan::Generators;
use medigan_viz::{RunningViz, View, VizError, VizOptions};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::errors::to_py;

/// A running visualiser: `url` is its address on 127.0.0.1; `stop()` ends it (so does
/// dropping the handle).
#[pyclass(name = "Visualizer", module = "medigan_rs._native")]
pub struct PyVisualizer {
    url: String,
    running: Option<RunningViz>,
}

#[pymethods]
impl PyVisualizer {
    /// The page's address, e.g. `http://127.0.0.1:8765/`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server is still running.
    #[getter]
    fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Stops the server (idempotent).
    fn stop(&mut self, py: Python<'_>) {
        if let Some(running) = self.running.take() {
            py.detach(|| running.stop());
        }
    }
}

/// Opens `model_id` for exploration and serves it; the page's Save button writes to `save_dir`.
pub fn start(
    py: Python<'_>,
    generators: &Generators,
    model_id: &str,
    slider_grouper: usize,
    port: u16,
    save_dir: &str,
) -> PyResult<PyVisualizer> {
    let started = py.detach(|| {
        let view = View::open(generators, model_id, slider_grouper)?;
        medigan_viz::start(
            view,
            VizOptions {
                port,
                save_dir: save_dir.into(),
            },
        )
    });
    let running = started.map_err(viz_error)?;
    Ok(PyVisualizer {
        url: running.url().to_string(),
        running: Some(running),
    })
}

fn viz_error(error: VizError) -> PyErr {
    match error {
        VizError::Model(e) => to_py(e),
        VizError::Serve { .. } | VizError::Save { .. } => {
            let hint = medigan::error::Hint::advice(&error)
                .map(|advice| advice.render(&crate::errors::PythonWording));
            let hint = hint.map_or_else(String::new, |h| format!("\nhint: {h}"));
            PyOSError::new_err(format!("{error}{hint}"))
        }
        other => PyValueError::new_err(other.to_string()),
    }
}
