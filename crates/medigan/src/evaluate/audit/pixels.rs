//! Pixel-space similarity: each image as gray, resized to a common `size x size`, centred and
//! scaled to unit norm, so the inner product of two images is their normalised correlation.
//! A synthetic image is compared with every training image in every variant a copy may have
//! been made with: mirrored or not, and shifted by up to `max_shift` pixels in each direction
//! (edge pixels repeated), the best variant counting. Products are computed for a block of
//! query images at a time, so memory is `|train| x size^2` f64 for the training vectors plus
//! `QUERY_BLOCK x variants x size^2` for the queries.
//!
//! With [`PixelMetric::Ssim`] the similarity reported is the structural similarity (`ssim`,
//! scikit-image's definition, data range 1 as images are read in [0, 1]) of the query's best
//! variant with each of the [`SSIM_CANDIDATES`] training images of highest correlation, the
//! highest of these counting: SSIM over every pair and variant would cost a window pass each,
//! where the correlation is one matrix product for all.

use std::str::FromStr;

use faer::Mat;
use ndarray::{Array2, Axis};

use super::super::error::EvaluateError;
use super::super::images::{ImageSource, ReadOptions};
use super::super::pairwise::inner_products;
use super::super::preprocess::resize_bilinear;
use super::ssim::ssim;

/// Query images per block of products.
const QUERY_BLOCK: usize = 16;

/// Training images (those of highest correlation) whose SSIM with a query is computed.
pub const SSIM_CANDIDATES: usize = 5;

/// How two images are compared in pixel space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelMetric {
    /// Normalised correlation (blind to brightness and contrast).
    #[default]
    Ncc,
    /// Structural similarity (SSIM, 7 x 7 windows), of the most correlated candidates.
    Ssim,
}

impl PixelMetric {
    /// The name on the command line and in reports: `ncc` or `ssim`.
    pub fn name(self) -> &'static str {
        match self {
            PixelMetric::Ncc => "ncc",
            PixelMetric::Ssim => "ssim",
        }
    }
}

impl FromStr for PixelMetric {
    type Err = EvaluateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ncc" | "correlation" => Ok(PixelMetric::Ncc),
            "ssim" => Ok(PixelMetric::Ssim),
            other => Err(EvaluateError::InvalidOption {
                option: "pixel metric".into(),
                value: other.into(),
                reason: "`ncc` (normalised correlation) or `ssim`".into(),
            }),
        }
    }
}

/// The variants of a query image that are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// Side of the common size.
    pub size: usize,
    /// Largest shift tried, in pixels of the common size, in each direction.
    pub max_shift: usize,
    /// Also try the mirror image (horizontal flip).
    pub mirror: bool,
    /// The similarity reported.
    pub metric: PixelMetric,
}

/// The closest training image in pixel space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelMatch {
    /// Index of the training image.
    pub index: usize,
    /// Normalised correlation in [-1, 1] (1: the same picture up to brightness and contrast),
    /// or SSIM (1: the same picture).
    pub similarity: f64,
    /// Whether the query matched mirrored.
    pub flipped: bool,
    /// The shift `[dy, dx]` of the query that matched.
    pub shift: [i64; 2],
}

/// A set of images in pixel space, at the common size.
#[derive(Debug, Clone)]
pub struct PixelSet {
    /// Unit-norm, zero-mean gray vectors, one row per image.
    pub unit: Mat<f64>,
    /// The gray images (for SSIM).
    pub gray: Vec<Array2<f32>>,
}

/// `images` as gray at `size x size`: unit vectors and the images themselves.
pub fn pixel_vectors(
    images: &[ImageSource],
    size: usize,
    read: &ReadOptions,
) -> Result<PixelSet, EvaluateError> {
    let mut unit = Mat::<f64>::zeros(images.len(), size * size);
    let mut grays = Vec::with_capacity(images.len());
    for (i, image) in images.iter().enumerate() {
        let gray = gray_at(image, size, read)?;
        write_row(&mut unit, i, &gray, false, [0, 0]);
        grays.push(gray);
    }
    Ok(PixelSet { unit, gray: grays })
}

