//! Evaluation of synthetic data: feature extraction, the Frechet distance (FID), its real-real
//! lower bound and the FID ratio (paper, section 4.2).
//!
//! | file | job |
//! |---|---|
//! | `images` | reading a set: folders of PNG/JPEG/npy, or samples in memory ([`ImageSet`]) |
//! | `preprocess` | 3 channels, min-max normalisation, PyTorch-exact bilinear resize, range, mean/std |
//! | `extractor` | the [`FeatureExtractor`] and [`ExtractorSource`] traits |
//! | `onnx_extractor` | a user's ONNX network as extractor ([`OnnxExtractorSpec`]) |
//! | `inception` | the FID Inception-v3 network (pytorch-fid's weights), run natively |
//! | `fid_inception` | that network as extractor ([`InceptionSource`]), its weights fetched by sha256 |
//! | `features` | batches on every core ([`extract_features`]) |
//! | `cache` | features stored by set content + extractor ([`FeatureCache`]) |
//! | `frechet` | the Frechet distance in f64 ([`frechet_distance`]) |
//! | `ratio` | `FID_rr`, `rFID`, the report in catalogue keys ([`FidReport`]) |
//! | `pairwise` | inner products and distances between feature sets, in f64 row blocks |
//! | `kid` | the Kernel Inception Distance ([`kid()`]) |
//! | `prdc` | precision, recall, density, coverage ([`prdc()`]) |
//! | `cmmd` | CMMD: Gaussian-kernel MMD on L2-normalised (CLIP) embeddings ([`cmmd()`]) |
//! | `interval` | mean and 95% interval over repeats ([`Interval`]) |
//! | `metrics` | every metric from one embedding, repeats, the report ([`Evaluation`]) |
//! | `provenance` | extractor, sizes, seeds, version of a score ([`Provenance`]) |
//! | `audit` | memorisation audit: synthetic images against the training set ([`audit::audit`]) |
//! | `plot` | `FID_rs` against `FID_rr` as SVG (the paper's Fig. 8) |
//! | `request` | the typed request: [`ExtractorSpec`], [`EvaluationRequest`] and its checks |
//! | `stream` | generated samples embedded a chunk at a time ([`stream::embed_samples`]) |
//! | `synthetic` | what scoring models takes from the layer above ([`ModelSamples`]) |
//!
//! Without the cargo feature `inception`, `inception` is left out and `fid_inception` is a
//! stand-in (`fid_inception_disabled.rs`) that says so before any weights are fetched.
//!
//! [`run`] does it all for an [`EvaluationRequest`] (the models it scores handed over as
//! [`ModelSamples`]): embed the real set (or find it in the cache), embed the synthetic folder
//! or each model's samples as they are generated, then every metric asked for
//! ([`evaluate_features`]: `FID_rs`, `FID_rr` between two seeded random halves of the real set,
//! `rFID`, KID, PRDC, CMMD, repeats).

pub mod audit;
pub mod cache;
pub mod cmmd;
pub mod error;
pub mod extractor;
pub mod features;
#[cfg(feature = "inception")]
pub mod fid_inception;
#[cfg(not(feature = "inception"))]
#[path = "fid_inception_disabled.rs"]
pub mod fid_inception;
pub mod frd;
pub mod frechet;
pub mod images;
#[cfg(feature = "inception")]
pub mod inception;
pub mod interval;
pub mod kid;
pub mod metrics;
pub mod moments;
pub mod onnx_extractor;
pub mod pairwise;
pub mod per_class;
pub mod planes;
pub mod plot;
pub mod prdc;
pub mod preprocess;
pub mod provenance;
pub mod ratio;
pub mod request;
pub mod stats_file;
pub mod stream;
pub mod synthetic;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array2, Array3, ArrayD, Axis, Ix3};

