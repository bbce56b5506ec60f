//! `metrics` and `audit`: the core's evaluation of image folders (`Generators::metrics`,
//! `evaluate::audit::audit`), as module functions returning the CLI's `--json` objects.
//!
//! The extractor is named as on the command line: `"inception"` (pytorch-fid's weights, fetched
//! once through the store unless `inception_weights` names the file) or `"onnx:PATH"`.

use std::path::{Path, PathBuf};

use medigan::evaluate::audit::{AuditOptions, AuditSets, audit as audit_sets};
use medigan::evaluate::{
    EvaluateOptions, ExtractorSource, FeatureOptions, ImageSet, InputNormalization, KidOptions,
    MetricOptions, MetricSet, OnnxExtractorConfig, OnnxExtractorSpec, ReadOptions,
};
use medigan::home::Home;
use medigan::progress::Progress;
use medigan::{Generators, Settings};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::interrupt::{Cancellable, run_interruptible};
use crate::to_python::json_to_py;

/// How features are made: the `extractor=` and embedding arguments of both functions.
struct Extraction {
    extractor: String,
    inception_weights: Option<PathBuf>,
    input_size: Option<usize>,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    cache_dir: Option<PathBuf>,
}

impl Extraction {
    /// The extractor and the catalogue key its metric is reported under (`FID`,
    /// `FID_<STEM>`).
    fn source(
        &self,
        generators: &Generators,
        progress: &dyn Progress,
    ) -> PyResult<(Box<dyn ExtractorSource>, String)> {
        let name = self.extractor.trim();
        if name == "inception" {
            if self.input_size.is_some() {
                return Err(PyValueError::new_err(
                    "input_size= applies to ONNX extractors (extractor=\"onnx:PATH\") only",
                ));
            }
            let source = generators
                .fid_inception(self.inception_weights.as_deref(), progress)
                .py()?;
            return Ok((Box::new(source), "FID".into()));
        }
        let Some(path) = name.strip_prefix("onnx:") else {
            return Err(PyValueError::new_err(format!(
                "unknown extractor `{name}`; expected \"inception\" or \"onnx:PATH\""
            )));
        };
        let config = OnnxExtractorConfig {
            graph: path.into(),
            input_size: self.input_size.map(|s| [s, s]),
            normalization: InputNormalization::FID,
            output: None,
            backend: generators.settings().backend,
        };
        let spec = OnnxExtractorSpec::resolve(config).py()?;
        let stem = Path::new(path)
            .file_stem()
            .map_or_else(|| "ONNX".into(), |s| s.to_string_lossy().to_uppercase());
        Ok((Box::new(spec), format!("FID_{stem}")))
    }

    /// The embedding options (metrics left at their defaults).
    fn options(&self) -> PyResult<EvaluateOptions> {
        if self.batch_size == 0 {
            return Err(PyValueError::new_err("batch_size= must be at least 1"));
        }
        Ok(EvaluateOptions {
            features: FeatureOptions {
                batch_size: self.batch_size,
                threads: self.threads,
                min_max: self.normalize,
                read: ReadOptions::default(),
            },
            cache_dir: self.cache_dir.clone(),
            ..Default::default()
        })
    }
}

/// A facade with the environment's settings, `home` and `offline` overriding theirs.
fn facade(home: Option<PathBuf>, offline: Option<bool>) -> Generators {
    let mut settings = Settings::from_env();
    if let Some(home) = home {
        settings.home = Home::new(home);
    }
    if let Some(offline) = offline {
        settings.catalog.offline = offline;
    }
    Generators::new(settings)
}

