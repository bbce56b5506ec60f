//! From two feature tables to the FRD, as frd-score 1.0.1 computes it.
//!
//! - v1: rows with a NaN are dropped, features cast to `float32`, z-scored with the mean and
//!   standard deviation (ddof 0) of the real set, in `float32` arithmetic as numpy does it;
//!   a column with a NaN or infinity in either set afterwards (a feature constant on the real
//!   set) is dropped; the value is `ln(d^2)` (`ln(d)` with the paper's convention).
//! - v0: min-max scaled to `[0, 7.45670747756958]` with the minimum and maximum of both sets
//!   together (a constant column becomes the middle of the range, NaN the middle too); the value
//!   is `d^2`.
//!
//! `d^2` is the Frechet distance of the two Gaussians (means, `numpy.cov` covariances), with
//! `tr sqrt(S1 S2)` from [`trace_sqrt_product`](crate::evaluate::frechet::trace_sqrt_product) (stable where scipy's `sqrtm` retries with an
//! offset).

use faer::Mat;

use super::super::error::EvaluateError;
use super::super::frechet::{FeatureStats, frechet_distance};
use super::FrdVersion;

/// frd-score's v0 range of min-max scaled features.
pub const V0_RANGE: [f64; 2] = [0.0, 7.456_707_477_569_58];

/// A feature table: one row per image, columns named.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// Feature names (frd-score's keys).
    pub names: Vec<String>,
    /// One row per image.
    pub rows: Vec<Vec<f64>>,
    /// Images skipped before extraction (a mask of at most one voxel).
    pub skipped: usize,
}

/// The distance and what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Distance {
    /// `d^2`, the squared Frechet distance of the normalised features.
    pub squared: f64,
    /// The features used (after dropping).
    pub features: usize,
    /// Features dropped (v1: constant on the real set, or not finite after normalising).
    pub dropped: Vec<String>,
    /// Images dropped per set (v1: a NaN feature).
    pub dropped_images: [usize; 2],
}

/// `d^2` between `real` and `synthetic` for `version` (see the module documentation).
pub fn squared_distance(
    real: &FeatureTable,
    synthetic: &FeatureTable,
    version: FrdVersion,
) -> Result<Distance, EvaluateError> {
    if real.names != synthetic.names {
        return Err(EvaluateError::InvalidOption {
            option: "images".into(),
            value: format!(
                "{} and {} features",
                real.names.len(),
                synthetic.names.len()
            ),
            reason: "the two sets give different radiomics features (mixed 2D and 3D images?)"
                .into(),
        });
    }
    // A function of the set of rows, not of their order: merged shards give the same bits as
    // one pass (frd-score's own order changes only the last bits of its float32 sums).
    let (real, synthetic) = (&canonical(real), &canonical(synthetic));
    match version {
        FrdVersion::V1 => v1(real, synthetic),
        FrdVersion::V0 => v0(real, synthetic),
    }
}

/// The table with its rows in a canonical order (by their values' bit patterns).
fn canonical(table: &FeatureTable) -> FeatureTable {
    let mut rows = table.rows.clone();
    rows.sort_by(|a, b| {
        a.iter()
            .map(|v| v.to_bits())
            .cmp(b.iter().map(|v| v.to_bits()))
    });
    FeatureTable {
        names: table.names.clone(),
        rows,
        skipped: table.skipped,
    }
}

fn v1(real: &FeatureTable, synthetic: &FeatureTable) -> Result<Distance, EvaluateError> {
    let finite_rows = |t: &FeatureTable| -> Vec<Vec<f32>> {
        t.rows
            .iter()
            .filter(|r| !r.iter().any(|v| v.is_nan()))
            .map(|r| r.iter().map(|&v| v as f32).collect())
            .collect()
    };
    let (a, b) = (finite_rows(real), finite_rows(synthetic));
    let dropped_images = [real.rows.len() - a.len(), synthetic.rows.len() - b.len()];
    need_two(a.len(), "real")?;
    need_two(b.len(), "synthetic")?;
    let (mean, std) = numpy_f32_mean_std(&a);
    let normalise = |rows: &[Vec<f32>]| -> Vec<Vec<f32>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .zip(mean.iter().zip(&std))
                    .map(|(&x, (&m, &s))| (x - m) / s * 1.0 + 0.0)
                    .collect()
            })
            .collect()
    };
    let (za, zb) = (normalise(&a), normalise(&b));
    let keep: Vec<usize> = (0..real.names.len())
        .filter(|&j| za.iter().chain(&zb).all(|r| r[j].is_finite()))
        .collect();
    let dropped = dropped_names(&real.names, &keep);
    let widen = |rows: &[Vec<f32>]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| keep.iter().map(|&j| f64::from(r[j])).collect())
            .collect()
    };
    let squared = distance_of(&widen(&za), &widen(&zb))?;
    Ok(Distance {
        squared,
        features: keep.len(),
        dropped,
        dropped_images,
    })
}

