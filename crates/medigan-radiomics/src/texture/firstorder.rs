//! pyradiomics `firstorder`: statistics of the voxel values inside the mask.
//!
//! Values are taken in C order (`[z, y, x]`, as numpy's boolean indexing does), as `float64`.
//! Sums follow numpy's pairwise summation ([`pairwise_sum`]) and percentiles numpy's `linear`
//! method, so that results equal pyradiomics' to the last bits in most cases. Entropy and
//! Uniformity use the discretised gray levels ([`super::discretize`]).

use super::Roi;
use super::discretize::discretize;
use crate::{Features, Settings};

/// The feature names, in pyradiomics' order (sorted by method name, `get<Name>FeatureValue`, so
/// `MeanAbsoluteDeviation` precedes `Mean`; the deprecated `StandardDeviation` is not enabled
/// by default).
pub const NAMES: [&str; 18] = [
    "10Percentile",
    "90Percentile",
    "Energy",
    "Entropy",
    "InterquartileRange",
    "Kurtosis",
    "Maximum",
    "MeanAbsoluteDeviation",
    "Mean",
    "Median",
    "Minimum",
    "Range",
    "RobustMeanAbsoluteDeviation",
    "RootMeanSquared",
    "Skewness",
    "TotalEnergy",
    "Uniformity",
    "Variance",
];

/// numpy's `add.reduce` over a contiguous `float64` array: pairwise summation with blocks of
/// 8 accumulators up to 128 values (`pairwise_sum_DOUBLE`).
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// [`pairwise_sum`] of `f(x)` over `a`, through a reused buffer.
fn sum_mapped(a: &[f64], buf: &mut Vec<f64>, f: impl Fn(f64) -> f64) -> f64 {
    buf.clear();
    buf.extend(a.iter().map(|&x| f(x)));
    pairwise_sum(buf)
}

/// numpy's `percentile(sorted, q)` with the default `linear` method, on sorted values (only
/// the positions `percentile_positions` names need to hold their order statistics).
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let (lo, hi, gamma) = percentile_positions(n, q);
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    // numpy's `_lerp`: from the nearer end.
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// The two sorted positions numpy's `linear` percentile `q` of `n > 0` values interpolates
/// between, and the weight of the upper one.
fn percentile_positions(n: usize, q: f64) -> (usize, usize, f64) {
    let quantile = q / 100.0;
    let virtual_index = (n as f64 - 1.0) * quantile;
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    let lo = (previous as usize).min(n - 1);
    (lo, (lo + 1).min(n - 1), gamma)
}

/// Puts the order statistics of `positions` in place (as a full sort would), leaving the rest
/// partly ordered: successive selections, each on the part after the previous position.
fn select_positions(values: &mut [f64], positions: &mut Vec<usize>) {
    positions.sort_unstable();
    positions.dedup();
    let mut start = 0;
    for &k in positions.iter() {
        if k < start || k >= values.len() {
            continue;
        }
        values[start..].select_nth_unstable_by(k - start, f64::total_cmp);
        start = k + 1;
    }
}

/// numpy's `median` of sorted values: the mean of the two middle ones (positions
/// `(n - 1) / 2` and `n / 2`).
fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = n / 2;
    let l = if n % 2 == 1 { h } else { h - 1 };
    (sorted[l] + sorted[h]) / 2.0
}

