//! The native `Generators` class: catalogue, search and ranking through the core facade, and
//! the entry points of generation (in `generate`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use medigan::search::{KeywordQuery, Operator, Order, RankedModel};
use medigan::{Generators, Overrides, Settings};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::IntoPyResult;
use crate::generate::{self, DiffusionArgs, RequestArgs};
use crate::to_python::json_to_py;

/// The core facade. Made once per process (the Python `Generators` makes it lazily, so that
/// DataLoader worker processes each get their own).
#[pyclass(name = "Generators", module = "medigan_rs._native", frozen)]
pub struct PyGenerators {
    inner: Arc<Generators>,
}

impl PyGenerators {
    /// The core facade, for the functions of the other files.
    pub(crate) fn core(&self) -> &Generators {
        &self.inner
    }
}

/// A keyword query from the original arguments.
fn query(
    values: Vec<String>,
    operator: &str,
    match_keys: bool,
    case_sensitive: bool,
) -> PyResult<KeywordQuery> {
    Ok(KeywordQuery {
        values,
        operator: operator.parse::<Operator>().py()?,
        match_keys,
        case_sensitive,
    })
}

/// The original's ranking result: `[{"model_id": id, metric: value}]`.
fn ranked<'py>(
    py: Python<'py>,
    models: &[RankedModel],
    metric: &str,
) -> PyResult<Bound<'py, PyList>> {
    let items = models
        .iter()
        .map(|m| json_to_py(py, &m.to_json(metric)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

#[pymethods]
impl PyGenerators {
    /// Settings come from the environment, read by the core as the CLI reads it
    /// (`medigan::env`: `MEDIGAN_HOME`, `MEDIGAN_CATALOG`, `MEDIGAN_OFFLINE`, `MEDIGAN_BACKEND`,
    /// ...); each argument given overrides its variable.
    /// `catalog` replaces the default catalogue sources (paths or URLs); `backend` is `ort`,
    /// `tract` or `auto`.
    #[new]
    #[pyo3(signature = (catalog=None, home=None, offline=None, backend=None))]
    fn new(
        catalog: Option<Vec<String>>,
        home: Option<PathBuf>,
        offline: Option<bool>,
        backend: Option<&str>,
    ) -> PyResult<Self> {
        let settings = Settings::from_env().with(Overrides {
            home,
            catalog,
            offline,
            backend: backend.map(Overrides::backend_named).transpose().py()?,
            verify: None,
        });
        Ok(PyGenerators {
            inner: Arc::new(Generators::new(settings)),
        })
    }

    /// The settings in force: home, catalogue sources, offline, backend.
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let settings = self.inner.settings();
        let dict = PyDict::new(py);
        dict.set_item("home", settings.home.root().display().to_string())?;
        dict.set_item("catalog", settings.catalog.explicit.clone())?;
        dict.set_item("offline", settings.offline())?;
        dict.set_item("backend", settings.backend.map(|b| b.to_string()))?;
        Ok(dict)
    }

    /// The setting each `MEDIGAN_*` variable gives in this facade, by variable name (what
    /// `medigan env --json` reports as `effective`).
    fn environment(&self) -> BTreeMap<&'static str, String> {
        self.inner.environment().into_iter().collect()
    }

    /// Model ids in catalogue order.
    fn list_models(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_models()).py()
    }

    /// The full id of a model given by id, number or unique prefix.
    fn resolve(&self, py: Python<'_>, model_id: &str) -> PyResult<String> {
        py.detach(|| self.inner.get_config_by_id(model_id).map(|e| e.id.clone()))
            .py()
    }

    /// The catalogue entry of a model as a dict (`execution`, `selection`, `description`).
    fn config<'py>(&self, py: Python<'py>, model_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let value = py
            .detach(|| {
                self.inner
                    .get_config_by_id(model_id)
                    .map(|e| serde_json::to_value(&e.metadata))
            })
            .py()?
            .map_err(|e| PyValueError::new_err(format!("cannot render the entry: {e}")))?;
        json_to_py(py, &value)
    }

    /// The `selection` part of a model's entry.
    fn selection<'py>(&self, py: Python<'py>, model_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let value = py
            .detach(|| self.inner.get_selection_criteria_by_id(model_id).cloned())
            .py()?;
        json_to_py(py, &value)
    }

    /// Keyword search; model ids in catalogue order.
    #[pyo3(signature = (values, operator="AND", match_keys=false, case_sensitive=false))]
    fn find_matching(
        &self,
        py: Python<'_>,
        values: Vec<String>,
        operator: &str,
        match_keys: bool,
        case_sensitive: bool,
    ) -> PyResult<Vec<String>> {
        let query = query(values, operator, match_keys, case_sensitive)?;
        py.detach(|| self.inner.find_matching_models_by_values(&query))
            .py()
    }

    /// Ranking by a metric path; `model_ids` restricts it.
    #[pyo3(signature = (model_ids, metric, order))]
    fn rank<'py>(
        &self,
        py: Python<'py>,
        model_ids: Option<Vec<String>>,
        metric: &str,
        order: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let order = order.parse::<Order>().py()?;
        let models = py
            .detach(|| {
                self.inner
                    .rank_models_by_performance(model_ids.as_deref(), metric, order)
            })
            .py()?;
        ranked(py, &models, metric)
    }

    /// Keyword search, then ranking of what was found.
    #[pyo3(signature = (values, operator, match_keys, case_sensitive, metric, order))]
    #[allow(clippy::too_many_arguments)]
    fn find_and_rank<'py>(
        &self,
        py: Python<'py>,
        values: Vec<String>,
        operator: &str,
        match_keys: bool,
        case_sensitive: bool,
        metric: &str,
        order: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let query = query(values, operator, match_keys, case_sensitive)?;
        let order = order.parse::<Order>().py()?;
        let models = py
            .detach(|| self.inner.find_models_and_rank(&query, metric, order))
            .py()?;
        ranked(py, &models, metric)
    }

    /// Models whose selection field at `key` has `value`.
    fn key_value(
        &self,
        py: Python<'_>,
        key: &str,
        value: &str,
        case_sensitive: bool,
    ) -> PyResult<Vec<String>> {
        py.detach(|| {
            self.inner
                .get_models_by_key_value_pair(key, value, case_sensitive)
        })
        .py()
    }

    /// Selection keys of one model or of all.
    #[pyo3(signature = (model_id=None))]
    fn selection_keys(&self, py: Python<'_>, model_id: Option<&str>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.get_selection_keys(model_id)).py()
    }

    /// Values under a selection key, for one model or all.
    #[pyo3(signature = (key, model_id=None))]
    fn selection_values<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        model_id: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let values = py
            .detach(|| self.inner.get_selection_values_for_key(key, model_id))
            .py()?;
        let items = values
            .iter()
            .map(|v| json_to_py(py, v))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Serves the visualiser for a model on 127.0.0.1 (`port` 0 picks a free one); returns a
    /// handle with its `url` and `stop()`.
    #[pyo3(signature = (model_id, slider_grouper=10, port=0, save_dir="medigan-visualize"))]
    fn visualize(
        &self,
        py: Python<'_>,
        model_id: &str,
        slider_grouper: usize,
        port: u16,
        save_dir: &str,
    ) -> PyResult<crate::visualize::PyVisualizer> {
        crate::visualize::start(py, &self.inner, model_id, slider_grouper, port, save_dir)
    }

    /// Contributes the package in `package_dir` as `model_id` (the `medigan contribute` flow:
    /// checks, end-to-end test, reproducible zip, Zenodo deposition, GitHub issue); returns the
    /// report as a dict. Missing required fields are named, not asked for.
    #[pyo3(signature = (package_dir, model_id, zip_path, zenodo_token=None, github_token=None,
                        dry_run=false, publish=false, sandbox=false, zenodo_url=None,
                        github_api_url=None, catalog_repo=None))]
    #[allow(clippy::too_many_arguments)]
    fn contribute<'py>(
        &self,
        py: Python<'py>,
        package_dir: PathBuf,
        model_id: &str,
        zip_path: PathBuf,
        zenodo_token: Option<String>,
        github_token: Option<String>,
        dry_run: bool,
        publish: bool,
        sandbox: bool,
        zenodo_url: Option<String>,
        github_api_url: Option<String>,
        catalog_repo: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        use medigan::contribute::{
            CATALOG_REPO, ContributeRequest, GITHUB_API_URL, Token, ZENODO_SANDBOX_URL, ZENODO_URL,
        };
        let default_zenodo = if sandbox {
            ZENODO_SANDBOX_URL
        } else {
            ZENODO_URL
        };
        let request = ContributeRequest {
            dir: package_dir,
            id: model_id.trim().to_string(),
            zip_path,
            dry_run,
            publish,
            zenodo_url: zenodo_url
                .or_else(|| medigan::env::ZENODO_URL.text())
                .unwrap_or_else(|| default_zenodo.to_string()),
            zenodo_token: zenodo_token.and_then(Token::new),
            open_issue: !sandbox || catalog_repo.is_some(),
            github_api: github_api_url
                .or_else(|| medigan::env::GITHUB_API_URL.text())
                .unwrap_or_else(|| GITHUB_API_URL.to_string()),
            catalog_repo: catalog_repo.unwrap_or_else(|| CATALOG_REPO.to_string()),
            github_token: github_token.and_then(Token::new),
        };
        let report = py.detach(|| {
            medigan::contribute::contribute(
                &self.inner,
                &request,
                &mut |_| None,
                &medigan::progress::NoProgress,
            )
        });
        let report = report.map_err(|e| crate::errors::to_py(e.into()))?;
        let value =
            serde_json::to_value(&report).map_err(|e| PyValueError::new_err(e.to_string()))?;
        json_to_py(py, &value)
    }

    /// Loads a model (fetching its package; a legacy package's environment only with consent)
    /// and describes it: `model_id`, `kind` (`native` | `legacy`), `image_shape` (None when
    /// not declared), `image_range`, `mask_shape`, `classes`, `conditional`, `takes_input`,
    /// `latent_size`.
    fn model_info<'py>(&self, py: Python<'py>, model_id: &str) -> PyResult<Bound<'py, PyDict>> {
        generate::model_info(py, &self.inner, model_id)
    }

    /// Runs the model test pipeline on a catalogue model (load, generate, shape, range,
    /// determinism, variation); returns the report: `model_id`, `verdict` (`pass`, `fail`,
    /// `skip`), `checks` (`name`, `passed`, `detail`), `seconds`, and the core's `reason`
    /// (the first failed check; `None` when it passed).
    fn test_model<'py>(&self, py: Python<'py>, model_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let report = py
            .detach(|| {
                self.inner
                    .test_model(model_id, &medigan::progress::NoProgress)
            })
            .py()?;
        let mut value = serde_json::to_value(&report)
            .map_err(|e| PyValueError::new_err(format!("cannot convert the report: {e}")))?;
        value["reason"] = serde_json::Value::from(report.reason());
        json_to_py(py, &value)
    }

    /// Converts a source folder (a diffusers pipeline or a MONAI bundle) into a native
    /// diffusion package at `out` (default `<model id>-onnx`), written only when it gives the
    /// source's own samples from the same initial noise (within `tolerance`, relative) unless
    /// `accept_differences`; returns the report (`medigan convert PATH --json`). The converter's
    /// Python environment is made only with consent (`set_install_dependencies(True)`).
    /// `prompts`: a text-conditioned pipeline's prompts, whose text embeddings the package
    /// ships (`--prompts FILE`).
    #[pyo3(signature = (path, out=None, samples=16, tolerance=1e-4, accept_differences=false,
                        model_id=None, steps=None, prompts=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn convert_folder<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        out: Option<PathBuf>,
        samples: u64,
        tolerance: f64,
        accept_differences: bool,
        model_id: Option<String>,
        steps: Option<usize>,
        prompts: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = medigan::convert::ConvertOptions {
            out,
            samples,
            tolerance,
            accept_differences,
            id: model_id,
            steps,
            prompts,
            ..medigan::convert::ConvertOptions::new(&path.display().to_string())
        };
        let report = py
            .detach(|| medigan::convert::convert_folder(&self.inner, &path, &options))
            .py()?;
        let value = serde_json::to_value(&report)
            .map_err(|e| PyValueError::new_err(format!("cannot convert the report: {e}")))?;
        json_to_py(py, &value)
    }

    /// Consent to install a legacy model's dependencies into its own environment and run its
    /// code (the original `install_dependencies=True`).
    fn set_install_dependencies(&self, install: bool) {
        let mut settings = self.inner.legacy_settings();
        settings.install_dependencies = install;
        self.inner.set_legacy_settings(settings);
    }

    /// Generates a run into `output_path` with a manifest; returns a summary dict. A folder
    /// holding an earlier run of this shard is refused unless `resume` (keep its intact files,
    /// generate the rest) or `overwrite` (start again). Ctrl-C stops it between batches.
    #[pyo3(signature = (model_id, output_path, num_samples, seed=0, batch_size=16, label=None,
                        inputs=Vec::new(), shard=None, threads=None, options=BTreeMap::new(),
                        format="png", resume=false, overwrite=false, steps=None, scheduler=None,
                        guidance_scale=None, initial_noise=None, pack=None,
                        samples_per_shard=1000, latent=None, shards=None, spacing=None,
                        prompt=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate_to_dir<'py>(
        &self,
        py: Python<'py>,
        model_id: &str,
        output_path: PathBuf,
        num_samples: u64,
        seed: u64,
        batch_size: usize,
        label: Option<String>,
        inputs: Vec<PathBuf>,
        shard: Option<&str>,
        threads: Option<usize>,
        options: BTreeMap<String, String>,
        format: &str,
        resume: bool,
        overwrite: bool,
        steps: Option<usize>,
        scheduler: Option<String>,
        guidance_scale: Option<f64>,
        initial_noise: Option<PathBuf>,
        pack: Option<&str>,
        samples_per_shard: u64,
        latent: Option<Vec<f32>>,
        shards: Option<u64>,
        spacing: Option<Vec<f64>>,
        prompt: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mode = generate::run_mode(resume, overwrite)?;
        let extras = generate::DirExtras {
            pack: generate::pack(pack, samples_per_shard)?,
            latent,
        };
        let args = RequestArgs {
            num_samples,
            seed,
            batch_size,
            label,
            inputs,
            shard,
            shards,
            threads,
            options,
            diffusion: DiffusionArgs {
                steps,
                scheduler,
                guidance_scale,
                initial_noise,
                spacing,
                prompt,
            },
        };
        generate::to_dir(
            py,
            &self.inner,
            model_id,
            &output_path,
            args,
            format,
            mode,
            extras,
        )
    }

    /// Generates samples in memory: a list of `(index, seed, image, mask, label)` with numpy
    /// float32 arrays. `indices` picks samples of the run (any order); without it, the whole
    /// run (or `shard`). Ctrl-C stops it between batches.
    #[pyo3(signature = (model_id, num_samples, seed=0, batch_size=16, label=None,
                        inputs=Vec::new(), shard=None, threads=None, options=BTreeMap::new(),
                        indices=None, steps=None, scheduler=None, guidance_scale=None,
                        initial_noise=None, spacing=None, prompt=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate_samples<'py>(
        &self,
        py: Python<'py>,
        model_id: &str,
        num_samples: u64,
        seed: u64,
        batch_size: usize,
        label: Option<String>,
        inputs: Vec<PathBuf>,
        shard: Option<&str>,
        threads: Option<usize>,
        options: BTreeMap<String, String>,
        indices: Option<Vec<u64>>,
        steps: Option<usize>,
        scheduler: Option<String>,
        guidance_scale: Option<f64>,
        initial_noise: Option<PathBuf>,
        spacing: Option<Vec<f64>>,
        prompt: Option<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let args = RequestArgs {
            num_samples,
            seed,
            batch_size,
            label,
            inputs,
            shard,
            shards: None,
            threads,
            options,
            diffusion: DiffusionArgs {
                steps,
                scheduler,
                guidance_scale,
                initial_noise,
                spacing,
                prompt,
            },
        };
        generate::samples(py, &self.inner, model_id, args, indices)
    }
}

/// The onnxruntime library the core would load (`ORT_DYLIB_PATH`, the onnxruntime package, the
/// system), or None when there is none and tract runs the models.
#[pyfunction]
pub fn ort_library_path(py: Python<'_>) -> Option<String> {
    py.detach(|| {
        medigan::runtime::find_onnxruntime()
            .ok()
            .map(|lib| lib.path.display().to_string())
    })
}