/// numpy's `nanmean` and `nanstd` (ddof 0) down the columns of a `float32` table without NaN:
/// sums accumulated row after row in `float32`, divided by the count in `float64` and rounded
/// back, the square root in `float32`.
fn numpy_f32_mean_std(rows: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let dims = rows.first().map_or(0, Vec::len);
    let n = rows.len() as f64;
    let mut sum = vec![0f32; dims];
    for r in rows {
        for (s, &v) in sum.iter_mut().zip(r) {
            *s += v;
        }
    }
    let mean: Vec<f32> = sum.iter().map(|&s| (f64::from(s) / n) as f32).collect();
    let mut squares = vec![0f32; dims];
    for r in rows {
        for ((q, &v), &m) in squares.iter_mut().zip(r).zip(&mean) {
            let d = v - m;
            *q += d * d;
        }
    }
    let std = squares
        .iter()
        .map(|&q| ((f64::from(q) / n) as f32).sqrt())
        .collect();
    (mean, std)
}

fn v0(real: &FeatureTable, synthetic: &FeatureTable) -> Result<Distance, EvaluateError> {
    need_two(real.rows.len(), "real")?;
    need_two(synthetic.rows.len(), "synthetic")?;
    let dims = real.names.len();
    let all = || real.rows.iter().chain(&synthetic.rows);
    let column_range = |j: usize| {
        all()
            .map(|r| r[j])
            .filter(|v| !v.is_nan())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let ranges: Vec<(f64, f64)> = (0..dims).map(column_range).collect();
    let [new_min, new_max] = V0_RANGE;
    let middle = (new_min + new_max) / 2.0;
    let scale = |rows: &[Vec<f64>]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .zip(&ranges)
                    .map(|(&x, &(lo, hi))| {
                        let scaled = if !lo.is_finite() {
                            x
                        } else if hi - lo == 0.0 {
                            0.5 * (new_max - new_min) + new_min
                        } else {
                            (x - lo) / (hi - lo) * (new_max - new_min) + new_min
                        };
                        if scaled.is_nan() { middle } else { scaled }
                    })
                    .collect()
            })
            .collect()
    };
    let squared = distance_of(&scale(&real.rows), &scale(&synthetic.rows))?;
    Ok(Distance {
        squared,
        features: dims,
        dropped: Vec::new(),
        dropped_images: [0, 0],
    })
}

fn need_two(count: usize, set: &str) -> Result<(), EvaluateError> {
    if count < 2 {
        return Err(EvaluateError::TooFewImages {
            what: format!("the FRD of the {set} set (images whose features are all numbers)"),
            needed: 2,
            found: count,
        });
    }
    Ok(())
}

fn dropped_names(names: &[String], keep: &[usize]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .filter(|(j, _)| !keep.contains(j))
        .map(|(_, n)| n.clone())
        .collect()
}

/// The squared Frechet distance between two tables' Gaussians.
fn distance_of(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64, EvaluateError> {
    frechet_distance(&stats(a), &stats(b))
}

/// Mean and `numpy.cov` covariance (ddof 1) of a table, centred in `f64`.
fn stats(rows: &[Vec<f64>]) -> FeatureStats {
    let n = rows.len();
    let dims = rows.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; dims];
    for r in rows {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred = Mat::from_fn(n, dims, |i, j| rows[i][j] - mean[j]);
    let product = centred.transpose() * &centred;
    let cov = Mat::from_fn(dims, dims, |i, j| product[(i, j)] / (n as f64 - 1.0));
    FeatureStats {
        mean,
        cov,
        count: n,
    }
}
