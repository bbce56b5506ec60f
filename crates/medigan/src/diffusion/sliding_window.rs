//! Sliding-window decoding of a latent, as MONAI's `SlidingWindowInferer` /
//! `sliding_window_inference` does it (its non-buffered path, `sw_batch_size` any): windows of
//! `roi` latent voxels every `int(roi * (1 - overlap))` voxels (the last one flush with the end),
//! each decoded, weighted by an importance map (`gaussian`: a separable Gaussian of sigma
//! `sigma_scale * roi`, clamped below at max(its minimum, 1e-3); `constant`: ones) resized to
//! the decoded window by nearest-exact interpolation, summed into the output and divided by the
//! summed weights. The decoded window is `zoom` times the latent window on each axis (the
//! declared image over the latent), as MONAI infers it from the predictor's output.

use crate::catalog::{BlendMode, SlidingWindowSpec};
use crate::generate::GenerateError;

/// The windows over a latent's spatial axes, and the decoded window's size.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    /// The latent's spatial size.
    pub latent: Vec<usize>,
    /// The window's size in latent voxels.
    pub roi: Vec<usize>,
    /// The decoded image's spatial size.
    pub image: Vec<usize>,
    /// The decoded window's spatial size.
    pub window: Vec<usize>,
    /// The start of every window on each axis.
    pub starts: Vec<Vec<usize>>,
}

impl WindowPlan {
    /// The plan for a latent of spatial size `latent` decoded to `image`; `None` when a
    /// window is larger than the latent, an axis count differs, or the image is not a whole
    /// multiple of the latent on some axis.
    pub fn new(latent: &[usize], image: &[usize], spec: &SlidingWindowSpec) -> Option<Self> {
        let roi = &spec.roi;
        if roi.len() != latent.len() || image.len() != latent.len() {
            return None;
        }
        let mut window = Vec::new();
        let mut starts = Vec::new();
        for axis in 0..latent.len() {
            let (n, r, out) = (latent[axis], roi[axis], image[axis]);
            if r == 0 || r > n || out % n != 0 {
                return None;
            }
            window.push(r * (out / n));
            let interval = if r == n {
                r
            } else {
                ((r as f64 * (1.0 - spec.overlap)) as usize).max(1)
            };
            let count = (0..n.div_ceil(interval))
                .find(|d| d * interval + r >= n)
                .map_or(1, |d| d + 1);
            starts.push(
                (0..count)
                    .map(|i| (i * interval).min(n - r))
                    .collect::<Vec<_>>(),
            );
        }
        Some(WindowPlan {
            latent: latent.to_vec(),
            roi: roi.clone(),
            image: image.to_vec(),
            window,
            starts,
        })
    }

    /// Every window's start, the last axis fastest (MONAI's order).
    pub fn windows(&self) -> Vec<Vec<usize>> {
        let mut all = vec![Vec::new()];
        for axis in &self.starts {
            all = all
                .into_iter()
                .flat_map(|prefix| {
                    axis.iter().map(move |&s| {
                        let mut p = prefix.clone();
                        p.push(s);
                        p
                    })
                })
                .collect();
        }
        all
    }
}

/// MONAI's `compute_importance_map` for a window of `roi`, resized to `window` (nearest-exact).
pub fn importance_map(roi: &[usize], window: &[usize], spec: &SlidingWindowSpec) -> Vec<f32> {
    let axes: Vec<Vec<f32>> = roi
        .iter()
        .map(|&p| match spec.mode {
            BlendMode::Constant => vec![1.0; p],
            BlendMode::Gaussian => {
                let sigma = p as f64 * spec.sigma_scale;
                let denominator = (-2.0 * sigma * sigma) as f32;
                let first = -((p as f32 - 1.0) / 2.0);
                (0..p)
                    .map(|i| {
                        let x = first + i as f32;
                        (x * x / denominator).exp()
                    })
                    .collect()
            }
        })
        .collect();
    let map_roi = outer(&axes);
    let least = map_roi.iter().copied().fold(f32::INFINITY, f32::min);
    let floor = least.max(1e-3);
    let map_roi: Vec<f32> = map_roi.into_iter().map(|v| v.max(floor)).collect();
    resize_nearest_exact(&map_roi, roi, window)
}

/// The outer product of per-axis factors, the last axis fastest.
fn outer(axes: &[Vec<f32>]) -> Vec<f32> {
    let mut map = vec![1.0f32];
    for (i, axis) in axes.iter().enumerate() {
        map = if i == 0 {
            axis.clone()
        } else {
            map.iter()
                .flat_map(|&m| axis.iter().map(move |&x| m * x))
                .collect()
        };
    }
    map
}

/// torch's `F.interpolate(mode="nearest-exact")` of a row-major array.
fn resize_nearest_exact(values: &[f32], from: &[usize], to: &[usize]) -> Vec<f32> {
    let source: Vec<Vec<usize>> = from
        .iter()
        .zip(to)
        .map(|(&n, &m)| {
            let scale = n as f32 / m as f32;
            (0..m)
                .map(|o| (((o as f32 + 0.5) * scale) as usize).min(n - 1))
                .collect()
        })
        .collect();
    let strides = strides(from);
    let total: usize = to.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; to.len()];
    for _ in 0..total {
        let offset: usize = index
            .iter()
            .enumerate()
            .map(|(a, &i)| source[a][i] * strides[a])
            .sum();
        out.push(values[offset]);
        increment(&mut index, to);
    }
    out
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    strides
}