/// FID (with `FID_rr` and rFID), KID, precision/recall/density/coverage between two folders
/// from one embedding of each; with `repeats` > 1 the synthetic folder is split into that many
/// disjoint parts and each metric gets a mean and a 95% interval. Returns the object that
/// `medigan --json metrics` prints for one report.
#[pyfunction]
#[pyo3(signature = (
    real, synthetic, *, extractor="inception", metrics="fid,kid,prdc", repeats=1, nearest_k=5,
    kid_subsets=100, kid_subset_size=1000, seed=0, split_seed=0, batch_size=32, threads=None,
    normalize=false, input_size=None, inception_weights=None, cache_dir=None, metric_key=None,
    home=None, offline=None
))]
#[allow(clippy::too_many_arguments)]
pub fn metrics(
    py: Python<'_>,
    real: PathBuf,
    synthetic: PathBuf,
    extractor: &str,
    metrics: &str,
    repeats: usize,
    nearest_k: usize,
    kid_subsets: usize,
    kid_subset_size: usize,
    seed: u64,
    split_seed: u64,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    input_size: Option<usize>,
    inception_weights: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    metric_key: Option<String>,
    home: Option<PathBuf>,
    offline: Option<bool>,
) -> PyResult<Py<PyAny>> {
    if repeats == 0 {
        return Err(PyValueError::new_err(
            "repeats= must be at least 1 (1: one evaluation, no interval)",
        ));
    }
    let extraction = Extraction {
        extractor: extractor.to_string(),
        inception_weights,
        input_size,
        batch_size,
        threads,
        normalize,
        cache_dir,
    };
    let mut options = extraction.options()?;
    options.split_seed = split_seed;
    options.metrics = MetricOptions {
        metrics: MetricSet::parse(metrics).py()?,
        kid: KidOptions {
            subsets: kid_subsets,
            subset_size: kid_subset_size,
            seed,
        },
        nearest_k,
        repeats,
    };
    let value = run_interruptible(py, |cancel| -> PyResult<serde_json::Value> {
        let progress = Cancellable(cancel);
        let generators = facade(home, offline);
        let (source, default_key) = extraction.source(&generators, &progress)?;
        let evaluation = generators
            .metrics(&real, &synthetic, source.as_ref(), &options, &progress)
            .py()?;
        Ok(evaluation.to_json(metric_key.as_deref().unwrap_or(&default_key)))
    })??;
    Ok(json_to_py(py, &value)?.unbind())
}

/// Memorisation audit of a folder of synthetic images against the training folder: each
/// image's closest training image in feature space and in pixel space, thresholds calibrated
/// on `holdout` (or the training set against itself), the likely copies flagged. Returns the
/// object that `medigan --json audit` prints (`matches`, thresholds, `catalog`), without the
/// gallery.
#[pyfunction]
#[pyo3(signature = (
    synthetic, train, holdout=None, *, extractor="inception", pixel_size=32, max_shift=2,
    margin=0.5, pixel_metric="ncc", batch_size=32, threads=None, normalize=false, input_size=None,
    inception_weights=None, cache_dir=None, home=None, offline=None
))]
#[allow(clippy::too_many_arguments)]
pub fn audit(
    py: Python<'_>,
    synthetic: PathBuf,
    train: PathBuf,
    holdout: Option<PathBuf>,
    extractor: &str,
    pixel_size: usize,
    max_shift: usize,
    margin: f64,
    pixel_metric: &str,
    batch_size: usize,
    threads: Option<usize>,
    normalize: bool,
    input_size: Option<usize>,
    inception_weights: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    offline: Option<bool>,
) -> PyResult<Py<PyAny>> {
    let extraction = Extraction {
        extractor: extractor.to_string(),
        inception_weights,
        input_size,
        batch_size,
        threads,
        normalize,
        cache_dir,
    };
    let options = AuditOptions {
        pixel_size,
        max_shift,
        margin,
        pixel_metric: pixel_metric.parse().py()?,
        evaluate: extraction.options()?,
    };
    let value = run_interruptible(py, |cancel| -> PyResult<serde_json::Value> {
        let progress = Cancellable(cancel);
        let read = |dir: &Path| ImageSet::from_folder(dir).py();
        let (synthetic, train) = (read(&synthetic)?, read(&train)?);
        let holdout = holdout.as_deref().map(read).transpose()?;
        let generators = facade(home, offline);
        let (source, _) = extraction.source(&generators, &progress)?;
        let sets = AuditSets {
            synthetic: &synthetic,
            train: &train,
            holdout: holdout.as_ref(),
        };
        let report = audit_sets(
            synthetic.label.clone(),
            sets,
            source.as_ref(),
            &options,
            &progress,
        )
        .py()?;
        let mut value = serde_json::to_value(&report)
            .map_err(|e| PyValueError::new_err(format!("cannot render the audit: {e}")))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("catalog".into(), report.catalog_privacy());
        }
        Ok(value)
    })??;
    Ok(json_to_py(py, &value)?.unbind())
}