/// The mean of the channels, resized to `size x size`.
fn gray_at(
    image: &ImageSource,
    size: usize,
    read: &ReadOptions,
) -> Result<Array2<f32>, EvaluateError> {
    let image = image.load(read)?;
    let gray = image
        .mean_axis(Axis(0))
        .unwrap_or_default()
        .insert_axis(Axis(0));
    Ok(resize_bilinear(gray.view(), [size, size]).index_axis_move(Axis(0), 0))
}

/// Pixel `(y, x)` of `gray` mirrored, then shifted by `shift` (edges repeated).
fn variant_pixel(gray: &Array2<f32>, flip: bool, shift: [i64; 2], y: usize, x: usize) -> f64 {
    let size = gray.nrows();
    let last = size as i64 - 1;
    let sy = (y as i64 - shift[0]).clamp(0, last) as usize;
    let sx = (x as i64 - shift[1]).clamp(0, last) as usize;
    let sx = if flip { size - 1 - sx } else { sx };
    f64::from(gray[(sy, sx)])
}

/// Writes `gray` (mirrored, then shifted by `shift`, edges repeated) as a unit-norm row.
fn write_row(out: &mut Mat<f64>, row: usize, gray: &Array2<f32>, flip: bool, shift: [i64; 2]) {
    let size = gray.nrows();
    let pixel = |y: usize, x: usize| variant_pixel(gray, flip, shift, y, x);
    let n = (size * size) as f64;
    let mut mean = 0.0;
    for y in 0..size {
        for x in 0..size {
            mean += pixel(y, x);
        }
    }
    mean /= n;
    let mut norm = 0.0;
    for y in 0..size {
        for x in 0..size {
            let v = pixel(y, x) - mean;
            out[(row, y * size + x)] = v;
            norm += v * v;
        }
    }
    let scale = if norm > 1e-24 { 1.0 / norm.sqrt() } else { 0.0 };
    for j in 0..size * size {
        out[(row, j)] *= scale;
    }
}

/// Every (mirror, shift) variant.
fn variant_list(variants: &Variants) -> Vec<(bool, [i64; 2])> {
    let s = variants.max_shift as i64;
    let flips: &[bool] = if variants.mirror {
        &[false, true]
    } else {
        &[false]
    };
    let mut list = Vec::new();
    for &flip in flips {
        for dy in -s..=s {
            for dx in -s..=s {
                list.push((flip, [dy, dx]));
            }
        }
    }
    list
}