pub use cache::FeatureCache;
pub use cmmd::{Cmmd, cmmd};
pub use error::EvaluateError;
pub use extractor::{ExtractorSource, FeatureExtractor, InputNormalization};
pub use features::{FeatureOptions, extract_features};
pub use fid_inception::{InceptionSource, fetch_fid_weights};
pub use frd::{FrdReport, FrdRequest, FrdSettings, FrdVersion};
pub use frechet::{FeatureStats, frechet_distance, frechet_distance_of_features};
pub use images::{ImageSource, ReadOptions};
pub use interval::Interval;
pub use kid::{Kid, KidOptions, kid};
pub use metrics::{Evaluation, MetricOptions, MetricSet, evaluate_features};
pub use moments::ExactMoments;
pub use onnx_extractor::{OnnxExtractor, OnnxExtractorConfig, OnnxExtractorSpec};
pub use planes::{PlaneOptions, PlanesReport, PlanesRequest};
pub use prdc::{Prdc, prdc};
pub use provenance::Provenance;
pub use ratio::{FidReport, fid_ratio, random_halves};
pub use request::{EvaluationRequest, ExtractorKind, ExtractorSpec, SyntheticSide};
pub use stats_file::{MergeRequest, SetRole, StatsFile, merge as merge_stats};
pub use synthetic::{ModelSamples, SyntheticSamples, synthetic_part};

use crate::progress::Progress;
use crate::sample::Sample;

/// A set of images to embed, with a label for messages and the cache.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// A folder path or a model id.
    pub label: String,
    /// The images, in a fixed order.
    pub images: Vec<ImageSource>,
}

impl ImageSet {
    /// The images below `dir` (see [`images::list_sources`]).
    pub fn from_folder(dir: &Path) -> Result<ImageSet, EvaluateError> {
        let images = images::list_sources(dir)?;
        Ok(ImageSet {
            label: dir.display().to_string(),
            images,
        })
    }

