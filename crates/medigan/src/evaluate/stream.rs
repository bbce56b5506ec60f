//! Synthetic samples embedded as they are generated (`medigan evaluate`): a chunk of samples at
//! a time goes from the sample stream into the feature extractor, so memory holds one chunk
//! (a batch per extraction worker) and the features, never the whole run.
//!
//! Streamed samples are not looked up in the feature cache: its key is a digest of every
//! image, which is known only once the last sample has been generated.

use ndarray::Array2;

use super::extractor::ExtractorSource;
use super::features::{FeatureOptions, extract_features};
use super::{EvaluateError, ImageSet};
use crate::progress::Progress;
use crate::sample::Sample;

/// Samples held at once: one batch for each extraction worker.
pub fn chunk_size(options: &FeatureOptions, source: &dyn ExtractorSource) -> usize {
    options.batch_size.max(1) * options.workers(usize::MAX, source)
}

/// The features (`N x feature_dims`, in stream order) of the samples of `samples`, whose
/// images hold values in `range`; `total` is the expected count, for the progress bar.
pub fn embed_samples<I>(
    label: &str,
    samples: I,
    total: u64,
    range: [f64; 2],
    source: &dyn ExtractorSource,
    options: &FeatureOptions,
    progress: &dyn Progress,
) -> crate::Result<Array2<f32>>
where
    I: Iterator<Item = crate::Result<Sample>>,
{
    progress.begin(
        &format!("generate and embed {label} with {}", source.name()),
        Some(total),
    );
    let embedded = embed_chunks(label, samples, range, source, options, progress);
    progress.finish();
    embedded
}

fn embed_chunks<I>(
    label: &str,
    mut samples: I,
    range: [f64; 2],
    source: &dyn ExtractorSource,
    options: &FeatureOptions,
    progress: &dyn Progress,
) -> crate::Result<Array2<f32>>
where
    I: Iterator<Item = crate::Result<Sample>>,
{
    let chunk = chunk_size(options, source);
    let dims = source.feature_dims();
    let mut rows = Vec::new();
    let mut count = 0;
    loop {
        let batch = samples
            .by_ref()
            .take(chunk)
            .collect::<crate::Result<Vec<_>>>()?;
        if batch.is_empty() {
            break;
        }
        let set = ImageSet::from_samples(label, &batch, range)?;
        drop(batch);
        let features = extract_features(&set.images, source, options, progress)?;
        count += features.nrows();
        rows.extend(features.iter().copied());
    }
    Array2::from_shape_vec((count, dims), rows).map_err(|e| {
        EvaluateError::Extractor {
            name: source.name(),
            reason: format!("features do not form a {count} x {dims} matrix: {e}"),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ndarray::{Array2, ArrayD, ArrayView4};

    use super::*;
    use crate::evaluate::{FeatureExtractor, InputNormalization};
    use crate::progress::NoProgress;

    /// An extractor whose one feature is the batch's mean; counts the images it has seen.
    struct Counting(Arc<AtomicUsize>);

    impl ExtractorSource for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn input_size(&self) -> [usize; 2] {
            [8, 8]
        }
        fn feature_dims(&self) -> usize {
            1
        }
        fn normalization(&self) -> InputNormalization {
            InputNormalization::FID
        }
        fn max_workers(&self) -> Option<usize> {
            Some(1)
        }
        fn make(&self) -> Result<Box<dyn FeatureExtractor>, EvaluateError> {
            Ok(Box::new(CountingExtractor(self.0.clone())))
        }
    }

    struct CountingExtractor(Arc<AtomicUsize>);

    impl FeatureExtractor for CountingExtractor {
        fn name(&self) -> String {
            "counting".into()
        }
        fn input_size(&self) -> [usize; 2] {
            [8, 8]
        }
        fn feature_dims(&self) -> usize {
            1
        }
        fn extract(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>, EvaluateError> {
            let n = batch.shape()[0];
            self.0.fetch_add(n, Ordering::SeqCst);
            let means = batch.outer_iter().map(|image| image.mean().unwrap_or(0.0));
            Ok(Array2::from_shape_vec((n, 1), means.collect()).unwrap())
        }
    }

    fn sample(index: u64) -> Sample {
        let value = (index % 7) as f32 / 7.0;
        Sample {
            index,
            seed: index,
            image: ArrayD::from_elem(vec![1, 8, 8], value),
            mask: None,
            label: None,
        }
    }

    #[test]
    fn samples_are_embedded_a_chunk_at_a_time() {
        let extracted = Arc::new(AtomicUsize::new(0));
        let source = Counting(extracted.clone());
        let options = FeatureOptions {
            batch_size: 4,
            threads: Some(1),
            ..FeatureOptions::default()
        };
        let bound = chunk_size(&options, &source);
        assert_eq!(bound, 4);
        let n = 103;
        let held = AtomicUsize::new(0);
        let samples = (0..n).map(|i| {
            // Samples made but not yet embedded: what the evaluation holds in memory.
            let waiting = i as usize - extracted.load(Ordering::SeqCst);
            held.fetch_max(waiting + 1, Ordering::SeqCst);
            Ok(sample(i))
        });
        let features =
            embed_samples("m", samples, n, [0.0, 1.0], &source, &options, &NoProgress).unwrap();
        assert_eq!(features.dim(), (n as usize, 1));
        assert_eq!(extracted.load(Ordering::SeqCst), n as usize);
        assert!(
            held.load(Ordering::SeqCst) <= bound,
            "held {} samples, bound {bound}",
            held.load(Ordering::SeqCst)
        );
        // Rows come in sample order: sample i looks like sample i % 7, and those seven differ.
        for i in 0..n as usize {
            assert_eq!(features[[i, 0]], features[[i % 7, 0]], "row {i}");
        }
        assert!((1..7).all(|i| features[[i, 0]] > features[[i - 1, 0]]));
    }

    #[test]
    fn a_failing_sample_stops_the_embedding() {
        let source = Counting(Arc::new(AtomicUsize::new(0)));
        let samples = (0..10).map(|i| {
            if i == 6 {
                Err(crate::Error::from(EvaluateError::InvalidOption {
                    option: "x".into(),
                    value: "y".into(),
                    reason: "sample 6 failed".into(),
                }))
            } else {
                Ok(sample(i))
            }
        });
        let options = FeatureOptions::default();
        let err = embed_samples("m", samples, 10, [0.0, 1.0], &source, &options, &NoProgress)
            .unwrap_err();
        assert!(err.to_string().contains("sample 6 failed"), "{err}");
    }
}
