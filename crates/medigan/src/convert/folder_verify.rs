//! The comparison of a package converted from a source folder (a diffusers pipeline, a MONAI
//! bundle) with the source's own loop: each reference run generated again from the package at
//! the same initial noise through `Generators::generate_samples`, and the values compared.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ConvertError;
use crate::catalog::CatalogSettings;
use crate::generate::{DiffusionOptions, GenerateRequest};
use crate::{Generators, Result, Settings};

/// One run of the pipeline's own loop.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReferenceRun {
    /// The class label, if any.
    pub label: Option<usize>,
    /// The prompt, for a text-conditioned model.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Its samples, float32 `[N, C, H, W]` in [-1, 1].
    pub file: PathBuf,
    /// Seconds the loop took.
    pub seconds: f64,
}

/// The agreement of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunAgreement {
    /// `unconditional`, `class N` or `prompt "TEXT"`.
    pub run: String,
    /// Values compared.
    pub values: usize,
    /// Largest absolute difference.
    pub max_abs_error: f64,
    /// Mean absolute difference.
    pub mean_abs_error: f64,
    /// Relative error: the largest `|native - pipeline|` over the largest `|pipeline|`.
    pub max_relative_error: f64,
    /// Seconds of the pipeline's loop (PyTorch, CPU).
    pub pipeline_seconds: f64,
    /// Seconds of `medigan generate` (in memory).
    pub native_seconds: f64,
}

impl RunAgreement {
    /// The run's values as the summary and the card write them: the run, the count, the three
    /// errors (3 significant digits), the two timings (seconds, 2 decimals).
    fn cells(&self) -> [String; 7] {
        [
            self.run.clone(),
            self.values.to_string(),
            format!("{:.3e}", self.max_abs_error),
            format!("{:.3e}", self.mean_abs_error),
            format!("{:.3e}", self.max_relative_error),
            format!("{:.2}", self.pipeline_seconds),
            format!("{:.2}", self.native_seconds),
        ]
    }
}

/// The comparison of the converted package with the pipeline's own loop.
#[derive(Debug, Clone, Serialize)]
pub struct DiffusionVerification {
    /// Samples per run.
    pub samples: u64,
    /// Inference steps.
    pub steps: usize,
    /// The scheduler both sides ran.
    pub scheduler: String,
    /// The pipeline class whose `__call__` gave the reference.
    pub reference_pipeline: String,
    /// Relative tolerance.
    pub tolerance: f64,
    /// Per run.
    pub runs: Vec<RunAgreement>,
    /// Whether every run agrees within the tolerance.
    pub passed: bool,
}

