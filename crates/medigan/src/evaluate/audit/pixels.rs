//! Pixel-space similarity: each image as gray, resized to a common `size x size`, centred and
//! scaled to unit norm, so the inner product of two images is their normalised correlation.
//! A synthetic image is compared with every training image in every variant a copy may have
//! been made with: mirrored or not, and shifted by up to `max_shift` pixels in each direction
//! (edge pixels repeated), the best variant counting. Products are computed for a block of
//! query images at a time, so memory is `|train| x size^2` f64 for the training vectors plus
//! `QUERY_BLOCK x variants x size^2` for the queries.

use faer::Mat;
use ndarray::{Array2, Axis};

use super::super::error::EvaluateError;
use super::super::images::{ImageSource, ReadOptions};
use super::super::pairwise::inner_products;
use super::super::preprocess::resize_bilinear;

/// Query images per block of products.
const QUERY_BLOCK: usize = 16;

/// The variants of a query image that are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// Side of the common size.
    pub size: usize,
    /// Largest shift tried, in pixels of the common size, in each direction.
    pub max_shift: usize,
    /// Also try the mirror image (horizontal flip).
    pub mirror: bool,
}

/// The closest training image in pixel space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelMatch {
    /// Index of the training image.
    pub index: usize,
    /// Normalised correlation in [-1, 1] (1: the same picture up to brightness and contrast).
    pub similarity: f64,
    /// Whether the query matched mirrored.
    pub flipped: bool,
    /// The shift `[dy, dx]` of the query that matched.
    pub shift: [i64; 2],
}

/// Unit-norm, zero-mean gray vectors of `images` at `size x size`, one row per image.
pub fn pixel_vectors(
    images: &[ImageSource],
    size: usize,
    read: &ReadOptions,
) -> Result<Mat<f64>, EvaluateError> {
    let mut out = Mat::<f64>::zeros(images.len(), size * size);
    for (i, image) in images.iter().enumerate() {
        let gray = gray_at(image, size, read)?;
        write_row(&mut out, i, &gray, false, [0, 0]);
    }
    Ok(out)
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

/// Writes `gray` (mirrored, then shifted by `shift`, edges repeated) as a unit-norm row.
fn write_row(out: &mut Mat<f64>, row: usize, gray: &Array2<f32>, flip: bool, shift: [i64; 2]) {
    let size = gray.nrows();
    let last = size as i64 - 1;
    let pixel = |y: usize, x: usize| {
        let sy = (y as i64 - shift[0]).clamp(0, last) as usize;
        let sx = (x as i64 - shift[1]).clamp(0, last) as usize;
        let sx = if flip { size - 1 - sx } else { sx };
        f64::from(gray[(sy, sx)])
    };
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

/// For each query image: the most similar row of `train` over every variant of the query.
/// With `skip_same`, query `i` is not matched with training row `i` (the training set
/// against itself).
pub fn most_similar(
    queries: &[ImageSource],
    train: faer::MatRef<'_, f64>,
    variants: &Variants,
    read: &ReadOptions,
    skip_same: bool,
) -> Result<Vec<PixelMatch>, EvaluateError> {
    let list = variant_list(variants);
    let size = variants.size;
    let mut found = Vec::with_capacity(queries.len());
    for (b, block) in queries.chunks(QUERY_BLOCK).enumerate() {
        let mut rows = Mat::<f64>::zeros(block.len() * list.len(), size * size);
        for (i, image) in block.iter().enumerate() {
            let gray = gray_at(image, size, read)?;
            for (v, &(flip, shift)) in list.iter().enumerate() {
                write_row(&mut rows, i * list.len() + v, &gray, flip, shift);
            }
        }
        let products = inner_products(rows.as_ref(), train);
        for i in 0..block.len() {
            let query = b * QUERY_BLOCK + i;
            let mut best = PixelMatch {
                index: 0,
                similarity: f64::NEG_INFINITY,
                flipped: false,
                shift: [0, 0],
            };
            for (v, &(flipped, shift)) in list.iter().enumerate() {
                for j in 0..train.nrows() {
                    let similarity = products[(i * list.len() + v, j)];
                    if !(skip_same && j == query) && similarity > best.similarity {
                        best = PixelMatch {
                            index: j,
                            similarity,
                            flipped,
                            shift,
                        };
                    }
                }
            }
            found.push(best);
        }
    }
    Ok(found)
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
        let variants = Variants {
            size: 16,
            max_shift: 2,
            mirror: true,
        };
        let copy = [blob(true, 0, 0.1)];
        let found = most_similar(&copy, train.as_ref(), &variants, &read, false).unwrap();
        assert_eq!(found[0].index, 0);
        assert!(found[0].flipped);
        assert!(found[0].similarity > 0.999, "{found:?}");
    }
}
