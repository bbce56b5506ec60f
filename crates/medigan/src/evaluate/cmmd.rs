//! CMMD (Jayasumana et al., "Rethinking FID: Towards a Better Evaluation Metric for Image
//! Generation", CVPR 2024): the squared maximum mean discrepancy between the real and the
//! synthetic embeddings with the Gaussian RBF kernel `k(x, y) = exp(-|x - y|^2 / (2 sigma^2))`,
//! `sigma = 10`, on L2-normalised embeddings, times 1000.
//!
//! The estimate is the one of the authors' reference code (`google-research/cmmd/distance.py`):
//! the minimum-variance (V-statistic) estimator of Gretton et al. 2012, Eq. (5), with the means
//! over all pairs, the diagonals included: `scale (mean k(x_i, x_j) + mean k(y_i, y_j) -
//! 2 mean k(x_i, y_j))`. It is never negative, a set against itself gives exactly 0, and the
//! two sets may hold different numbers of images. The paper names it "unbiased"; its code (and
//! this) keeps the diagonal terms, which differ from the unbiased U-statistic by O(1/n).
//!
//! CMMD is defined on CLIP image embeddings (ViT-L/14-336's image tower): it is meaningful with
//! such an `onnx:` extractor, and values compare only between runs with the same extractor.
//! With any other extractor (Inception, RadImageNet) it is computed the same way and the report
//! says so.
//!
//! Computed in f64, in blocks of [`BLOCK_ROWS`] rows (memory `BLOCK_ROWS x N` whatever the set
//! sizes), the products on every core (faer) and each block's kernel sums on every core (rayon),
//! summed in a fixed order, so the value does not depend on the number of threads.

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::Serialize;

use super::error::EvaluateError;
use super::pairwise::{BLOCK_ROWS, check_pair, inner_products, squared_norms, to_f64};

/// The bandwidth of the Gaussian kernel (the paper's and its code's `_SIGMA`).
pub const CMMD_SIGMA: f64 = 10.0;
/// The factor the MMD is multiplied by, for readability (the paper's and its code's `_SCALE`).
pub const CMMD_SCALE: f64 = 1000.0;

/// CMMD of one comparison, with what it was computed on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cmmd {
    /// `scale * MMD^2` (mean over repeats when there are several).
    pub value: f64,
    /// The kernel's bandwidth.
    pub sigma: f64,
    /// The factor applied.
    pub scale: f64,
    /// How the MMD was estimated.
    pub estimator: String,
    /// What the embeddings were, and whether the value means what the paper's CMMD means.
    pub note: String,
}

impl Cmmd {
    /// The report of `value`, computed on the embeddings of the extractor named `extractor`.
    pub fn new(value: f64, extractor: &str) -> Cmmd {
        let note = if extractor.starts_with("onnx:") {
            format!(
                "Gaussian-kernel MMD on the L2-normalised embeddings of {extractor}: CMMD as the \
                 paper defines it when this is a CLIP image tower (ViT-L/14-336); values compare \
                 only with the same extractor"
            )
        } else {
            format!(
                "computed on the L2-normalised features of {extractor}, not CLIP embeddings: not \
                 the paper's CMMD, and not comparable with published CMMD values (give an onnx: \
                 CLIP image tower as --extractor)"
            )
        };
        Cmmd {
            value,
            sigma: CMMD_SIGMA,
            scale: CMMD_SCALE,
            estimator: "minimum-variance (V-statistic) MMD^2, diagonal terms included, as \
                        google-research/cmmd/distance.py"
                .into(),
            note,
        }
    }
}

/// CMMD between `real` and `synthetic` (one embedding per row; each row is L2-normalised
/// first). Refuses sets of fewer than 2 rows, of different widths, with a NaN/inf value, or
/// with a row of norm 0 (it has no direction).
pub fn cmmd(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
) -> Result<f64, EvaluateError> {
    check_pair(real, synthetic, 2, "CMMD")?;
    let x = normalized(real, "the real features")?;
    let y = normalized(synthetic, "the synthetic features")?;
    let (n, m) = (x.nrows() as f64, y.nrows() as f64);
    let xx = kernel_sum(x.as_ref(), x.as_ref());
    let yy = kernel_sum(y.as_ref(), y.as_ref());
    let xy = kernel_sum(x.as_ref(), y.as_ref());
    Ok(CMMD_SCALE * (xx / (n * n) + yy / (m * m) - 2.0 * xy / (n * m)))
}