/// All first-order features of the region, in [`NAMES`] order. The image is binned with
/// `settings.bin_width` for Entropy and Uniformity; Energy, TotalEnergy and RootMeanSquared add
/// `settings.voxel_array_shift`; TotalEnergy multiplies by the voxel volume (`spacing`). An
/// empty region gives NaN for every feature (RootMeanSquared 0, as pyradiomics).
pub fn compute(roi: &Roi<'_>, settings: &Settings) -> Features {
    let values: Vec<f64> = roi
        .image
        .iter()
        .zip(roi.mask.iter())
        .filter_map(|(&v, &m)| m.then_some(v))
        .collect();
    let n = values.len();
    if n == 0 {
        return NAMES
            .iter()
            .map(|&name| {
                (
                    name,
                    if name == "RootMeanSquared" {
                        0.0
                    } else {
                        f64::NAN
                    },
                )
            })
            .collect();
    }
    let nf = n as f64;
    let mut buf = Vec::with_capacity(n);
    // The order statistics needed (extremes, percentiles, median), without a full sort.
    let mut sorted = values.clone();
    let mut positions = vec![0, n - 1, (n - 1) / 2, n / 2];
    for q in [10.0, 25.0, 75.0, 90.0] {
        let (lo, hi, _) = percentile_positions(n, q);
        positions.extend([lo, hi]);
    }
    select_positions(&mut sorted, &mut positions);
    let minimum = sorted[0];
    let maximum = sorted[n - 1];

    let p10 = percentile_sorted(&sorted, 10.0);
    let p90 = percentile_sorted(&sorted, 90.0);
    let iqr = percentile_sorted(&sorted, 75.0) - percentile_sorted(&sorted, 25.0);
    let median = median_sorted(&sorted);

    let shift = settings.voxel_array_shift;
    let energy = sum_mapped(&values, &mut buf, |x| {
        let s = x + shift;
        s * s
    });
    // SimpleITK's spacing has `dims` entries (a 2D image: x and y only).
    let voxel_volume: f64 = roi.spacing[..roi.dims.clamp(1, 3)].iter().product();
    let total_energy = energy * voxel_volume;
    let rms = (energy / nf).sqrt();

    let mean = pairwise_sum(&values) / nf;
    let mad = sum_mapped(&values, &mut buf, |x| (x - mean).abs()) / nf;
    // Variance as numpy's `nanstd(...) ** 2`.
    let m2 = sum_mapped(&values, &mut buf, |x| {
        let d = x - mean;
        d * d
    }) / nf;
    let std = m2.sqrt();
    let variance = std * std;
    let m3 = sum_mapped(&values, &mut buf, |x| (x - mean).powi(3)) / nf;
    let m4 = sum_mapped(&values, &mut buf, |x| (x - mean).powi(4)) / nf;
    // A flat region (m2 == 0): numpy divides by 1 (m3 and m4 are 0 there).
    let m2d = if m2 == 0.0 { 1.0 } else { m2 };
    let skewness = m3 / m2d.powf(1.5);
    let kurtosis = m4 / (m2d * m2d);

    // Robust MAD: the values in [p10, p90]; numpy's nanmean sums with zeros in place of the
    // values left out, so the pairwise grouping is kept.
    let inside = |x: f64| x - p10 >= 0.0 && x - p90 <= 0.0;
    let kept = values.iter().filter(|&&x| inside(x)).count() as f64;
    let robust_mean = sum_mapped(&values, &mut buf, |x| if inside(x) { x } else { 0.0 }) / kept;
    let robust_mad = sum_mapped(&values, &mut buf, |x| {
        if inside(x) {
            (x - robust_mean).abs()
        } else {
            0.0
        }
    }) / kept;

    // Entropy and Uniformity over the discretised levels (numpy.unique's counts, ascending).
    let binned = discretize(roi, settings.bin_width, roi.f32_precision);
    let mut counts = vec![0u64; binned.ng as usize + 1];
    for (&level, &m) in binned.levels.iter().zip(roi.mask.iter()) {
        if m {
            counts[level as usize] += 1;
        }
    }
    let p: Vec<f64> = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 / nf)
        .collect();
    let eps = f64::EPSILON;
    let entropy = -pairwise_sum(
        &p.iter()
            .map(|&pi| pi * (pi + eps).log2())
            .collect::<Vec<_>>(),
    );
    let uniformity = pairwise_sum(&p.iter().map(|&pi| pi * pi).collect::<Vec<_>>());

    let values = [
        p10,
        p90,
        energy,
        entropy,
        iqr,
        kurtosis,
        maximum,
        mad,
        mean,
        median,
        minimum,
        maximum - minimum,
        robust_mad,
        rms,
        skewness,
        total_energy,
        uniformity,
        variance,
    ];
    NAMES.iter().copied().zip(values).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_as_numpy() {
        // numpy.percentile([1, 2, 3, 4], [10, 25, 75, 90]) == [1.3, 1.75, 3.25, 3.7]
        let v = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<f64> = [10.0, 25.0, 75.0, 90.0]
            .iter()
            .map(|&q| percentile_sorted(&v, q))
            .collect();
        let want = [1.3, 1.75, 3.25, 3.7];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        assert_eq!(median_sorted(&v), 2.5);
        assert_eq!(median_sorted(&[5.0]), 5.0);
    }

    #[test]
    fn selected_order_statistics_equal_a_full_sort() {
        let mut state = 12345u64;
        for n in [1usize, 2, 3, 7, 10, 101, 1000] {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) % 50) as f64 // many ties
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let mut partial = values.clone();
            let mut positions = vec![0, n - 1, (n - 1) / 2, n / 2];
            for q in [10.0, 25.0, 75.0, 90.0] {
                let (lo, hi, _) = percentile_positions(n, q);
                positions.extend([lo, hi]);
            }
            select_positions(&mut partial, &mut positions.clone());
            for &k in &positions {
                assert_eq!(partial[k], sorted[k], "n {n} position {k}");
            }
        }
    }
}