impl DiffusionVerification {
    /// One line per run.
    pub fn summary(&self) -> String {
        self.runs
            .iter()
            .map(|r| {
                let [run, values, max_abs, mean, max_rel, pipeline, native] = r.cells();
                format!(
                    "  {run}: {values} values, max abs error {max_abs}, mean {mean}, max relative \
                     {max_rel}; pipeline {pipeline} s, medigan {native} s"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The card's section.
    pub fn markdown(&self) -> String {
        let mut text = format!(
            "{} samples per run, {} steps of `{}`, from the same initial noise: the pipeline's \
             own loop (`{}.__call__`, PyTorch on CPU, its `randn_tensor` giving that noise) vs \
             `medigan generate --initial-noise` of this package, in the model's [-1, 1] range. \
             Relative error: max |medigan - pipeline| / max |pipeline|; tolerance {}. Result: \
             **{}**.\n\n",
            self.samples,
            self.steps,
            self.scheduler,
            self.reference_pipeline,
            self.tolerance,
            if self.passed { "equal" } else { "different" }
        );
        text.push_str(&self.table());
        text
    }

    /// The per-run table of the card.
    pub fn table(&self) -> String {
        let mut text = String::from(
            "| run | values | max abs error | mean abs error | max relative error | pipeline s | medigan s |\n|---|---|---|---|---|---|---|\n",
        );
        for r in &self.runs {
            text.push_str(&format!("| {} |\n", r.cells().join(" | ")));
        }
        text
    }
}

/// A facade over the converted package alone, with the same home and backend, offline.
pub(super) fn native_generators(generators: &Generators, catalog: &Path) -> Generators {
    let settings = generators.settings();
    Generators::new(Settings {
        home: settings.home.clone(),
        catalog: CatalogSettings {
            explicit: vec![catalog.display().to_string()],
            offline: true,
            ..CatalogSettings::default()
        },
        backend: settings.backend,
        verify: settings.verify,
    })
}

/// What the source's own loop gave, for [`verify`].
pub(super) struct References<'a> {
    /// The runs.
    pub runs: &'a [ReferenceRun],
    /// The scheduler class both sides run.
    pub scheduler: &'a str,
    /// What ran the source's loop.
    pub pipeline: &'a str,
}

/// Generates each reference run from the package at `catalog` with the same initial noise and
/// compares.
pub(super) fn verify(
    generators: &Generators,
    catalog: &Path,
    model_id: &str,
    references: &References<'_>,
    noise: &Path,
    options: &super::ConvertOptions,
    steps: usize,
) -> Result<DiffusionVerification> {
    let native = native_generators(generators, catalog);
    let mut runs = Vec::new();
    for reference in references.runs {
        let request = GenerateRequest {
            num_samples: options.samples,
            seed: 0,
            label: reference.label.map(|l| l.to_string()),
            initial_noise: Some(noise.to_path_buf()),
            diffusion: DiffusionOptions {
                steps: Some(steps),
                scheduler: Some(references.scheduler.to_string()),
                guidance: None,
                spacing: None,
                prompt: reference.prompt.clone(),
            },
            ..GenerateRequest::default()
        };
        let started = Instant::now();
        let samples = native.generate_samples(model_id, &request)?.samples;
        let native_seconds = started.elapsed().as_secs_f64();
        let bytes =
            std::fs::read(&reference.file).map_err(ConvertError::io("read", &reference.file))?;
        let (want, _) = crate::formats::npy::decode(&bytes).map_err(|e| ConvertError::Io {
            action: "read",
            path: reference.file.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let got: Vec<f32> = samples
            .iter()
            .flat_map(|s| s.image.iter().copied())
            .collect();
        let want: Vec<f32> = want.iter().copied().collect();
        let (max_abs, mean_abs, max_rel) = differences(&got, &want);
        runs.push(RunAgreement {
            run: match (&reference.prompt, reference.label) {
                (Some(prompt), _) => format!("prompt {prompt:?}"),
                (None, Some(l)) => format!("class {l}"),
                (None, None) => "unconditional".to_string(),
            },
            values: want.len(),
            max_abs_error: max_abs,
            mean_abs_error: mean_abs,
            max_relative_error: max_rel,
            pipeline_seconds: reference.seconds,
            native_seconds,
        });
    }
    let passed = runs
        .iter()
        .all(|r| r.max_relative_error <= options.tolerance);
    Ok(DiffusionVerification {
        samples: options.samples,
        steps,
        scheduler: references.scheduler.to_string(),
        reference_pipeline: references.pipeline.to_string(),
        tolerance: options.tolerance,
        runs,
        passed,
    })
}

/// The largest and the mean absolute difference of `got` from `want`, and the largest over the
/// largest `|want|` (infinite where the lengths differ or a value is NaN).
fn differences(got: &[f32], want: &[f32]) -> (f64, f64, f64) {
    let (mut max_abs, mut total, mut scale) = (0f64, 0f64, 0f64);
    if got.len() != want.len() {
        max_abs = f64::INFINITY;
    }
    for (&g, &w) in got.iter().zip(want) {
        let d = (f64::from(g) - f64::from(w)).abs();
        let d = if d.is_nan() { f64::INFINITY } else { d };
        max_abs = max_abs.max(d);
        total += d;
        scale = scale.max(f64::from(w.abs()));
    }
    let mean_abs = total / want.len().max(1) as f64;
    (max_abs, mean_abs, max_abs / scale.max(f64::MIN_POSITIVE))
}
