//! Gray-level discretisation with a fixed bin width, as pyradiomics' `getBinEdges` and
//! `binImage` do it, in the precision of the image array (pyradiomics computes the edges with
//! the array's own dtype: `float32` for images read as SimpleITK `Float32`).

use ndarray::Array3;

use super::Roi;

/// The discretised region: gray levels `1..=ng` inside the mask, 0 outside.
#[derive(Debug, Clone, PartialEq)]
pub struct Discretized {
    /// Gray level of each voxel, `[z, y, x]` as the region's image; 0 outside the mask.
    pub levels: Array3<u32>,
    /// The highest gray level in the region (pyradiomics' `Ng`).
    pub ng: u32,
    /// The bin edges used.
    pub edges: Vec<f64>,
}

/// pyradiomics' `getBinEdges` with `binWidth` over the region's values, computed in `f32` when
/// `f32_precision` (numpy's `arange` over `float32` scalars), else in `f64`.
pub fn bin_edges(values: &[f64], bin_width: f64, f32_precision: bool) -> Vec<f64> {
    let minimum = values.iter().copied().fold(f64::INFINITY, f64::min);
    let maximum = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let edges = if f32_precision {
        edges_f32(minimum as f32, maximum as f32, bin_width)
    } else {
        edges_f64(minimum, maximum, bin_width)
    };
    if edges.len() == 1 {
        // A flat region: one bin around the single edge, as pyradiomics makes it.
        return vec![edges[0] - 0.5, edges[0] + 0.5];
    }
    edges
}

/// Python's float `%`: the remainder with the sign of the divisor.
fn python_mod_f64(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m + b
    } else {
        m
    }
}

fn python_mod_f32(a: f32, b: f32) -> f32 {
    let m = a % b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m + b
    } else {
        m
    }
}

fn edges_f64(minimum: f64, maximum: f64, width: f64) -> Vec<f64> {
    let low = minimum - python_mod_f64(minimum, width);
    let high = maximum + 2.0 * width;
    let len = ((high - low) / width).ceil();
    arange_fill(low, low + width, len)
}

/// numpy's `arange(low, high, width)` over `float32` scalars and a Python float `width`: the
/// length and the second value are computed on the `float32` scalars (`(high - low) / width`,
/// `low + width`), the array itself is `float64`.
fn edges_f32(minimum: f32, maximum: f32, width: f64) -> Vec<f64> {
    let width32 = width as f32;
    let low = minimum - python_mod_f32(minimum, width32);
    let high = maximum + (2.0 * width) as f32;
    let len = ((high - low) / width32).ceil();
    arange_fill(f64::from(low), f64::from(low + width32), f64::from(len))
}

/// numpy's `arange` fill: `[start, second, start + i * (second - start), ...]`, `len` values
/// (a non-positive `len` gives none).
fn arange_fill(start: f64, second: f64, len: f64) -> Vec<f64> {
    if len.is_nan() || len < 1.0 {
        return Vec::new();
    }
    let len = len as usize;
    let delta = second - start;
    (0..len)
        .map(|i| match i {
            0 => start,
            1 => second,
            _ => start + i as f64 * delta,
        })
        .collect()
}

/// numpy's `digitize(x, edges)` for increasing edges: the number of edges `<= x`.
pub fn digitize(x: f64, edges: &[f64]) -> u32 {
    edges.partition_point(|&e| e <= x) as u32
}

/// [`digitize`] for (nearly) evenly spaced edges: a guess from the spacing, then corrected
/// against the edges themselves, so the result is exactly [`digitize`]'s.
fn digitize_evenly(x: f64, edges: &[f64]) -> u32 {
    let n = edges.len();
    if n < 2 {
        return digitize(x, edges);
    }
    let step = edges[1] - edges[0];
    let guess = ((x - edges[0]) / step).floor() + 1.0;
    let mut k = if guess.is_nan() || guess < 0.0 {
        0
    } else {
        (guess as usize).min(n)
    };
    while k < n && edges[k] <= x {
        k += 1;
    }
    while k > 0 && edges[k - 1] > x {
        k -= 1;
    }
    k as u32
}

