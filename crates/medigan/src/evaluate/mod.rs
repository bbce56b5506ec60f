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
//! | `interval` | mean and 95% interval over repeats ([`Interval`]) |
//! | `metrics` | every metric from one embedding, repeats, the report ([`Evaluation`]) |
//! | `provenance` | extractor, sizes, seeds, version of a score ([`Provenance`]) |
//! | `audit` | memorisation audit: synthetic images against the training set ([`audit::audit`]) |
//! | `plot` | `FID_rs` against `FID_rr` as SVG (the paper's Fig. 8) |
//! | `stream` | generated samples embedded a chunk at a time ([`stream::embed_samples`]) |
//!
//! Without the cargo feature `inception`, `inception` is left out and `fid_inception` is a
//! stand-in (`fid_inception_disabled.rs`) that says so before any weights are fetched.
//!
//! [`evaluate_sets`] does it all: embed the real set (or find it in the cache), embed the
//! synthetic set, `FID_rs` between them, `FID_rr` between two seeded random halves of the real
//! set, and `rFID`.

pub mod audit;
pub mod cache;
pub mod error;
pub mod extractor;
pub mod features;
#[cfg(feature = "inception")]
pub mod fid_inception;
#[cfg(not(feature = "inception"))]
#[path = "fid_inception_disabled.rs"]
pub mod fid_inception;
pub mod frechet;
pub mod images;
#[cfg(feature = "inception")]
pub mod inception;
pub mod interval;
pub mod kid;
pub mod metrics;
pub mod onnx_extractor;
pub mod pairwise;
pub mod plot;
pub mod prdc;
pub mod preprocess;
pub mod provenance;
pub mod ratio;
pub mod stream;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array2, Array3, ArrayD, Axis, Ix3};

pub use cache::FeatureCache;
pub use error::EvaluateError;
pub use extractor::{ExtractorSource, FeatureExtractor, InputNormalization};
pub use features::{FeatureOptions, extract_features};
pub use fid_inception::{InceptionSource, fetch_fid_weights};
pub use frechet::{FeatureStats, frechet_distance, frechet_distance_of_features};
pub use images::{ImageSource, ReadOptions};
pub use interval::Interval;
pub use kid::{Kid, KidOptions, kid};
pub use metrics::{Evaluation, MetricOptions, MetricSet, evaluate_features};
pub use onnx_extractor::{OnnxExtractor, OnnxExtractorConfig, OnnxExtractorSpec};
pub use prdc::{Prdc, prdc};
pub use provenance::Provenance;
pub use ratio::{FidReport, fid_ratio, random_halves};

use crate::env;
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

