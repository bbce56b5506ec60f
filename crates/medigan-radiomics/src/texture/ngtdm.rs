//! pyradiomics `ngtdm`: the neighbouring gray tone difference matrix and its 5 features.
//!
//! As pyradiomics (`cmatrices.c` and `ngtdm.py`): for each voxel in the mask, the absolute
//! difference between its gray level and the mean level of its neighbours inside the mask (all
//! offsets of [`super::glcm::angles`] in both directions: 26 in 3D, 8 in a plane), summed per
//! gray level; a voxel without neighbours adds 0. Gray levels absent from the region are
//! dropped.

use super::Roi;
use super::glcm::{angles, flat_levels, for_each_pair};
use crate::{Features, Settings};

/// The feature names, in pyradiomics' order.
pub const NAMES: [&str; 5] = [
    "Busyness",
    "Coarseness",
    "Complexity",
    "Contrast",
    "Strength",
];

/// All NGTDM features of the region, in [`NAMES`] order (`settings`: `binWidth`, `distances`,
/// `force2D`, `force2Ddimension`). An empty region gives NaN.
pub fn compute(roi: &Roi<'_>, settings: &Settings) -> Features {
    let (levels, shape, ng) = flat_levels(roi, settings);
    if ng == 0 {
        return NAMES.iter().map(|&n| (n, f64::NAN)).collect();
    }
    let (z, y, x) = roi.image.dim();
    let sizes = if roi.dims == 2 {
        vec![y, x]
    } else {
        vec![z, y, x]
    };
    let excluded = settings.force_2d.then_some(settings.force_2d_dimension);
    // Sum and count of the neighbours' levels of each voxel (integers: exact in any order).
    let mut sum = vec![0u64; levels.len()];
    let mut count = vec![0u32; levels.len()];
    for offset in angles(&sizes, &settings.distances, excluded, true) {
        for_each_pair(shape, offset, |i, j| {
            if levels[i] > 0 && levels[j] > 0 {
                sum[i] += u64::from(levels[j]);
                count[i] += 1;
            }
        });
    }
    // Per gray level: voxel count and summed absolute differences, in C order as pyradiomics.
    let mut n = vec![0.0f64; ng as usize];
    let mut s = vec![0.0f64; ng as usize];
    for (v, &level) in levels.iter().enumerate() {
        if level == 0 {
            continue;
        }
        let diff = if count[v] == 0 {
            0.0
        } else {
            (f64::from(level) - sum[v] as f64 / f64::from(count[v])).abs()
        };
        n[level as usize - 1] += 1.0;
        s[level as usize - 1] += diff;
    }
    let mut p = Vec::new();
    let mut si = Vec::new();
    let mut gi = Vec::new();
    let nvp: f64 = n.iter().sum();
    for (k, (&nk, &sk)) in n.iter().zip(&s).enumerate() {
        if nk > 0.0 {
            p.push(nk / nvp);
            si.push(sk);
            gi.push((k + 1) as f64);
        }
    }
    let ngp = p.len() as f64;
    let sum_s: f64 = si.iter().sum();
    let sum_ps: f64 = p.iter().zip(&si).map(|(a, b)| a * b).sum();

    let coarseness = if sum_ps != 0.0 { 1.0 / sum_ps } else { 1e6 };
    let (mut contrast, mut absdiff, mut complexity, mut strength) = (0.0, 0.0, 0.0, 0.0);
    for a in 0..p.len() {
        for b in 0..p.len() {
            let d = gi[a] - gi[b];
            contrast += p[a] * p[b] * d * d;
            absdiff += (gi[a] * p[a] - gi[b] * p[b]).abs();
            let divisor = p[a] + p[b];
            let divisor = if divisor == 0.0 { 1.0 } else { divisor };
            complexity += d.abs() * (p[a] * si[a] + p[b] * si[b]) / divisor;
            strength += (p[a] + p[b]) * d * d;
        }
    }
    let div = ngp * (ngp - 1.0);
    let contrast = if div != 0.0 {
        contrast * sum_s / nvp / div
    } else {
        0.0
    };
    let busyness = if absdiff != 0.0 {
        sum_ps / absdiff
    } else {
        0.0
    };
    let complexity = complexity / nvp;
    let strength = if sum_s != 0.0 { strength / sum_s } else { 0.0 };
    NAMES
        .iter()
        .copied()
        .zip([busyness, coarseness, complexity, contrast, strength])
        .collect()
}
