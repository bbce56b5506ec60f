//! The structural similarity index (SSIM) of two gray images, as scikit-image's
//! `structural_similarity(a, b, data_range=R)` computes it with its defaults: a 7 x 7 uniform
//! window (scipy's `uniform_filter`, borders mirrored half-sample), sample covariances
//! (`N / (N - 1)`), `K1 = 0.01`, `K2 = 0.03`, and the mean of the SSIM map with the 3 pixels at
//! each border left out. In f64 throughout.

use ndarray::{Array2, ArrayView2};

/// Side of the window.
pub const WINDOW: usize = 7;

const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// SSIM of `a` and `b` (same shape, at least 7 x 7) whose values span `data_range`; 1 for
/// equal images. `None` for smaller or different shapes.
pub fn ssim(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>, data_range: f64) -> Option<f64> {
    let (h, w) = a.dim();
    if b.dim() != (h, w) || h < WINDOW || w < WINDOW {
        return None;
    }
    let ux = uniform_filter(a);
    let uy = uniform_filter(b);
    let uxx = uniform_filter((&a * &a).view());
    let uyy = uniform_filter((&b * &b).view());
    let uxy = uniform_filter((&a * &b).view());
    let np = (WINDOW * WINDOW) as f64;
    let cov_norm = np / (np - 1.0);
    let c1 = (K1 * data_range).powi(2);
    let c2 = (K2 * data_range).powi(2);
    let pad = (WINDOW - 1) / 2;
    let mut sum = 0.0;
    for y in pad..h - pad {
        for x in pad..w - pad {
            let (mx, my) = (ux[(y, x)], uy[(y, x)]);
            let vx = cov_norm * (uxx[(y, x)] - mx * mx);
            let vy = cov_norm * (uyy[(y, x)] - my * my);
            let vxy = cov_norm * (uxy[(y, x)] - mx * my);
            let num = (2.0 * mx * my + c1) * (2.0 * vxy + c2);
            let den = (mx * mx + my * my + c1) * (vx + vy + c2);
            sum += num / den;
        }
    }
    Some(sum / ((h - 2 * pad) * (w - 2 * pad)) as f64)
}

/// The mean over a `WINDOW` x `WINDOW` window centred on each pixel, the image mirrored at its
/// borders (`d c b a | a b c d | d c b a`, scipy's `reflect`): rows, then columns.
fn uniform_filter(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let rows = filter_axis(x, true);
    filter_axis(rows.view(), false)
}

fn filter_axis(x: ArrayView2<'_, f64>, along_rows: bool) -> Array2<f64> {
    let (h, w) = x.dim();
    let n = if along_rows { w } else { h };
    let half = (WINDOW / 2) as i64;
    // Half-sample mirror: -1 -> 0, -2 -> 1, n -> n - 1, n + 1 -> n - 2 (n >= WINDOW / 2).
    let mirror = |i: i64| -> usize {
        let n = n as i64;
        let i = if i < 0 { -i - 1 } else { i };
        (if i >= n { 2 * n - i - 1 } else { i }) as usize
    };
    Array2::from_shape_fn((h, w), |(y, xx)| {
        let centre = if along_rows { xx } else { y } as i64;
        let total: f64 = (centre - half..=centre + half)
            .map(|i| {
                let j = mirror(i);
                if along_rows { x[(y, j)] } else { x[(j, xx)] }
            })
            .sum();
        total / WINDOW as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_with_itself_is_one_and_a_negative_is_far_below() {
        let a = Array2::from_shape_fn((12, 10), |(y, x)| ((y * 7 + x * 3) % 11) as f64 / 10.0);
        assert!((ssim(a.view(), a.view(), 1.0).unwrap() - 1.0).abs() < 1e-12);
        let negative = a.mapv(|v| 1.0 - v);
        assert!(ssim(a.view(), negative.view(), 1.0).unwrap() < 0.0);
        assert_eq!(ssim(a.view(), a.t(), 1.0), None);
    }

    #[test]
    fn the_mirror_repeats_the_border_pixel() {
        let x = Array2::from_shape_fn((1, 7), |(_, x)| x as f64);
        let rows = filter_axis(x.view(), true);
        // Window of pixel 0: 2 1 0 | 0 1 2 3.
        assert!((rows[(0, 0)] - 9.0 / 7.0).abs() < 1e-12);
        assert!((rows[(0, 3)] - 3.0).abs() < 1e-12);
    }
}
