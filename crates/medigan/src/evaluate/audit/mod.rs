//! Memorisation audit: does a model copy its training images? For every synthetic image, its
//! nearest training image in feature space (the distance to the closest record, DCR) and in
//! pixel space (normalised correlation or SSIM on a common size, mirror images included), set against
//! the same distances of new real images (a holdout set) to the training set. A model that
//! copies has synthetic images much closer to training images than new real images are.
//!
//! Pixel similarity is the best over the variants a copy may have been made with: mirrored,
//! shifted by up to `max_shift` pixels (see `pixels`). Without the shifts a copy moved by 2 px
//! loses most of its correlation on images with sharp edges.
//!
//! A synthetic image is flagged as a likely copy when it is closer to a training image than
//! `margin` times the closest any calibration image comes, in either space: feature DCR below
//! `margin x min(holdout DCR)`, or pixel dissimilarity `1 - correlation` below `margin x
//! min(holdout dissimilarity)`. The calibration images are the holdout set, or without one each
//! training image against the other training images. The margin (default 0.5: twice as close
//! as any new real image) keeps fresh images from being flagged just for beating the holdout's
//! most extreme value, which one fresh image in `|holdout| + 1` does by chance.
//!
//! | file | job |
//! |---|---|
//! | `pixels` | gray vectors at a common size, correlation in blocks, mirror images; SSIM of the closest |
//! | `ssim` | the structural similarity of two gray images (scikit-image's definition) |
//! | `gallery` | an HTML page with the closest pairs as PNGs, written atomically |
//! | `request` | [`AuditRequest`]: a folder or a model, the sets, extractor, options and gallery, checked once for every front end and run by [`request::run`] |

pub mod gallery;
pub mod pixels;
pub mod request;
pub mod ssim;

use ndarray::Array2;
use serde::Serialize;
use serde_json::{Value, json};

use super::error::EvaluateError;
use super::images::ReadOptions;
use super::pairwise::{nearest_rows, to_f64};
use super::provenance::Provenance;
use super::ratio::round;
use super::{EvaluateOptions, ExtractorSource, ImageSet, embed};
use crate::progress::Progress;
use pixels::{PixelMatch, PixelMetric, PixelSet, Variants, most_similar, pixel_vectors};
pub use request::{AuditOutcome, AuditRequest, AuditSubject, GalleryRequest};

/// How an audit runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditOptions {
    /// Side of the common size for pixel similarity (default 32: coarse enough that noise
    /// averages out, fine enough that distinct images stay distinct).
    pub pixel_size: usize,
    /// Largest shift (pixels of the common size, each direction) a copy may have (default 2).
    pub max_shift: usize,
    /// A copy is closer than `margin` times the closest calibration image (default 0.5).
    pub margin: f64,
    /// The pixel similarity: normalised correlation (default) or SSIM.
    pub pixel_metric: PixelMetric,
    /// How feature sets are embedded (and cached).
    pub evaluate: EvaluateOptions,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            pixel_size: 32,
            max_shift: 2,
            margin: 0.5,
            pixel_metric: PixelMetric::Ncc,
            evaluate: EvaluateOptions::default(),
        }
    }
}

impl AuditOptions {
    /// Refuses a margin, shift or pixel size no audit can use (each error names the option).
    pub fn check(&self) -> Result<(), EvaluateError> {
        if !(self.margin > 0.0 && self.margin <= 1.0) {
            return Err(EvaluateError::InvalidOption {
                option: "audit margin".into(),
                value: self.margin.to_string(),
                reason: "a number in (0, 1]: 0.5 flags images twice as close as any new real image"
                    .into(),
            });
        }
        if self.max_shift > 8 {
            return Err(EvaluateError::InvalidOption {
                option: "largest shift".into(),
                value: self.max_shift.to_string(),
                reason: "at most 8 pixels (each shift is one more comparison per image)".into(),
            });
        }
        if !(4..=512).contains(&self.pixel_size) {
            return Err(EvaluateError::InvalidOption {
                option: "pixel size".into(),
                value: self.pixel_size.to_string(),
                reason: "between 4 and 512 (default 32)".into(),
            });
        }
        Ok(())
    }

    /// The variants of each image compared in pixel space: mirrored or not, shifted.
    pub fn variants(&self) -> Variants {
        Variants {
            size: self.pixel_size,
            max_shift: self.max_shift,
            mirror: true,
            metric: self.pixel_metric,
        }
    }
}

