//! The [`FeatureExtractor`] trait: a network that turns a batch of images into feature vectors
//! (Inception-v3 for FID, any user-supplied ONNX network such as a RadImageNet model).

use ndarray::{Array2, ArrayView4};

use super::error::EvaluateError;

/// How an extractor wants its input: images in [0, 1] are mapped linearly to `range`, then each
/// channel `c` becomes `(x - mean[c]) / std[c]` when `mean_std` is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputNormalization {
    /// The value range `[0, 1]` is mapped to, e.g. `[-1, 1]` (pytorch-fid, Keras Inception) or
    /// `[0, 1]` (torchvision models).
    pub range: [f32; 2],
    /// Per-channel mean and standard deviation applied after the range, e.g. ImageNet's
    /// `([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`.
    pub mean_std: Option<([f32; 3], [f32; 3])>,
}

impl InputNormalization {
    /// `[-1, 1]`, no mean/std: what pytorch-fid's Inception takes.
    pub const FID: InputNormalization = InputNormalization {
        range: [-1.0, 1.0],
        mean_std: None,
    };

    /// A short text naming the normalisation (part of a feature cache key).
    pub fn describe(&self) -> String {
        let mut text = format!("range={},{}", self.range[0], self.range[1]);
        if let Some((mean, std)) = self.mean_std {
            text.push_str(&format!(
                " mean={},{},{} std={},{},{}",
                mean[0], mean[1], mean[2], std[0], std[1], std[2]
            ));
        }
        text
    }
}

/// A network that embeds images as feature vectors.
///
/// The evaluation pipeline reads each image, makes it 3 channels in [0, 1], resizes it to
/// [`input_size`](FeatureExtractor::input_size) (bilinear, as PyTorch's
/// `F.interpolate(mode="bilinear", align_corners=False)`), applies
/// [`normalization`](FeatureExtractor::normalization), and calls
/// [`extract`](FeatureExtractor::extract) with batches of `N x 3 x H x W`. One extractor serves
/// one thread; the pipeline makes one per worker.
pub trait FeatureExtractor: Send {
    /// A name that identifies the network and its weights (used in reports and cache keys).
    fn name(&self) -> String;

    /// The input size, `[height, width]`.
    fn input_size(&self) -> [usize; 2];

    /// The length of one feature vector.
    fn feature_dims(&self) -> usize;

    /// How the `[0, 1]` images are mapped before they reach the network (default: to
    /// `[-1, 1]`, as pytorch-fid's Inception takes them).
    fn normalization(&self) -> InputNormalization {
        InputNormalization::FID
    }

    /// Features of a batch `N x 3 x H x W` (already resized and normalised): `N x feature_dims`.
    fn extract(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>, EvaluateError>;
}

/// What the pipeline knows of an extractor before running it, and how it makes one per worker.
pub trait ExtractorSource: Sync {
    /// The extractor's name (as [`FeatureExtractor::name`]).
    fn name(&self) -> String;

    /// The input size, `[height, width]`.
    fn input_size(&self) -> [usize; 2];

    /// The length of one feature vector.
    fn feature_dims(&self) -> usize;

    /// How `[0, 1]` images are mapped before they reach the network.
    fn normalization(&self) -> InputNormalization;

    /// The most workers worth running (default: one per core).
    fn max_workers(&self) -> Option<usize> {
        None
    }

    /// sha256 of the weights or graph file, when known (for the provenance of a score).
    fn sha256(&self) -> Option<String> {
        None
    }

    /// A new extractor for one worker thread.
    fn make(&self) -> Result<Box<dyn FeatureExtractor>, EvaluateError>;
}
