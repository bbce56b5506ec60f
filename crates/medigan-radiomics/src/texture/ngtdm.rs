//! pyradiomics `ngtdm`: the neighbouring gray tone difference matrix and its 5 features.
//!
//! As pyradiomics (`cmatrices.c` and `ngtdm.py`): for each voxel in the mask, the absolute
//! difference between its gray level and the mean level of its neighbours inside the mask (all
//! offsets of [`super::glcm::angles`] in both directions: 26 in 3D, 8 in a plane), summed per
//! gray level in C order; a voxel without neighbours adds 0. Gray levels absent from the region
//! are dropped. The neighbours' sums and counts are integers, computed with box sums.

use super::Roi;
use super::glcm::flat_levels;
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
    // The neighbourhood of pyradiomics' angles: for each distance d, the offsets whose largest
    // component is d (within the array; none along the force2D axis), i.e. the box of radius d
    // less the box of radius d - 1. Sums over it come from separable box sums (integers: exact
    // in any order), instead of one pass per offset.
    let excluded = settings.force_2d.then_some(if roi.dims == 2 {
        settings.force_2d_dimension + 1
    } else {
        settings.force_2d_dimension
    });
    let mut distances: Vec<usize> = settings.distances.clone();
    distances.sort_unstable();
    distances.dedup();
    if distances.first() == Some(&0) {
        // pyradiomics generates no angles for a distance below 1: no neighbours.
        distances.clear();
    }
    // Sum over the shells of `distances` = sum of +box(d) and -box(d - 1), with the boxes that
    // cancel (contiguous distances) left out: usually box(max) - box(0), box(0) the voxel.
    let mut terms: Vec<(i64, usize)> = Vec::new();
    for &d in &distances {
        for (sign, r) in [(1i64, d), (-1, d - 1)] {
            match terms.iter_mut().find(|(_, radius)| *radius == r) {
                Some(term) => term.0 += sign,
                None => terms.push((sign, r)),
            }
        }
    }
    terms.retain(|&(coefficient, _)| coefficient != 0);
    let radius = |d: usize| -> [usize; 3] {
        let mut r = [d; 3];
        if roi.dims == 2 {
            r[0] = 0;
        }
        if let Some(e) = excluded.filter(|&e| e < 3) {
            r[e] = 0;
        }
        r
    };
    let mut sum: Vec<u64> = levels.iter().map(|&l| u64::from(l)).collect();
    let mut count: Vec<u64> = levels.iter().map(|&l| u64::from(l > 0)).collect();
    let mut scratch = Vec::new();
    // The usual case, one box less the voxel itself: boxed in place, the voxel taken off below.
    let subtract_center = match terms[..] {
        [(1, r), (-1, 0)] | [(-1, 0), (1, r)] => {
            box_sum(&mut sum, shape, radius(r), &mut scratch);
            box_sum(&mut count, shape, radius(r), &mut scratch);
            true
        }
        _ => {
            let mut total_sum = vec![0i64; levels.len()];
            let mut total_count = vec![0i64; levels.len()];
            for &(coefficient, r) in &terms {
                for (source, target) in [(&sum, &mut total_sum), (&count, &mut total_count)] {
                    let mut boxed = source.clone();
                    box_sum(&mut boxed, shape, radius(r), &mut scratch);
                    for (t, &v) in target.iter_mut().zip(&boxed) {
                        *t += coefficient * v as i64;
                    }
                }
            }
            sum = total_sum.iter().map(|&v| v.max(0) as u64).collect();
            count = total_count.iter().map(|&v| v.max(0) as u64).collect();
            false
        }
    };
    // Per gray level: voxel count and summed absolute differences, in C order as pyradiomics.
    let mut n = vec![0.0f64; ng as usize];
    let mut s = vec![0.0f64; ng as usize];
    for (v, &level) in levels.iter().enumerate() {
        if level == 0 {
            continue;
        }
        let (neighbours_sum, neighbours) = if subtract_center {
            (sum[v] - u64::from(level), count[v] - 1)
        } else {
            (sum[v], count[v])
        };
        let diff = if neighbours == 0 {
            0.0
        } else {
            (f64::from(level) - neighbours_sum as f64 / neighbours as f64).abs()
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

/// Replaces each value of `data` (`[z, y, x]`, C order) by the sum over the box of `radius`
/// voxels around it, clipped at the array's borders: one running-sum pass per axis, in place,
/// over whole contiguous rows or planes at a time (`prefix` is scratch).
fn box_sum(data: &mut [u64], shape: [usize; 3], radius: [usize; 3], prefix: &mut Vec<u64>) {
    for axis in 0..3 {
        let r = radius[axis];
        let n = shape[axis];
        if r == 0 || n < 2 {
            continue;
        }
        // Each block holds `n` consecutive slices of `inner` contiguous values along the axis.
        let inner: usize = shape[axis + 1..].iter().product();
        for block in data.chunks_exact_mut(n * inner) {
            prefix.clear();
            prefix.resize((n + 1) * inner, 0);
            for k in 0..n {
                let (done, rest) = prefix.split_at_mut((k + 1) * inner);
                let previous = &done[k * inner..];
                let slice = &block[k * inner..(k + 1) * inner];
                for ((p, &a), &b) in rest[..inner].iter_mut().zip(previous).zip(slice) {
                    *p = a + b;
                }
            }
            for k in 0..n {
                let hi = (k + r + 1).min(n) * inner;
                let lo = k.saturating_sub(r) * inner;
                let out = &mut block[k * inner..(k + 1) * inner];
                for ((o, &a), &b) in out
                    .iter_mut()
                    .zip(&prefix[hi..hi + inner])
                    .zip(&prefix[lo..lo + inner])
                {
                    *o = a - b;
                }
            }
        }
    }
}