/// The rows of `features` in f64, each divided by its Euclidean norm.
fn normalized(features: ArrayView2<'_, f32>, what: &str) -> Result<faer::Mat<f64>, EvaluateError> {
    let mut rows = to_f64(features, None, what)?;
    for (i, norm) in squared_norms(rows.as_ref()).into_iter().enumerate() {
        let norm = norm.sqrt();
        if norm == 0.0 {
            return Err(EvaluateError::InvalidOption {
                option: "CMMD".into(),
                value: format!("row {i} of {what}"),
                reason: "an embedding of norm 0 has no direction to L2-normalise".into(),
            });
        }
        for j in 0..rows.ncols() {
            rows[(i, j)] /= norm;
        }
    }
    Ok(rows)
}

/// `sum_{i,j} k(a_i, b_j)` with `|a_i - b_j|^2 = |a_i|^2 + |b_j|^2 - 2 a_i.b_j` (as the
/// reference code computes it), in blocks of rows of `a`.
fn kernel_sum(a: faer::MatRef<'_, f64>, b: faer::MatRef<'_, f64>) -> f64 {
    let gamma = 1.0 / (2.0 * CMMD_SIGMA * CMMD_SIGMA);
    let (a_norms, b_norms) = (squared_norms(a), squared_norms(b));
    let mut total = 0.0;
    let mut start = 0;
    while start < a.nrows() {
        let rows = BLOCK_ROWS.min(a.nrows() - start);
        let products = inner_products(a.subrows(start, rows), b);
        let block_norms = &a_norms[start..start + rows];
        // One partial sum per column (a contiguous column of the column-major block), then
        // the columns in order: the same sum whatever the threads.
        let columns: Vec<f64> = (0..b.nrows())
            .into_par_iter()
            .map(|j| {
                let column = products.col(j);
                (0..rows)
                    .map(|i| {
                        let sq = block_norms[i] + b_norms[j] - 2.0 * column[i];
                        (-gamma * sq).exp()
                    })
                    .sum::<f64>()
            })
            .collect();
        total += columns.iter().sum::<f64>();
        start += rows;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_set_against_itself_is_zero_and_scaling_rows_changes_nothing() {
        let a = array![[1.0f32, 0.0, 2.0], [0.5, -1.0, 0.0], [3.0, 3.0, -1.0]];
        assert_eq!(cmmd(a.view(), a.view()).unwrap(), 0.0);
        let b = array![[0.0f32, 1.0, 0.0], [1.0, 1.0, 1.0]];
        let scaled = &b * 7.0;
        let (d, d_scaled) = (
            cmmd(a.view(), b.view()).unwrap(),
            cmmd(a.view(), scaled.view()).unwrap(),
        );
        assert!(d > 0.0);
        assert!((d - d_scaled).abs() < 1e-12 * d, "{d} vs {d_scaled}");
    }

    #[test]
    fn two_orthogonal_points_give_the_closed_form() {
        // x = {e1, e1}, y = {e2, e2}: |x - y|^2 = 2, k = exp(-2 / 200).
        let x = array![[1.0f32, 0.0], [1.0, 0.0]];
        let y = array![[0.0f32, 1.0], [0.0, 1.0]];
        let expected = CMMD_SCALE * (2.0 - 2.0 * (-0.01f64).exp());
        let got = cmmd(x.view(), y.view()).unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn a_zero_embedding_is_refused_by_row() {
        let x = array![[1.0f32, 0.0], [0.0, 0.0]];
        let y = array![[0.0f32, 1.0], [1.0, 1.0]];
        let err = cmmd(x.view(), y.view()).unwrap_err().to_string();
        assert!(err.contains("row 1 of the real features"), "{err}");
    }
}