/// One synthetic image and its closest training images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditMatch {
    /// Index of the synthetic image in its set.
    pub synthetic: usize,
    /// Its file, or `sample N`.
    pub synthetic_label: String,
    /// Nearest training image in feature space.
    pub feature_nearest: usize,
    /// Its file.
    pub feature_nearest_label: String,
    /// The feature distance (DCR).
    pub feature_distance: f64,
    /// Most similar training image in pixel space.
    pub pixel_nearest: usize,
    /// Its file.
    pub pixel_nearest_label: String,
    /// Normalised correlation (or SSIM) with it.
    pub pixel_similarity: f64,
    /// Whether the synthetic image matched it mirrored.
    pub pixel_flipped: bool,
    /// Closer than the calibrated threshold in either space.
    pub flagged: bool,
}

/// Quantiles of a distance distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// 5th percentile.
    pub p05: f64,
    /// Median.
    pub median: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (all zero when empty).
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if sorted.is_empty() {
                0.0
            } else {
                sorted[((sorted.len() - 1) as f64 * q).round() as usize]
            }
        };
        Spread {
            min: at(0.0),
            p05: at(0.05),
            median: at(0.5),
            max: at(1.0),
        }
    }
}

/// The result of an audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    /// What was audited: a model id or the synthetic folder.
    pub subject: String,
    /// Training images.
    pub train_images: usize,
    /// Holdout images (`None`: calibrated on the training set itself).
    pub holdout_images: Option<usize>,
    /// Synthetic images.
    pub synthetic_images: usize,
    /// `holdout` or `train leave-one-out`.
    pub calibration: String,
    /// The margin of the thresholds.
    pub margin: f64,
    /// The pixel similarity: `ncc` (normalised correlation) or `ssim`.
    pub pixel_metric: String,
    /// Feature DCR below this is flagged.
    pub feature_threshold: f64,
    /// Pixel similarity above this is flagged.
    pub pixel_threshold: f64,
    /// Synthetic images' feature DCR.
    pub synthetic_dcr: Spread,
    /// Calibration images' feature DCR.
    pub calibration_dcr: Spread,
    /// Synthetic images' pixel similarity with their most similar training image.
    pub synthetic_pixel_similarity: Spread,
    /// Calibration images' pixel similarity with their most similar training image.
    pub calibration_pixel_similarity: Spread,
    /// Flagged synthetic images.
    pub flagged: usize,
    /// Every synthetic image, most similar in pixel space first.
    pub matches: Vec<AuditMatch>,
    /// Extractor, sizes, version.
    pub provenance: Provenance,
}

impl AuditReport {
    /// The `privacy_preservation` lines for the model's catalogue entry.
    pub fn catalog_privacy(&self) -> Value {
        json!({ "selection": { "privacy_preservation": {
            "memorisation_audit": {
                "flagged_copies": self.flagged,
                "synthetic_images": self.synthetic_images,
                "train_images": self.train_images,
                "holdout_images": self.holdout_images,
                "calibration": self.calibration,
                "dcr_median_synthetic": round(self.synthetic_dcr.median, 4),
                "dcr_median_holdout": round(self.calibration_dcr.median, 4),
                "dcr_ratio": round(self.synthetic_dcr.median / self.calibration_dcr.median, 4),
                "pixel_similarity_max": round(self.synthetic_pixel_similarity.max, 4),
                "pixel_metric": self.pixel_metric,
                "extractor": self.provenance.extractor,
                "extractor_sha256": self.provenance.extractor_sha256,
                "tool": self.provenance.tool,
            }
        }}})
    }
}

/// The sets of an audit.
#[derive(Debug, Clone, Copy)]
pub struct AuditSets<'a> {
    /// The synthetic images.
    pub synthetic: &'a ImageSet,
    /// The model's training images.
    pub train: &'a ImageSet,
    /// New real images from the same source, never trained on.
    pub holdout: Option<&'a ImageSet>,
}