/// For each query image: the most similar image of `train` over every variant of the query.
/// With `skip_same`, query `i` is not matched with training image `i` (the training set
/// against itself).
pub fn most_similar(
    queries: &[ImageSource],
    train: &PixelSet,
    variants: &Variants,
    read: &ReadOptions,
    skip_same: bool,
) -> Result<Vec<PixelMatch>, EvaluateError> {
    let list = variant_list(variants);
    let size = variants.size;
    let mut found = Vec::with_capacity(queries.len());
    for (b, block) in queries.chunks(QUERY_BLOCK).enumerate() {
        let mut rows = Mat::<f64>::zeros(block.len() * list.len(), size * size);
        let mut grays = Vec::with_capacity(block.len());
        for (i, image) in block.iter().enumerate() {
            let gray = gray_at(image, size, read)?;
            for (v, &(flip, shift)) in list.iter().enumerate() {
                write_row(&mut rows, i * list.len() + v, &gray, flip, shift);
            }
            grays.push(gray);
        }
        let products = inner_products(rows.as_ref(), train.unit.as_ref());
        for (i, gray) in grays.iter().enumerate() {
            let query = b * QUERY_BLOCK + i;
            // Each training image's best variant by correlation.
            let mut per_train: Vec<PixelMatch> = (0..train.unit.nrows())
                .filter(|&j| !(skip_same && j == query))
                .map(|j| {
                    let (v, similarity) = (0..list.len())
                        .map(|v| (v, products[(i * list.len() + v, j)]))
                        .fold((0, f64::NEG_INFINITY), |a, c| if c.1 > a.1 { c } else { a });
                    PixelMatch {
                        index: j,
                        similarity,
                        flipped: list[v].0,
                        shift: list[v].1,
                    }
                })
                .collect();
            per_train.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
            let best = match variants.metric {
                PixelMetric::Ncc => per_train.first().copied(),
                PixelMetric::Ssim => per_train
                    .iter()
                    .take(SSIM_CANDIDATES)
                    .map(|m| PixelMatch {
                        similarity: variant_ssim(gray, &train.gray[m.index], m.flipped, m.shift),
                        ..*m
                    })
                    .max_by(|a, b| a.similarity.total_cmp(&b.similarity)),
            };
            found.push(best.unwrap_or(PixelMatch {
                index: 0,
                similarity: f64::NEG_INFINITY,
                flipped: false,
                shift: [0, 0],
            }));
        }
    }
    Ok(found)
}

/// SSIM of the variant `(flip, shift)` of `query` with `train` (gray in [0, 1]).
fn variant_ssim(query: &Array2<f32>, train: &Array2<f32>, flip: bool, shift: [i64; 2]) -> f64 {
    let variant = Array2::from_shape_fn(query.dim(), |(y, x)| {
        variant_pixel(query, flip, shift, y, x)
    });
    let train = train.mapv(f64::from);
    ssim(variant.view(), train.view(), 1.0).unwrap_or(f64::NEG_INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use std::sync::Arc;

    fn blob(flip: bool, shift: i64, offset: f32) -> ImageSource {
        let image = Array3::from_shape_fn((1, 16, 16), |(_, y, x)| {
            let x = if flip { 15 - x as i64 } else { x as i64 } - shift;
            let (dy, dx) = (y as f32 - 6.0, x as f32 - 4.0);
            (-(dy * dy + 2.0 * dx * dx) / 8.0).exp() * 0.8 + offset
        });
        ImageSource::Array(Arc::new(image))
    }

    #[test]
    fn a_mirrored_shifted_copy_with_other_brightness_is_found() {
        let read = ReadOptions::default();
        let train = pixel_vectors(&[blob(false, 0, 0.0), blob(false, 6, 0.0)], 16, &read).unwrap();
        let mut variants = Variants {
            size: 16,
            max_shift: 2,
            mirror: true,
            metric: PixelMetric::Ncc,
        };
        let copy = [blob(true, 0, 0.1)];
        let found = most_similar(&copy, &train, &variants, &read, false).unwrap();
        assert_eq!(found[0].index, 0);
        assert!(found[0].flipped);
        assert!(found[0].similarity > 0.999, "{found:?}");

        // SSIM: 1 for the mirrored copy itself, below 1 once the brightness differs.
        variants.metric = PixelMetric::Ssim;
        let exact = most_similar(&[blob(true, 0, 0.0)], &train, &variants, &read, false).unwrap();
        assert_eq!((exact[0].index, exact[0].flipped), (0, true));
        assert!((exact[0].similarity - 1.0).abs() < 1e-12, "{exact:?}");
        let brighter = most_similar(&copy, &train, &variants, &read, false).unwrap();
        assert!(brighter[0].similarity < 0.99, "{brighter:?}");
    }

    #[test]
    fn pixel_metrics_are_named() {
        assert_eq!("SSIM".parse::<PixelMetric>().unwrap(), PixelMetric::Ssim);
        assert_eq!("ncc".parse::<PixelMetric>().unwrap().name(), "ncc");
        assert!("psnr".parse::<PixelMetric>().is_err());
    }
}
