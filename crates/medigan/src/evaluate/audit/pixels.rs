//! Pixel-space similarity: each image as gray, resized to a common `size x size`, centred and
//! scaled to unit norm, so the inner product of two images is their normalised correlation.
//! A synthetic image is compared with every training image and with its own mirror image
//! (a horizontally flipped copy is still a copy). Products are computed in blocks of rows, so
//! memory is `|train| x size^2` f64 for the training vectors plus one block.

use faer::Mat;
use ndarray::{Array3, Axis};

use super::super::error::EvaluateError;
use super::super::images::{ImageSource, ReadOptions};
use super::super::pairwise::{BLOCK_ROWS, inner_products};
use super::super::preprocess::resize_bilinear;

/// The closest training image in pixel space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelMatch {
    /// Index of the training image.
    pub index: usize,
    /// Normalised correlation in [-1, 1] (1: the same picture up to brightness and contrast).
    pub similarity: f64,
    /// Whether the synthetic image matched mirrored.
    pub flipped: bool,
}

/// Unit-norm, zero-mean gray vectors of `images` at `size x size` (and of their mirror images
/// when `mirrored`), one row per image.
pub fn pixel_vectors(
    images: &[ImageSource],
    size: usize,
    mirrored: bool,
    read: &ReadOptions,
) -> Result<Mat<f64>, EvaluateError> {
    let rows = images.len() * if mirrored { 2 } else { 1 };
    let mut out = Mat::<f64>::zeros(rows, size * size);
    for (i, image) in images.iter().enumerate() {
        let gray = gray_at(&image.load(read)?, size);
        write_row(&mut out, i, &gray, size, false);
        if mirrored {
            write_row(&mut out, images.len() + i, &gray, size, true);
        }
    }
    Ok(out)
}

/// The mean of the channels, resized to `size x size`.
fn gray_at(image: &Array3<f32>, size: usize) -> Array3<f32> {
    let gray = image
        .mean_axis(Axis(0))
        .unwrap_or_default()
        .insert_axis(Axis(0));
    resize_bilinear(gray.view(), [size, size])
}

fn write_row(out: &mut Mat<f64>, row: usize, gray: &Array3<f32>, size: usize, flip: bool) {
    let n = (size * size) as f64;
    let mean = gray.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let norm = gray
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        .sqrt();
    let scale = if norm > 1e-12 { 1.0 / norm } else { 0.0 };
    for y in 0..size {
        for x in 0..size {
            let source_x = if flip { size - 1 - x } else { x };
            out[(row, y * size + x)] = (f64::from(gray[(0, y, source_x)]) - mean) * scale;
        }
    }
}

/// For each of the `queries` (rows `0..n` as they are, rows `n..2n` their mirror images, from
/// [`pixel_vectors`] with `mirrored`): the most similar row of `train`. With `skip_same`, row
/// `i` is not matched with training row `i` (the training set against itself).
pub fn most_similar(
    queries: faer::MatRef<'_, f64>,
    train: faer::MatRef<'_, f64>,
    skip_same: bool,
) -> Vec<PixelMatch> {
    let n = queries.nrows() / 2;
    let mut best = vec![
        PixelMatch {
            index: 0,
            similarity: f64::NEG_INFINITY,
            flipped: false,
        };
        n
    ];
    let mut start = 0;
    while start < queries.nrows() {
        let rows = BLOCK_ROWS.min(queries.nrows() - start);
        let products = inner_products(queries.subrows(start, rows), train);
        for i in 0..rows {
            let (query, flipped) = ((start + i) % n, start + i >= n);
            for j in 0..train.nrows() {
                if skip_same && j == query {
                    continue;
                }
                let similarity = products[(i, j)];
                if similarity > best[query].similarity {
                    best[query] = PixelMatch {
                        index: j,
                        similarity,
                        flipped,
                    };
                }
            }
        }
        start += rows;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ramp(flip: bool, offset: f32) -> ImageSource {
        let image = Array3::from_shape_fn((1, 8, 8), |(_, y, x)| {
            let x = if flip { 7 - x } else { x };
            (x as f32 * 0.1 + (y % 3) as f32 * 0.05 + offset).min(1.0)
        });
        ImageSource::Array(Arc::new(image))
    }

    #[test]
    fn a_mirrored_copy_with_other_brightness_matches_fully() {
        let read = ReadOptions::default();
        let train = pixel_vectors(&[ramp(false, 0.0)], 8, false, &read).unwrap();
        let queries = pixel_vectors(&[ramp(true, 0.1)], 8, true, &read).unwrap();
        let found = most_similar(queries.as_ref(), train.as_ref(), false);
        assert_eq!(found[0].index, 0);
        assert!(found[0].flipped);
        assert!((found[0].similarity - 1.0).abs() < 1e-9, "{found:?}");
    }
}
