//! Where a score comes from: the extractor and the hash of its weights, the input it was fed,
//! the numbers of images, the seeds and repeats, and the tool version. Written with every
//! report (`--json`) and beside its catalogue lines, so that a score can be reproduced.

use serde::Serialize;

use super::EvaluateOptions;
use super::extractor::ExtractorSource;

/// How the images were resized before the extractor.
pub const RESIZE: &str = "bilinear, align_corners=False (torch.nn.functional.interpolate)";

/// The provenance of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The extractor's name.
    pub extractor: String,
    /// sha256 of the extractor's weights or graph file, when known.
    pub extractor_sha256: Option<String>,
    /// Input size of the extractor, `[height, width]`.
    pub input_size: [usize; 2],
    /// How images were resized to the input size.
    pub resize: String,
    /// How `[0, 1]` images were mapped for the extractor (range, mean/std).
    pub normalization: String,
    /// Whether each image was min-max normalised first.
    pub min_max: bool,
    /// Real images.
    pub real_images: usize,
    /// Synthetic images per repeat.
    pub synthetic_images: usize,
    /// Seed of the generation run, when the evaluation generated its samples.
    pub generation_seed: Option<u64>,
    /// Seed of the real-real split (`FID_rr`), of repeat 0.
    pub split_seed: u64,
    /// Seed of the KID subsets and of the bootstrap of the real set, of repeat 0 (repeat `r`
    /// uses seed + r).
    pub seed: u64,
    /// Repeats (disjoint synthetic samples, bootstrap resamples of the real set when > 1).
    pub repeats: usize,
    /// The metrics computed.
    pub metrics: Vec<&'static str>,
    /// The medigan version.
    pub tool: String,
}

impl Provenance {
    /// The provenance of an evaluation with `source` and `options` (image counts left at 0).
    pub fn new(source: &dyn ExtractorSource, options: &EvaluateOptions) -> Provenance {
        Provenance {
            extractor: source.name(),
            extractor_sha256: source.sha256(),
            input_size: source.input_size(),
            resize: RESIZE.into(),
            normalization: source.normalization().describe(),
            min_max: options.features.min_max,
            real_images: 0,
            synthetic_images: 0,
            generation_seed: None,
            split_seed: options.split_seed,
            seed: options.metrics.kid.seed,
            repeats: options.metrics.repeats.max(1),
            metrics: options.metrics.metrics.names(),
            tool: format!("medigan-rs {}", env!("CARGO_PKG_VERSION")),
        }
    }
}