/// pyradiomics' `binImage` over the region: edges from the values inside the mask, each of them
/// digitised; `f32_precision` as in [`bin_edges`]. An empty mask gives no levels (`ng == 0`).
/// A region that carries its binning ([`Roi::binned`]) gets a copy of it.
pub fn discretize(roi: &Roi<'_>, bin_width: f64, f32_precision: bool) -> Discretized {
    if let Some(binned) = roi.binned {
        return binned.clone();
    }
    let inside: Vec<f64> = roi
        .image
        .iter()
        .zip(roi.mask.iter())
        .filter_map(|(&v, &m)| m.then_some(v))
        .collect();
    let mut levels = Array3::<u32>::zeros(roi.image.raw_dim());
    if inside.is_empty() {
        return Discretized {
            levels,
            ng: 0,
            edges: Vec::new(),
        };
    }
    let edges = bin_edges(&inside, bin_width, f32_precision);
    let mut ng = 0;
    for ((level, &v), &m) in levels.iter_mut().zip(roi.image.iter()).zip(roi.mask.iter()) {
        if m {
            *level = digitize_evenly(v, &edges);
            ng = ng.max(*level);
        }
    }
    Discretized { levels, ng, edges }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_multiples_of_the_width_from_below_the_minimum() {
        // pyradiomics' documented example: values 54..166, bin width 25.
        let edges = bin_edges(&[54.0, 100.0, 166.0], 25.0, false);
        assert_eq!(edges, vec![50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0]);
        // Negative values: the lowest edge is the multiple at or below the minimum.
        assert_eq!(bin_edges(&[-7.0, 3.0], 5.0, true)[0], -10.0);
    }

    #[test]
    fn flat_region_gets_one_level() {
        // A flat region on an edge: two edges (max + 2 widths is excluded), one level.
        let edges = bin_edges(&[50.0, 50.0], 25.0, false);
        assert_eq!(edges, vec![50.0, 75.0]);
        assert_eq!(digitize(50.0, &edges), 1);
        // Off an edge, in float32: still one level.
        let edges = bin_edges(&[0.1, 0.1], 5.0, true);
        assert_eq!(edges, vec![0.0, 5.0, 10.0]);
        assert_eq!(digitize(f64::from(0.1f32), &edges), 1);
    }

    #[test]
    fn digitize_evenly_equals_digitize() {
        for (values, width, f32_precision) in [
            (vec![-3.3, 1234.567, 17.0], 5.0, true),
            (vec![0.1, 0.7, 3.3], 0.1, true),
            (vec![-1026.8, -1000.0], 1.0 / 3.0, false),
            (vec![42.0, 42.0], 25.0, false),
        ] {
            let edges = bin_edges(&values, width, f32_precision);
            let lo = edges[0] - 2.0 * width;
            let hi = edges[edges.len() - 1] + 2.0 * width;
            for i in 0..=4000 {
                let x = lo + (hi - lo) * f64::from(i) / 4000.0;
                for x in [x, f64::from(x as f32)] {
                    assert_eq!(digitize_evenly(x, &edges), digitize(x, &edges), "{x}");
                }
            }
            for &e in &edges {
                assert_eq!(digitize_evenly(e, &edges), digitize(e, &edges), "edge {e}");
            }
        }
    }

    #[test]
    fn digitize_counts_edges_at_or_below() {
        let edges = [0.0, 5.0, 10.0, 15.0];
        assert_eq!(digitize(0.0, &edges), 1);
        assert_eq!(digitize(4.999, &edges), 1);
        assert_eq!(digitize(5.0, &edges), 2);
        assert_eq!(digitize(14.0, &edges), 3);
    }
}