/// Audits `sets.synthetic` against the training set (see the module documentation).
pub fn audit(
    subject: impl Into<String>,
    sets: AuditSets<'_>,
    source: &dyn ExtractorSource,
    options: &AuditOptions,
    progress: &dyn Progress,
) -> Result<AuditReport, EvaluateError> {
    check(&sets, options)?;
    let embed_set = |set: &ImageSet| embed(set, source, &options.evaluate, progress);
    let train_features = to_f64(embed_set(sets.train)?.view(), None, "the training features")?;
    let synthetic_features = embed_set(sets.synthetic)?;
    let feature_nearest = nearest_rows(
        to_f64(synthetic_features.view(), None, "the synthetic features")?.as_ref(),
        train_features.as_ref(),
    );
    let read = &options.evaluate.features.read;
    let train_pixels = pixel_vectors(&sets.train.images, options.pixel_size, read)?;
    let variants = options.variants();
    let pixel_nearest = most_similar(
        &sets.synthetic.images,
        &train_pixels,
        &variants,
        read,
        false,
    )?;
    let (calibration_dcr, calibration_pixels) = calibrate(
        &sets,
        source,
        options,
        &train_features,
        &train_pixels,
        progress,
    )?;
    let feature_threshold = options.margin * Spread::of(&calibration_dcr).min;
    let pixel_threshold = 1.0 - options.margin * (1.0 - Spread::of(&calibration_pixels).max);
    let mut matches: Vec<AuditMatch> = feature_nearest
        .iter()
        .zip(&pixel_nearest)
        .enumerate()
        .map(|(i, (&(f_index, f_distance), p))| AuditMatch {
            synthetic: i,
            synthetic_label: label(sets.synthetic, i),
            feature_nearest: f_index,
            feature_nearest_label: label(sets.train, f_index),
            feature_distance: f_distance,
            pixel_nearest: p.index,
            pixel_nearest_label: label(sets.train, p.index),
            pixel_similarity: p.similarity,
            pixel_flipped: p.flipped,
            flagged: f_distance < feature_threshold || p.similarity > pixel_threshold,
        })
        .collect();
    matches.sort_by(|a, b| b.pixel_similarity.total_cmp(&a.pixel_similarity));
    let synthetic_dcr: Vec<f64> = feature_nearest.iter().map(|m| m.1).collect();
    let synthetic_similarity: Vec<f64> = pixel_nearest.iter().map(|m| m.similarity).collect();
    let mut provenance = Provenance::new(source, &options.evaluate);
    provenance.real_images = sets.train.len();
    provenance.synthetic_images = sets.synthetic.len();
    provenance.metrics = vec!["audit"];
    Ok(AuditReport {
        subject: subject.into(),
        train_images: sets.train.len(),
        holdout_images: sets.holdout.map(ImageSet::len),
        synthetic_images: sets.synthetic.len(),
        calibration: if sets.holdout.is_some() {
            "holdout"
        } else {
            "train leave-one-out"
        }
        .into(),
        margin: options.margin,
        pixel_metric: options.pixel_metric.name().into(),
        feature_threshold,
        pixel_threshold,
        synthetic_dcr: Spread::of(&synthetic_dcr),
        calibration_dcr: Spread::of(&calibration_dcr),
        synthetic_pixel_similarity: Spread::of(&synthetic_similarity),
        calibration_pixel_similarity: Spread::of(&calibration_pixels),
        flagged: matches.iter().filter(|m| m.flagged).count(),
        matches,
        provenance,
    })
}

fn check(sets: &AuditSets<'_>, options: &AuditOptions) -> Result<(), EvaluateError> {
    options.check()?;
    let needed_train = if sets.holdout.is_some() { 1 } else { 2 };
    for (set, what, needed) in [
        (Some(sets.synthetic), "synthetic", 1),
        (Some(sets.train), "training", needed_train),
        (sets.holdout, "holdout", 1),
    ] {
        if let Some(set) = set.filter(|s| s.len() < needed) {
            return Err(EvaluateError::TooFewImages {
                what: format!("an audit's {what} set `{}`", set.label),
                needed,
                found: set.len(),
            });
        }
    }
    Ok(())
}

/// The calibration distances: the holdout's to the training set, or each training image's to
/// the other training images.
fn calibrate(
    sets: &AuditSets<'_>,
    source: &dyn ExtractorSource,
    options: &AuditOptions,
    train_features: &faer::Mat<f64>,
    train_pixels: &PixelSet,
    progress: &dyn Progress,
) -> Result<(Vec<f64>, Vec<f64>), EvaluateError> {
    let read: &ReadOptions = &options.evaluate.features.read;
    match sets.holdout {
        Some(holdout) => {
            let features: Array2<f32> = embed(holdout, source, &options.evaluate, progress)?;
            let features = to_f64(features.view(), None, "the holdout features")?;
            let dcr = nearest_rows(features.as_ref(), train_features.as_ref());
            let similar = most_similar(
                &holdout.images,
                train_pixels,
                &options.variants(),
                read,
                false,
            )?;
            Ok((
                dcr.iter().map(|m| m.1).collect(),
                similar.iter().map(|m: &PixelMatch| m.similarity).collect(),
            ))
        }
        None => {
            let dcr = super::pairwise::kth_neighbour_radii(train_features.as_ref(), 1);
            let similar = most_similar(
                &sets.train.images,
                train_pixels,
                &options.variants(),
                read,
                true,
            )?;
            Ok((dcr, similar.iter().map(|m| m.similarity).collect()))
        }
    }
}

/// The file of image `i` of a set, or `sample i` for images in memory.
fn label(set: &ImageSet, i: usize) -> String {
    match set.images.get(i) {
        Some(super::ImageSource::File(path)) => path.display().to_string(),
        Some(super::ImageSource::Slice { volume, index }) => {
            format!("{} slice {index}", volume.path().display())
        }
        _ => format!("sample {i}"),
    }
}