/// The next row-major index within `shape` (wrapping to zeros after the last).
fn increment(index: &mut [usize], shape: &[usize]) {
    for a in (0..shape.len()).rev() {
        index[a] += 1;
        if index[a] < shape[a] {
            return;
        }
        index[a] = 0;
    }
}

/// Decodes `latents` (`batch` x `channels` x the plan's latent, row-major) window by window:
/// `decode` gets the batch's windows `[batch, channels, *roi]` and gives
/// `[batch, out_channels, *window]`. Returns `[batch, out_channels, *image]`.
pub fn decode(
    latents: &[f32],
    batch: usize,
    channels: usize,
    out_channels: usize,
    plan: &WindowPlan,
    spec: &SlidingWindowSpec,
    decode: &mut dyn FnMut(Vec<f32>) -> Result<Vec<f32>, GenerateError>,
) -> Result<Vec<f32>, GenerateError> {
    let latent_len: usize = plan.latent.iter().product();
    let roi_len: usize = plan.roi.iter().product();
    let window_len: usize = plan.window.iter().product();
    let image_len: usize = plan.image.iter().product();
    let weights = importance_map(&plan.roi, &plan.window, spec);
    let zoom: Vec<usize> = plan
        .window
        .iter()
        .zip(&plan.roi)
        .map(|(w, r)| w / r)
        .collect();
    let latent_strides = strides(&plan.latent);
    let image_strides = strides(&plan.image);
    let mut output = vec![0f32; batch * out_channels * image_len];
    let mut count = vec![0f32; image_len];
    for start in plan.windows() {
        let mut input = Vec::with_capacity(batch * channels * roi_len);
        let base: usize = start.iter().zip(&latent_strides).map(|(s, t)| s * t).sum();
        let mut index = vec![0usize; plan.roi.len()];
        let offsets: Vec<usize> = (0..roi_len)
            .map(|_| {
                let o = base
                    + index
                        .iter()
                        .zip(&latent_strides)
                        .map(|(i, t)| i * t)
                        .sum::<usize>();
                increment(&mut index, &plan.roi);
                o
            })
            .collect();
        for plane in 0..batch * channels {
            let latent = &latents[plane * latent_len..][..latent_len];
            input.extend(offsets.iter().map(|&o| latent[o]));
        }
        let decoded = decode(input)?;
        if decoded.len() != batch * out_channels * window_len {
            return Err(GenerateError::Worker(format!(
                "the decoder gave {} values for a window, expected {}",
                decoded.len(),
                batch * out_channels * window_len
            )));
        }
        let out_base: usize = start
            .iter()
            .zip(&zoom)
            .zip(&image_strides)
            .map(|((s, z), t)| s * z * t)
            .sum();
        let mut index = vec![0usize; plan.window.len()];
        let targets: Vec<usize> = (0..window_len)
            .map(|_| {
                let o = out_base
                    + index
                        .iter()
                        .zip(&image_strides)
                        .map(|(i, t)| i * t)
                        .sum::<usize>();
                increment(&mut index, &plan.window);
                o
            })
            .collect();
        for (&t, &w) in targets.iter().zip(&weights) {
            count[t] += w;
        }
        for plane in 0..batch * out_channels {
            let window = &decoded[plane * window_len..][..window_len];
            let out = &mut output[plane * image_len..][..image_len];
            for ((&t, &w), &v) in targets.iter().zip(&weights).zip(window) {
                out[t] += v * w;
            }
        }
    }
    for plane in output.chunks_mut(image_len) {
        for (v, &c) in plane.iter_mut().zip(&count) {
            *v /= c;
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(roi: Vec<usize>, overlap: f64, mode: BlendMode) -> SlidingWindowSpec {
        SlidingWindowSpec {
            roi,
            overlap,
            mode,
            sigma_scale: 0.125,
        }
    }

    #[test]
    fn windows_start_like_monai_dense_patch_slices() {
        // MONAI: dense_patch_slices((10,), (4,), (3,)) starts at 0, 3, 6 (the last flush).
        let plan = WindowPlan::new(&[10], &[40], &spec(vec![4], 0.25, BlendMode::Gaussian));
        let plan = plan.unwrap();
        assert_eq!(plan.starts, vec![vec![0, 3, 6]]);
        assert_eq!(plan.window, vec![16]);
        let plan = WindowPlan::new(
            &[5, 4],
            &[5, 4],
            &spec(vec![4, 4], 0.5, BlendMode::Constant),
        );
        assert_eq!(plan.unwrap().starts, vec![vec![0, 1], vec![0]]);
        assert!(WindowPlan::new(&[3], &[6], &spec(vec![4], 0.25, BlendMode::Constant)).is_none());
    }

    #[test]
    fn a_decoder_that_copies_gives_the_latent_back_whatever_the_blending() {
        let latent: Vec<f32> = (0..2 * 7 * 5).map(|v| v as f32 * 0.1).collect();
        for mode in [BlendMode::Gaussian, BlendMode::Constant] {
            let spec = spec(vec![4, 3], 0.4, mode);
            let plan = WindowPlan::new(&[7, 5], &[7, 5], &spec).unwrap();
            let got = decode(&latent, 2, 1, 1, &plan, &spec, &mut |w| Ok(w)).unwrap();
            for (g, w) in got.iter().zip(&latent) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
    }

    #[test]
    fn the_gaussian_map_peaks_at_the_centre_and_is_floored() {
        let spec = spec(vec![5], 0.25, BlendMode::Gaussian);
        let map = importance_map(&[5], &[10], &spec);
        assert_eq!(map.len(), 10);
        assert_eq!(map[4], 1.0);
        assert_eq!(map[5], 1.0);
        assert!(map[0] < map[2] && map[0] >= 1e-3);
    }
}