    /// Generated samples (`[C, H, W]` images in `range`), mapped to [0, 1]. Volumes are refused.
    pub fn from_samples(
        label: impl Into<String>,
        samples: &[Sample],
        range: [f64; 2],
    ) -> Result<ImageSet, EvaluateError> {
        let label = label.into();
        let (lo, hi) = (range[0] as f32, range[1] as f32);
        if hi <= lo {
            return Err(EvaluateError::InvalidOption {
                option: "image range".into(),
                value: format!("{lo},{hi}"),
                reason: "the maximum must be above the minimum".into(),
            });
        }
        let images = samples
            .iter()
            .map(|s| {
                let image = sample_image(&s.image, &label)?;
                let scaled = image.mapv(|v| ((v - lo) / (hi - lo)).clamp(0.0, 1.0));
                Ok(ImageSource::Array(Arc::new(scaled)))
            })
            .collect::<Result<_, EvaluateError>>()?;
        Ok(ImageSet { label, images })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

fn sample_image(image: &ArrayD<f32>, label: &str) -> Result<Array3<f32>, EvaluateError> {
    let view = match image.ndim() {
        2 => image.view().insert_axis(Axis(0)),
        _ => image.view(),
    };
    view.into_dimensionality::<Ix3>()
        .map(|v| v.to_owned())
        .map_err(|_| EvaluateError::Extractor {
            name: label.to_string(),
            reason: format!(
                "samples of shape {:?} are not 2-D images (volumes cannot be embedded by a 2-D \
                 extractor)",
                image.shape()
            ),
        })
}

/// How an evaluation runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvaluateOptions {
    /// How sets are embedded.
    pub features: FeatureOptions,
    /// Seed of the random split of the real set into halves for `FID_rr`.
    pub split_seed: u64,
    /// Where features are cached (none: always extract).
    pub cache_dir: Option<PathBuf>,
    /// Which metrics beyond FID, and how many repeats.
    pub metrics: MetricOptions,
}

/// The report of an evaluation that asked for the FRD alone (no network involved).
fn frd_only(synthetic: &Path, frd: Option<FrdReport>, options: &EvaluateOptions) -> Evaluation {
    let images = frd.as_ref().map_or([0, 0], |r| r.images);
    let provenance = Provenance {
        extractor: "radiomics".into(),
        extractor_sha256: None,
        input_size: [0, 0],
        resize: "none".into(),
        normalization: frd::RADIOMICS_PROVENANCE.into(),
        min_max: false,
        real_images: images[0],
        synthetic_images: images[1],
        generation_seed: None,
        split_seed: options.split_seed,
        seed: options.metrics.kid.seed,
        repeats: 1,
        metrics: options.metrics.metrics.names(),
        tool: format!("medigan-rs {}", env!("CARGO_PKG_VERSION")),
    };
    Evaluation {
        subject: synthetic.display().to_string(),
        fid: None,
        kid: None,
        prdc: None,
        cmmd: None,
        frd,
        intervals: Vec::new(),
        provenance,
    }
}

/// Features of `set`, from the cache when it has them (and stored there when not).
pub fn embed(
    set: &ImageSet,
    source: &dyn ExtractorSource,
    options: &EvaluateOptions,
    progress: &dyn Progress,
) -> Result<Array2<f32>, EvaluateError> {
    let cached = match &options.cache_dir {
        Some(dir) => {
            let cache = FeatureCache::new(dir);
            let digest = cache::set_digest(&set.images)?;
            let key = cache::cache_key(&digest, source, &options.features);
            if let Some(found) = cache.get(&key, set.len(), source.feature_dims())? {
                tracing::info!(
                    "features of `{}` found in the cache ({})",
                    set.label,
                    cache.path(&key).display()
                );
                return Ok(found);
            }
            Some((cache, key))
        }
        None => None,
    };
    progress.begin(
        &format!("embed {} with {}", set.label, source.name()),
        Some(set.len() as u64),
    );
    let features = extract_features(&set.images, source, &options.features, progress);
    progress.finish();
    let features = features?;
    if let Some((cache, key)) = cached {
        cache.put(&key, &features, source, &options.features, &set.label)?;
    }
    Ok(features)
}

/// Checks that a set has enough images for FID (two), before anything is downloaded or run;
/// `what` names it in the error ("the real set").
pub fn check_set_size(set: &ImageSet, what: &str) -> Result<(), EvaluateError> {
    if set.len() < 2 {
        return Err(EvaluateError::TooFewImages {
            what: format!("FID over {what} `{}`", set.label),
            needed: 2,
            found: set.len(),
        });
    }
    Ok(())
}

/// Refuses to generate fewer than 2 synthetic samples for FID.
fn check_synthetic_count(n: u64) -> Result<(), EvaluateError> {
    if n < 2 {
        return Err(EvaluateError::TooFewImages {
            what: "FID over the synthetic set".into(),
            needed: 2,
            found: usize::try_from(n).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

/// Embeds both sets and evaluates them with every metric of `options.metrics` (see
/// [`evaluate_features`]); with repeats, the synthetic set (in its order) is split into that
/// many disjoint parts.
pub fn evaluate_sets(
    real: &ImageSet,
    synthetic: &ImageSet,
    source: &dyn ExtractorSource,
    options: &EvaluateOptions,
    progress: &dyn Progress,
) -> Result<Evaluation, EvaluateError> {
    check_set_size(real, "the real set")?;
    check_set_size(synthetic, "the synthetic set")?;
    let real_features = embed(real, source, options, progress)?;
    let synthetic_features = embed(synthetic, source, options, progress)?;
    let parts = split_repeats(&synthetic_features, options.metrics.repeats)?;
    evaluate_features(
        synthetic.label.clone(),
        &real_features,
        &parts,
        Provenance::new(source, options),
        options,
    )
}

/// Splits a synthetic set into `repeats` disjoint consecutive parts of equal size (the
/// remainder is left out), for [`evaluate_features`].
pub fn split_repeats(
    synthetic: &Array2<f32>,
    repeats: usize,
) -> Result<Vec<Array2<f32>>, EvaluateError> {
    let repeats = repeats.max(1);
    let size = synthetic.nrows() / repeats;
    if size < 2 {
        return Err(EvaluateError::TooFewImages {
            what: format!("{repeats} repeats (disjoint parts of the synthetic set)"),
            needed: 2 * repeats,
            found: synthetic.nrows(),
        });
    }
    Ok((0..repeats)
        .map(|r| {
            synthetic
                .slice(ndarray::s![r * size..(r + 1) * size, ..])
                .to_owned()
        })
        .collect())
}

/// Runs an evaluation (`Generators::evaluate`, which hands itself over as the
/// [`ModelSamples`]): checks the request, lists the real set (and the synthetic folder, or
/// resolves the models) before any weights are fetched, then embeds and scores; one report per
/// synthetic folder or model.
pub fn run(
    samples_of: &dyn ModelSamples,
    request: &EvaluationRequest,
    progress: &dyn Progress,
) -> crate::Result<Vec<Evaluation>> {
    request.check()?;
    let real = ImageSet::from_folder(&request.real)?;
    check_set_size(&real, "the real set")?;
    let backend = samples_of.backend();
    let options = &request.options;
    match &request.synthetic {
        SyntheticSide::Folder(dir) => {
            let metrics = &options.metrics;
            let frd = metrics
                .metrics
                .frd
                .then(|| {
                    frd::run(
                        &FrdRequest::folders(&request.real, dir, metrics.frd),
                        progress,
                    )
                })
                .transpose()?;
            if !metrics.metrics.embeds() {
                return Ok(vec![frd_only(dir, frd, options)]);
            }
            let synthetic = ImageSet::from_folder(dir)?;
            check_set_size(&synthetic, "the synthetic set")?;
            let source = request
                .extractor
                .source(samples_of.store(), backend, progress)?;
            let evaluation = match &request.save_stats {
                None => evaluate_sets(&real, &synthetic, source.as_ref(), options, progress)?,
                Some(path) => {
                    let real_features = embed(&real, source.as_ref(), options, progress)?;
                    let synthetic_features = embed(&synthetic, source.as_ref(), options, progress)?;
                    let provenance = Provenance::new(source.as_ref(), options);
                    let sets = vec![
                        (
                            SetRole::Real,
                            real.label.clone(),
                            ExactMoments::of(real_features.view())?,
                        ),
                        (
                            SetRole::Synthetic,
                            synthetic.label.clone(),
                            ExactMoments::of(synthetic_features.view())?,
                        ),
                    ];
                    StatsFile::of_evaluation(&provenance, &request.metric_key(), sets)
                        .save(path)?;
                    evaluate_features(
                        synthetic.label.clone(),
                        &real_features,
                        &[synthetic_features],
                        provenance,
                        options,
                    )?
                }
            };
            Ok(vec![Evaluation { frd, ..evaluation }])
        }
        SyntheticSide::Models { models, run } => {
            for model in models {
                samples_of.check_model(model)?;
            }
            let n = run.num_samples.unwrap_or(real.len() as u64);
            check_synthetic_count(n)?;
            let source = request
                .extractor
                .source(samples_of.store(), backend, progress)?;
            if request.per_class {
                return per_class::run(
                    samples_of,
                    &request.real,
                    models,
                    *run,
                    source.as_ref(),
                    options,
                    progress,
                );
            }
            let real_features = embed(&real, source.as_ref(), options, progress)?;
            models
                .iter()
                .map(|model| {
                    let scored = ScoredModel {
                        model,
                        run: SyntheticRun {
                            num_samples: Some(n),
                            seed: run.seed,
                        },
                        source: source.as_ref(),
                        options,
                    };
                    evaluate_model(samples_of, &scored, &real_features, progress)
                })
                .collect()
        }
    }
}

/// A model whose samples are scored against the real features.
struct ScoredModel<'a> {
    model: &'a str,
    run: SyntheticRun,
    source: &'a dyn ExtractorSource,
    options: &'a EvaluateOptions,
}

/// Generates the model's samples (`run.num_samples` per repeat; repeat `r` takes the `r`-th
/// seed range of the run), embeds them as they are generated ([`stream::embed_samples`], so
/// memory does not grow with `n`) and scores them against `real_features`.
fn evaluate_model(
    samples_of: &dyn ModelSamples,
    scored: &ScoredModel<'_>,
    real_features: &Array2<f32>,
    progress: &dyn Progress,
) -> crate::Result<Evaluation> {
    let (source, options) = (scored.source, scored.options);
    let n = scored.run.num_samples.unwrap_or(0);
    let repeats = options.metrics.repeats.max(1) as u64;
    let mut parts = Vec::with_capacity(repeats as usize);
    let mut subject = scored.model.to_string();
    for part in 0..repeats {
        let synthetic = synthetic::synthetic_stream(
            samples_of,
            scored.model,
            n,
            part,
            repeats,
            scored.run.seed,
            None,
        )?;
        let features = stream::embed_samples(
            &synthetic.model_id,
            synthetic.samples,
            n,
            synthetic.image_range,
            source,
            &options.features,
            progress,
        )?;
        parts.push(features);
        subject = synthetic.model_id;
    }
    let mut provenance = Provenance::new(source, options);
    provenance.generation_seed = Some(scored.run.seed);
    Ok(evaluate_features(
        subject,
        real_features,
        &parts,
        provenance,
        options,
    )?)
}

/// The generation run whose samples are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyntheticRun {
    /// Samples to generate (`None`: as many as the real set has images).
    pub num_samples: Option<u64>,
    /// The run's seed.
    pub seed: u64,
}
