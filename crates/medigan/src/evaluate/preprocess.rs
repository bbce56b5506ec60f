//! Image preprocessing before feature extraction: 3 channels, optional min-max normalisation,
//! bilinear resize as PyTorch does it, and the extractor's value range and mean/std.
//!
//! Images arrive as `[C, H, W]` float32 in [0, 1]. The order of the steps follows pytorch-fid
//! (and the paper's `fid.py` for the normalisation): gray is repeated to 3 channels (alpha
//! dropped), then optionally stretched to [0, 1] by the image's own min and max (the paper's
//! "normalised images", Table 4), then resized with
//! `F.interpolate(mode="bilinear", align_corners=False)` semantics (no antialiasing), then
//! mapped to the extractor's range and mean/std.

use ndarray::{Array3, ArrayView3, Axis, s};

use super::extractor::InputNormalization;

/// Every step, for an image `[C, H, W]` in [0, 1] with C = 1, 3 or 4: returns `[3, size]`.
pub fn prepare(
    image: ArrayView3<'_, f32>,
    size: [usize; 2],
    normalization: &InputNormalization,
    min_max: bool,
) -> Array3<f32> {
    let mut rgb = three_channels(image);
    if min_max {
        min_max_normalize(&mut rgb);
    }
    let mut out = resize_bilinear(rgb.view(), size);
    apply_normalization(&mut out, normalization);
    out
}

/// Gray (1 channel) repeated to 3 channels; RGBA (4) without alpha; 3 channels unchanged.
/// Other channel counts keep their first channel, repeated.
pub fn three_channels(image: ArrayView3<'_, f32>) -> Array3<f32> {
    let channels = image.shape()[0];
    if channels >= 3 {
        return image.slice(s![0..3, .., ..]).to_owned();
    }
    let gray = image.index_axis(Axis(0), 0);
    ndarray::stack(Axis(0), &[gray, gray, gray]).unwrap_or_else(|_| image.to_owned())
}

/// Stretches an image to [0, 1] by its own minimum and maximum (over all channels); a constant
/// image becomes 0. As the paper's `cv2.normalize(NORM_MINMAX)` before FID.
pub fn min_max_normalize(image: &mut Array3<f32>) {
    let (lo, hi) = image
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi > lo {
        let scale = 1.0 / (hi - lo);
        image.mapv_inplace(|v| (v - lo) * scale);
    } else {
        image.fill(0.0);
    }
}

/// Bilinear resize of every channel to `[height, width]`, as PyTorch's
/// `F.interpolate(mode="bilinear", align_corners=False)` (antialias off): the source coordinate
/// of output pixel `i` is `(i + 0.5) * in / out - 0.5`, clamped at 0.
pub fn resize_bilinear(image: ArrayView3<'_, f32>, size: [usize; 2]) -> Array3<f32> {
    let (channels, in_h, in_w) = image.dim();
    let [out_h, out_w] = size;
    if (in_h, in_w) == (out_h, out_w) {
        return image.to_owned();
    }
    let rows = taps(in_h, out_h);
    let cols = taps(in_w, out_w);
    let mut out = Array3::<f32>::zeros((channels, out_h, out_w));
    for c in 0..channels {
        let plane = image.index_axis(Axis(0), c);
        let mut target = out.index_axis_mut(Axis(0), c);
        for (y, &(y0, y1, wy)) in rows.iter().enumerate() {
            for (x, &(x0, x1, wx)) in cols.iter().enumerate() {
                let top = (1.0 - wx) * plane[(y0, x0)] + wx * plane[(y0, x1)];
                let bottom = (1.0 - wx) * plane[(y1, x0)] + wx * plane[(y1, x1)];
                target[(y, x)] = (1.0 - wy) * top + wy * bottom;
            }
        }
    }
    out
}

/// For each output index: the two source indices and the weight of the second, as PyTorch's
/// `area_pixel_compute_source_index` (float32 arithmetic, like PyTorch on CPU).
fn taps(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|i| {
            let source = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (source as usize).min(input - 1);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            (i0, i1, source - i0 as f32)
        })
        .collect()
}

/// Maps a `[3, H, W]` image in [0, 1] to the extractor's range and mean/std.
pub fn apply_normalization(image: &mut Array3<f32>, normalization: &InputNormalization) {
    let [lo, hi] = normalization.range;
    let span = hi - lo;
    for (c, mut plane) in image.axis_iter_mut(Axis(0)).enumerate() {
        let (mean, inv_std) = match normalization.mean_std {
            Some((mean, std)) => (mean[c.min(2)], 1.0 / std[c.min(2)]),
            None => (0.0, 1.0),
        };
        plane.mapv_inplace(|v| ((v * span + lo) - mean) * inv_std);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_two_pixels_matches_pytorch() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4),
        // mode="bilinear", align_corners=False) == [0, 0.25, 0.75, 1]
        let image = Array3::from_shape_vec((1, 1, 2), vec![0.0, 1.0]).unwrap();
        let out = resize_bilinear(image.view(), [1, 4]);
        assert_eq!(
            out.iter().copied().collect::<Vec<_>>(),
            [0.0, 0.25, 0.75, 1.0]
        );
    }

    #[test]
    fn constant_image_normalises_to_zero() {
        let mut image = Array3::from_elem((3, 2, 2), 0.5f32);
        min_max_normalize(&mut image);
        assert!(image.iter().all(|&v| v == 0.0));
    }
}
