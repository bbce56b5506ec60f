//! Inner products and Euclidean distances between feature sets, in f64 and in row blocks, so
//! memory stays at `block x N` whatever the set sizes (the job KID, PRDC and the audit share).

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par};
use ndarray::ArrayView2;

use super::error::EvaluateError;

/// Rows per block of a distance or kernel matrix: 1024 x 10,000 f64 is 80 MB.
pub const BLOCK_ROWS: usize = 1024;

/// The rows `rows` of `features` (all rows when `None`) as an f64 matrix, refusing NaN/inf in
/// the rows it converts (only those: KID converts 200 subsets of one set).
pub fn to_f64(
    features: ArrayView2<'_, f32>,
    rows: Option<&[usize]>,
    what: &str,
) -> Result<Mat<f64>, EvaluateError> {
    let finite = match rows {
        Some(rows) => rows
            .iter()
            .all(|&r| features.row(r).iter().all(|v| v.is_finite())),
        None => features.iter().all(|v| v.is_finite()),
    };
    if !finite {
        return Err(EvaluateError::NonFinite {
            what: what.to_string(),
        });
    }
    Ok(match rows {
        Some(rows) => Mat::from_fn(rows.len(), features.ncols(), |i, j| {
            f64::from(features[(rows[i], j)])
        }),
        None => Mat::from_fn(features.nrows(), features.ncols(), |i, j| {
            f64::from(features[(i, j)])
        }),
    })
}

/// `a b^T` (one row per row of `a`, one column per row of `b`).
pub fn inner_products(a: faer::MatRef<'_, f64>, b: faer::MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.nrows());
    matmul(
        out.as_mut(),
        Accum::Replace,
        a,
        b.transpose(),
        1.0,
        Par::rayon(0),
    );
    out
}

/// `a a^T` below its diagonal (the rest is left 0): the products of each pair of distinct rows,
/// half the work of [`inner_products`] of `a` with itself.
pub fn inner_products_below_diagonal(a: faer::MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), a.nrows());
    triangular::matmul(
        out.as_mut(),
        BlockStructure::StrictTriangularLower,
        Accum::Replace,
        a,
        BlockStructure::Rectangular,
        a.transpose(),
        BlockStructure::Rectangular,
        1.0,
        Par::rayon(0),
    );
    out
}

/// The squared norm of each row.
pub fn squared_norms(a: faer::MatRef<'_, f64>) -> Vec<f64> {
    (0..a.nrows())
        .map(|i| (0..a.ncols()).map(|j| a[(i, j)] * a[(i, j)]).sum())
        .collect()
}

/// Euclidean distances between the rows `start..start + rows` of `a` and every row of `b`
/// (`sqrt(|x|^2 - 2 x.y + |y|^2)`, clamped at 0, as scikit-learn computes them).
pub fn distance_block(
    a: faer::MatRef<'_, f64>,
    a_norms: &[f64],
    b: faer::MatRef<'_, f64>,
    b_norms: &[f64],
    start: usize,
    rows: usize,
) -> Mat<f64> {
    let block = a.subrows(start, rows);
    let mut d = inner_products(block, b);
    for i in 0..rows {
        for j in 0..b.nrows() {
            let sq = a_norms[start + i] - 2.0 * d[(i, j)] + b_norms[j];
            d[(i, j)] = sq.max(0.0).sqrt();
        }
    }
    d
}

/// For each row of `a`: the distance to its `k`-th nearest row of `a` itself, the row counting
/// as its own nearest (distance 0), so this is the `k`-th neighbour among the others: the radius
/// of the `k`-nearest-neighbour ball of PRDC (prdc's `compute_nearest_neighbour_distances`).
pub fn kth_neighbour_radii(a: faer::MatRef<'_, f64>, k: usize) -> Vec<f64> {
    let norms = squared_norms(a);
    let mut radii = Vec::with_capacity(a.nrows());
    let mut start = 0;
    while start < a.nrows() {
        let rows = BLOCK_ROWS.min(a.nrows() - start);
        let d = distance_block(a, &norms, a, &norms, start, rows);
        let mut row = vec![0.0; a.nrows()];
        for i in 0..rows {
            for (j, v) in row.iter_mut().enumerate() {
                *v = d[(i, j)];
            }
            // The (k+1)-th smallest value, self included (prdc: argpartition k+1, max).
            let (_, kth, _) = row.select_nth_unstable_by(k, f64::total_cmp);
            radii.push(*kth);
        }
        start += rows;
    }
    radii
}