/// FID between the real and the synthetic features, `FID_rr` between two random halves of the
/// real features (seeded; `None` with fewer than 4 real images) and `rFID`.
pub fn report_from_features(
    subject: impl Into<String>,
    extractor: impl Into<String>,
    real: &Array2<f32>,
    synthetic: &Array2<f32>,
    options: &EvaluateOptions,
) -> Result<FidReport, EvaluateError> {
    let fid_rs = frechet_distance_of_features(real.view(), synthetic.view())?;
    let fid_rr = if real.nrows() >= 4 {
        let (a, b) = random_halves(real.nrows(), options.split_seed);
        let first = real.select(Axis(0), &a);
        let second = real.select(Axis(0), &b);
        Some(frechet_distance_of_features(first.view(), second.view())?)
    } else {
        None
    };
    Ok(FidReport {
        subject: subject.into(),
        extractor: extractor.into(),
        fid_rs,
        fid_rr,
        fid_ratio: fid_rr.and_then(|rr| fid_ratio(fid_rs, rr)),
        real_images: real.nrows(),
        synthetic_images: synthetic.nrows(),
        split_seed: options.split_seed,
        normalized: options.features.min_max,
    })
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

/// Refuses sets of fewer than 2 images before anything is embedded.
fn check_sizes(real: &ImageSet, synthetic: &ImageSet) -> Result<(), EvaluateError> {
    check_set_size(real, "the real set")?;
    check_set_size(synthetic, "the synthetic set")
}

/// Embeds both sets and reports `FID_rs`, `FID_rr` and `rFID` (see [`report_from_features`]).
pub fn evaluate_sets(
    subject: impl Into<String>,
    real: &ImageSet,
    synthetic: &ImageSet,
    source: &dyn ExtractorSource,
    options: &EvaluateOptions,
    progress: &dyn Progress,
) -> Result<FidReport, EvaluateError> {
    check_sizes(real, synthetic)?;
    let real_features = embed(real, source, options, progress)?;
    let synthetic_features = embed(synthetic, source, options, progress)?;
    report_from_features(
        subject,
        source.name(),
        &real_features,
        &synthetic_features,
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

impl crate::Generators {
    /// The FID Inception extractor as every front end makes it: the weights from `weights`,
    /// else `MEDIGAN_FID_WEIGHTS`, else fetched once through the store (from
    /// `MEDIGAN_FID_WEIGHTS_URL` when set); run on onnxruntime unless the backend setting is
    /// tract or onnxruntime is not found ([`InceptionSource::on_onnxruntime`]).
    pub fn fid_inception(
        &self,
        weights: Option<&Path>,
        progress: &dyn Progress,
    ) -> Result<InceptionSource, EvaluateError> {
        let weights = match weights
            .map(Path::to_path_buf)
            .or_else(|| env::FID_WEIGHTS.path())
        {
            Some(path) => path,
            None => {
                let url = env::FID_WEIGHTS_URL.text();
                fetch_fid_weights(self.store(), url.as_deref(), None, progress)?
            }
        };
        InceptionSource::from_pth(&weights)?
            .on_onnxruntime(self.settings().backend, &self.store().home().graphs_dir())
    }

    /// `num_samples` samples of a model (seeded), as an image set for evaluation.
    pub fn synthetic_set(
        &self,
        model_id: &str,
        num_samples: u64,
        seed: u64,
    ) -> crate::Result<ImageSet> {
        self.synthetic_part(model_id, num_samples, 0, 1, seed)
    }

    /// Part `part` of `parts` of a run of `parts x num_samples` samples (seeded): samples
    /// `part x num_samples ..`, a seed range disjoint from every other part's.
    pub fn synthetic_part(
        &self,
        model_id: &str,
        num_samples: u64,
        part: u64,
        parts: u64,
        seed: u64,
    ) -> crate::Result<ImageSet> {
        let (id, range, stream) =
            self.synthetic_stream(model_id, num_samples, part, parts, seed)?;
        let samples = stream.collect::<Result<Vec<_>, _>>()?;
        Ok(ImageSet::from_samples(id, &samples, range)?)
    }

    /// The model's full id, its image range, and the samples of part `part` of `parts` (see
    /// [`Generators::synthetic_part`]) as a stream that holds one generation batch.
    fn synthetic_stream(
        &self,
        model_id: &str,
        num_samples: u64,
        part: u64,
        parts: u64,
        seed: u64,
    ) -> crate::Result<(
        String,
        [f64; 2],
        impl Iterator<Item = crate::Result<Sample>> + 'static,
    )> {
        let model = self.load_model(model_id, &crate::progress::NoProgress)?;
        let request = crate::generate::GenerateRequest {
            num_samples: num_samples.saturating_mul(parts.max(1)),
            seed,
            ..Default::default()
        };
        let indices: Vec<u64> = (part * num_samples..(part + 1) * num_samples).collect();
        let stream = self
            .stream_indices(model.id(), &request, indices)?
            .map(|sample| sample.map_err(crate::Error::from));
        Ok((model.id().to_string(), model.image_range(), stream))
    }

    /// Every metric of `options.metrics` between two folders (`medigan fid`, `medigan
    /// metrics`): with repeats, the synthetic folder (in its sorted order) is split into that
    /// many disjoint parts.
    pub fn metrics(
        &self,
        real: &Path,
        synthetic: &Path,
        source: &dyn ExtractorSource,
        options: &EvaluateOptions,
        progress: &dyn Progress,
    ) -> crate::Result<Evaluation> {
        let real = ImageSet::from_folder(real)?;
        let synthetic = ImageSet::from_folder(synthetic)?;
        check_sizes(&real, &synthetic)?;
        let real_features = embed(&real, source, options, progress)?;
        let synthetic_features = embed(&synthetic, source, options, progress)?;
        let parts = split_repeats(&synthetic_features, options.metrics.repeats)?;
        let provenance = Provenance::new(source, options);
        Ok(evaluate_features(
            synthetic.label.clone(),
            &real_features,
            &parts,
            provenance,
            options,
        )?)
    }

    /// Generates each model's samples (`run.num_samples` per repeat, default: as many as the
    /// real images; repeat `r` takes the `r`-th seed range of the run) and evaluates them
    /// against the real folder, embedded once (`medigan evaluate`); the samples are embedded
    /// as they are generated ([`stream::embed_samples`]), so memory does not grow with `n`.
    pub fn evaluate_models(
        &self,
        models: &[String],
        real: &Path,
        run: SyntheticRun,
        source: &dyn ExtractorSource,
        options: &EvaluateOptions,
        progress: &dyn Progress,
    ) -> crate::Result<Vec<Evaluation>> {
        let real = ImageSet::from_folder(real)?;
        check_set_size(&real, "the real set")?;
        let n = run.num_samples.unwrap_or(real.len() as u64);
        check_synthetic_count(n)?;
        let real_features = embed(&real, source, options, progress)?;
        let repeats = options.metrics.repeats.max(1) as u64;
        let mut evaluations = Vec::with_capacity(models.len());
        for model in models {
            let mut parts = Vec::with_capacity(repeats as usize);
            let mut subject = model.clone();
            for part in 0..repeats {
                let (id, range, samples) =
                    self.synthetic_stream(model, n, part, repeats, run.seed)?;
                let features = stream::embed_samples(
                    &id,
                    samples,
                    n,
                    range,
                    source,
                    &options.features,
                    progress,
                )?;
                parts.push(features);
                subject = id;
            }
            let mut provenance = Provenance::new(source, options);
            provenance.generation_seed = Some(run.seed);
            evaluations.push(evaluate_features(
                subject,
                &real_features,
                &parts,
                provenance,
                options,
            )?);
        }
        Ok(evaluations)
    }

    /// FID between two folders of images, with `FID_rr` and `rFID` of the first (real) one.
    pub fn fid(
        &self,
        real: &Path,
        synthetic: &Path,
        source: &dyn ExtractorSource,
        options: &EvaluateOptions,
        progress: &dyn Progress,
    ) -> crate::Result<FidReport> {
        let real = ImageSet::from_folder(real)?;
        let synthetic = ImageSet::from_folder(synthetic)?;
        let subject = synthetic.label.clone();
        Ok(evaluate_sets(
            subject, &real, &synthetic, source, options, progress,
        )?)
    }

    /// Generates a model's samples (`run.num_samples`, default: as many as the real images)
    /// and reports `FID_rs`, `FID_rr` and `rFID` against the real folder; the samples are
    /// embedded as they are generated ([`stream::embed_samples`]).
    pub fn evaluate(
        &self,
        model_id: &str,
        real: &Path,
        run: SyntheticRun,
        source: &dyn ExtractorSource,
        options: &EvaluateOptions,
        progress: &dyn Progress,
    ) -> crate::Result<FidReport> {
        let real = ImageSet::from_folder(real)?;
        check_set_size(&real, "the real set")?;
        let n = run.num_samples.unwrap_or(real.len() as u64);
        check_synthetic_count(n)?;
        let real_features = embed(&real, source, options, progress)?;
        let (id, range, samples) = self.synthetic_stream(model_id, n, 0, 1, run.seed)?;
        let synthetic =
            stream::embed_samples(&id, samples, n, range, source, &options.features, progress)?;
        Ok(report_from_features(
            id,
            source.name(),
            &real_features,
            &synthetic,
            options,
        )?)
    }
}

/// The generation run whose samples are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyntheticRun {
    /// Samples to generate (`None`: as many as the real set has images).
    pub num_samples: Option<u64>,
    /// The run's seed.
    pub seed: u64,
}
