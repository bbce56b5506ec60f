//! Embedding an image set: read, preprocess and extract in batches, on every core.
//!
//! Workers (one per core unless the extractor says fewer) each own an extractor and take the
//! next batch from a shared counter: read its images, preprocess them, extract. Rows come back
//! in image order whatever the number of workers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ndarray::{Array2, Array4, Axis};

use super::error::EvaluateError;
use super::extractor::ExtractorSource;
use super::images::{ImageSource, ReadOptions};
use super::preprocess;
use crate::progress::Progress;

/// How a set is embedded.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureOptions {
    /// Images per extractor call (default 32).
    pub batch_size: usize,
    /// Worker threads (default: every core).
    pub threads: Option<usize>,
    /// Min-max normalise each image before resizing (the paper's "normalised images").
    pub min_max: bool,
    /// How image files are read.
    pub read: ReadOptions,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            batch_size: 32,
            threads: None,
            min_max: false,
            read: ReadOptions::default(),
        }
    }
}

impl FeatureOptions {
    /// The number of worker threads to run for `batches` batches.
    pub(crate) fn workers(&self, batches: usize, source: &dyn ExtractorSource) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = self.threads.unwrap_or(cores).max(1).min(batches.max(1));
        if let Some(max) = source.max_workers() {
            workers = workers.min(max.max(1));
        }
        workers
    }
}

/// The features of `images` (`N x feature_dims`, in image order).
pub fn extract_features(
    images: &[ImageSource],
    source: &dyn ExtractorSource,
    options: &FeatureOptions,
    progress: &dyn Progress,
) -> Result<Array2<f32>, EvaluateError> {
    if options.batch_size == 0 {
        return Err(EvaluateError::InvalidOption {
            option: "batch size".into(),
            value: "0".into(),
            reason: "at least 1 image per batch".into(),
        });
    }
    let dims = source.feature_dims();
    let batches = images.len().div_ceil(options.batch_size);
    let slots: Mutex<Vec<Option<Array2<f32>>>> = Mutex::new(vec![None; batches]);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = options.workers(batches, source);
    let worker = || -> Result<(), EvaluateError> {
        let mut extractor = source.make()?;
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= batches || stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let start = b * options.batch_size;
            let chunk = &images[start..(start + options.batch_size).min(images.len())];
            let batch = prepare_batch(chunk, source, options)?;
            let features = extractor.extract(batch.view())?;
            if features.dim() != (chunk.len(), dims) {
                return Err(EvaluateError::FeatureDims {
                    what: format!("extractor `{}`", source.name()),
                    expected: dims,
                    found: features.ncols(),
                });
            }
            progress.advance(chunk.len() as u64);
            if let Ok(mut slots) = slots.lock() {
                slots[b] = Some(features);
            }
        }
    };
    let results: Vec<Result<(), EvaluateError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let result = worker();
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EvaluateError::Extractor {
                        name: source.name(),
                        reason: "a worker thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let slots = slots.into_inner().map_err(|_| EvaluateError::Extractor {
        name: source.name(),
        reason: "a worker thread panicked".into(),
    })?;
    let mut out = Array2::<f32>::zeros((images.len(), dims));
    for (b, features) in slots.into_iter().enumerate() {
        let features = features.ok_or_else(|| EvaluateError::Extractor {
            name: source.name(),
            reason: format!("batch {b} was not extracted"),
        })?;
        let start = b * options.batch_size;
        out.slice_mut(ndarray::s![start..start + features.nrows(), ..])
            .assign(&features);
    }
    Ok(out)
}

/// Reads and preprocesses a batch into `N x 3 x H x W`.
fn prepare_batch(
    chunk: &[ImageSource],
    source: &dyn ExtractorSource,
    options: &FeatureOptions,
) -> Result<Array4<f32>, EvaluateError> {
    let [h, w] = source.input_size();
    let normalization = source.normalization();
    let mut batch = Array4::<f32>::zeros((chunk.len(), 3, h, w));
    for (i, image) in chunk.iter().enumerate() {
        let loaded = image.load(&options.read)?;
        let prepared = preprocess::prepare(loaded.view(), [h, w], &normalization, options.min_max);
        batch.index_axis_mut(Axis(0), i).assign(&prepared);
    }
    Ok(batch)
}