/// For each row of `a`: the index of the nearest row of `b` and its distance.
pub fn nearest_rows(a: faer::MatRef<'_, f64>, b: faer::MatRef<'_, f64>) -> Vec<(usize, f64)> {
    let (a_norms, b_norms) = (squared_norms(a), squared_norms(b));
    let mut nearest = Vec::with_capacity(a.nrows());
    let mut start = 0;
    while start < a.nrows() {
        let rows = BLOCK_ROWS.min(a.nrows() - start);
        let d = distance_block(a, &a_norms, b, &b_norms, start, rows);
        for i in 0..rows {
            let best = (0..b.nrows())
                .map(|j| (j, d[(i, j)]))
                .min_by(|x, y| x.1.total_cmp(&y.1))
                .unwrap_or((0, f64::INFINITY));
            nearest.push(best);
        }
        start += rows;
    }
    nearest
}

/// Refuses a real and a synthetic feature set that `metric` cannot compare: fewer than
/// `needed` rows in either, or rows of different widths.
pub(crate) fn check_pair(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
    needed: usize,
    metric: &str,
) -> Result<(), EvaluateError> {
    for (set, what) in [(real, "the real set"), (synthetic, "the synthetic set")] {
        if set.nrows() < needed {
            return Err(EvaluateError::TooFewImages {
                what: format!("{metric} over {what}"),
                needed,
                found: set.nrows(),
            });
        }
    }
    if real.ncols() != synthetic.ncols() {
        return Err(EvaluateError::FeatureDims {
            what: "the synthetic features".into(),
            expected: real.ncols(),
            found: synthetic.ncols(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn radii_skip_the_point_itself() {
        let points = array![[0.0f32], [1.0], [3.0], [7.0]];
        let m = to_f64(points.view(), None, "points").unwrap();
        assert_eq!(kth_neighbour_radii(m.as_ref(), 1), vec![1.0, 1.0, 2.0, 4.0]);
        assert_eq!(kth_neighbour_radii(m.as_ref(), 2), vec![3.0, 2.0, 3.0, 6.0]);
    }

    #[test]
    fn products_below_the_diagonal_are_those_of_the_full_product() {
        let points = array![[1.0f32, 2.0], [3.0, -1.0], [0.5, 4.0], [-2.0, 0.0]];
        let m = to_f64(points.view(), None, "points").unwrap();
        let full = inner_products(m.as_ref(), m.as_ref());
        let below = inner_products_below_diagonal(m.as_ref());
        for i in 0..4 {
            for j in 0..4 {
                let expected = if i > j { full[(i, j)] } else { 0.0 };
                assert_eq!(below[(i, j)], expected, "({i}, {j})");
            }
        }
    }

    #[test]
    fn only_the_converted_rows_must_be_finite() {
        let points = array![[0.0f32, 1.0], [f32::NAN, 2.0], [3.0, 4.0]];
        assert!(to_f64(points.view(), Some(&[0, 2]), "points").is_ok());
        assert!(to_f64(points.view(), Some(&[2, 1]), "points").is_err());
        assert!(to_f64(points.view(), None, "points").is_err());
    }

    #[test]
    fn nearest_rows_find_the_closest_point() {
        let a = to_f64(array![[0.0f32, 0.0], [5.0, 5.0]].view(), None, "a").unwrap();
        let b = to_f64(array![[4.0f32, 4.0], [0.0, 1.0]].view(), None, "b").unwrap();
        let nearest = nearest_rows(a.as_ref(), b.as_ref());
        assert_eq!(nearest[0], (1, 1.0));
        assert_eq!(nearest[1].0, 0);
        assert!((nearest[1].1 - 2f64.sqrt()).abs() < 1e-12);
    }
}
