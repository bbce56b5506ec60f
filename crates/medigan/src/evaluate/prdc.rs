//! Precision, recall, density and coverage (Naeem et al. 2020, the `prdc` package): how much of
//! the synthetic set lies on the real manifold (precision, density) and how much of the real
//! manifold the synthetic set reaches (recall, coverage). Each manifold is the union of balls
//! around its points with the distance to the point's `k`-th nearest neighbour as radius.
//!
//! - precision: synthetic points inside some real ball;
//! - recall: real points inside some synthetic ball;
//! - density: real balls holding each synthetic point, divided by `k`, averaged (can exceed 1);
//! - coverage: real points whose own ball holds some synthetic point.
//!
//! Distances are Euclidean in f64, computed in blocks of real rows (memory `block x |synthetic|`).
//! A set compared with itself has precision = recall = coverage = 1.

use ndarray::ArrayView2;
use serde::Serialize;

use super::error::EvaluateError;
use super::pairwise::{
    BLOCK_ROWS, check_pair, distance_block, kth_neighbour_radii, squared_norms, to_f64,
};

/// The `k` of PRDC when none is given (the paper's and the package's).
pub const DEFAULT_NEAREST_K: usize = 5;

/// Precision, recall, density and coverage of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prdc {
    /// Fraction of synthetic images on the real manifold.
    pub precision: f64,
    /// Fraction of real images on the synthetic manifold.
    pub recall: f64,
    /// Mean number of real neighbourhoods holding a synthetic image, divided by `k`.
    pub density: f64,
    /// Fraction of real images whose neighbourhood holds a synthetic image.
    pub coverage: f64,
    /// The `k` of the nearest-neighbour radii.
    pub nearest_k: usize,
}

/// PRDC between `real` and `synthetic` with `k`-nearest-neighbour balls.
pub fn prdc(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
    nearest_k: usize,
) -> Result<Prdc, EvaluateError> {
    check(real, synthetic, nearest_k)?;
    let x = to_f64(real, None, "the real features")?;
    let y = to_f64(synthetic, None, "the synthetic features")?;
    let real_radii = kth_neighbour_radii(x.as_ref(), nearest_k);
    let synthetic_radii = kth_neighbour_radii(y.as_ref(), nearest_k);
    let (x_norms, y_norms) = (squared_norms(x.as_ref()), squared_norms(y.as_ref()));

    let mut in_real_ball = vec![false; y.nrows()];
    let mut real_balls_holding = vec![0usize; y.nrows()];
    let (mut recalled, mut covered) = (0usize, 0usize);
    let mut start = 0;
    while start < x.nrows() {
        let rows = BLOCK_ROWS.min(x.nrows() - start);
        let d = distance_block(x.as_ref(), &x_norms, y.as_ref(), &y_norms, start, rows);
        for i in 0..rows {
            let radius = real_radii[start + i];
            let (mut reaches, mut nearest) = (false, f64::INFINITY);
            for j in 0..y.nrows() {
                let distance = d[(i, j)];
                if distance < radius {
                    in_real_ball[j] = true;
                    real_balls_holding[j] += 1;
                }
                reaches |= distance < synthetic_radii[j];
                nearest = nearest.min(distance);
            }
            recalled += usize::from(reaches);
            covered += usize::from(nearest < radius);
        }
        start += rows;
    }
    let (n_real, n_synthetic) = (x.nrows() as f64, y.nrows() as f64);
    Ok(Prdc {
        precision: in_real_ball.iter().filter(|&&b| b).count() as f64 / n_synthetic,
        recall: recalled as f64 / n_real,
        density: real_balls_holding.iter().sum::<usize>() as f64 / (nearest_k as f64 * n_synthetic),
        coverage: covered as f64 / n_real,
        nearest_k,
    })
}

fn check(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
    nearest_k: usize,
) -> Result<(), EvaluateError> {
    if nearest_k == 0 {
        return Err(EvaluateError::InvalidOption {
            option: "nearest-neighbour k".into(),
            value: "0".into(),
            reason: "at least 1 (default 5)".into(),
        });
    }
    let metric = format!("precision/recall with k = {nearest_k}");
    check_pair(real, synthetic, nearest_k + 1, &metric)
}
