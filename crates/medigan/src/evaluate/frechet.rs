//! The Frechet distance between two Gaussians fitted to feature sets (the "D" of FID), in f64.
//!
//! `d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)`.
//!
//! pytorch-fid computes `tr sqrt(S1 S2)` with `scipy.linalg.sqrtm` of the non-symmetric product,
//! retrying with `eps * I` added when the result is not finite and dropping an imaginary part.
//! Here it is computed without a general matrix square root: with `S1 = U L U^T` and
//! `B = U L^(1/2)` (eigenvalues clamped at 0), `S1 S2` is similar to the symmetric positive
//! semi-definite `B^T S2 B`, so `tr sqrt(S1 S2)` is the sum of the square roots of its
//! eigenvalues (those below `dims * eps * max` are rounding noise and count as 0). Two symmetric eigendecompositions (one with vectors, one values
//! only) and two matrix products, all from `faer`: stable for singular covariances (fewer
//! images than features) and about 1-3 s for 2048 x 2048 on two cores. On the committed fixtures
//! (`scripts/make_fid_fixtures.py`) it agrees with pytorch-fid's scipy formula within 1e-8.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Side};
use ndarray::ArrayView2;

use super::error::EvaluateError;
use super::moments::ExactMoments;

/// The mean and covariance of a feature set: what a Frechet distance needs of it.
#[derive(Debug, Clone)]
pub struct FeatureStats {
    /// Mean feature vector.
    pub mean: Vec<f64>,
    /// Sample covariance (divided by `count - 1`, as `numpy.cov`), `dims x dims`.
    pub cov: Mat<f64>,
    /// Number of feature vectors.
    pub count: usize,
}

impl FeatureStats {
    /// Mean and covariance of `features` (one row per image), from their exact sums
    /// ([`ExactMoments`]): the same bits whatever the order of the rows, and the same as the
    /// merged statistics of any split of them.
    pub fn from_features(features: ArrayView2<'_, f32>) -> Result<FeatureStats, EvaluateError> {
        let count = features.nrows();
        if count < 2 {
            return Err(EvaluateError::TooFewImages {
                what: "a covariance".into(),
                needed: 2,
                found: count,
            });
        }
        ExactMoments::of(features)?.stats()
    }

    /// Number of features per image.
    pub fn dims(&self) -> usize {
        self.mean.len()
    }
}

/// The Frechet distance between the Gaussians `a` and `b` (FID when the features come from the
/// FID Inception network).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, EvaluateError> {
    let dims = a.dims();
    if b.dims() != dims {
        return Err(EvaluateError::FeatureDims {
            what: "the second set".into(),
            expected: dims,
            found: b.dims(),
        });
    }
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let trace = |m: &Mat<f64>| (0..dims).map(|i| m[(i, i)]).sum::<f64>();
    let traces = trace(&a.cov) + trace(&b.cov);
    let cross = trace_sqrt_product(&a.cov, &b.cov)?;
    let distance = mean_term + traces - 2.0 * cross;
    if !distance.is_finite() {
        return Err(EvaluateError::NonFinite {
            what: "the Frechet distance".into(),
        });
    }
    Ok(distance)
}

/// `tr sqrt(S1 S2)` for symmetric positive semi-definite `S1`, `S2`.
pub fn trace_sqrt_product(s1: &Mat<f64>, s2: &Mat<f64>) -> Result<f64, EvaluateError> {
    let dims = s1.nrows();
    if dims == 0 {
        return Ok(0.0);
    }
    let no_convergence = |_| EvaluateError::NoConvergence { dims };
    let eigen = s1.self_adjoint_eigen(Side::Lower).map_err(no_convergence)?;
    let values = eigen.S().column_vector();
    let vectors = eigen.U();
    let values: Vec<f64> = values.iter().copied().collect();
    let roots = clamped_roots(&values);
    // B = U diag(sqrt(l)): scale each eigenvector by the root of its eigenvalue.
    let b = Mat::from_fn(dims, dims, |i, j| vectors[(i, j)] * roots[j]);
    let mut s2b = Mat::<f64>::zeros(dims, dims);
    matmul(
        s2b.as_mut(),
        Accum::Replace,
        s2.as_ref(),
        b.as_ref(),
        1.0,
        Par::rayon(0),
    );
    let mut inner = Mat::<f64>::zeros(dims, dims);
    matmul(
        inner.as_mut(),
        Accum::Replace,
        b.transpose(),
        s2b.as_ref(),
        1.0,
        Par::rayon(0),
    );
    // Symmetrise against rounding before the values-only decomposition reads one triangle.
    let symmetric = Mat::from_fn(dims, dims, |i, j| 0.5 * (inner[(i, j)] + inner[(j, i)]));
    let lambdas = symmetric
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(no_convergence)?;
    Ok(clamped_roots(&lambdas).iter().sum())
}

/// Square roots of the eigenvalues of a symmetric positive semi-definite matrix, with those
/// that are rounding noise (below `dims * eps * max`, negative ones included) taken as 0: their
/// roots would add `sqrt(noise)` each (~1e-7 for a 2048-dim singular covariance).
fn clamped_roots(values: &[f64]) -> Vec<f64> {
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let floor = values.len() as f64 * f64::EPSILON * max;
    values
        .iter()
        .map(|&l| if l > floor { l.sqrt() } else { 0.0 })
        .collect()
}

/// The Frechet distance between two feature sets (one row per image).
pub fn frechet_distance_of_features(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
) -> Result<f64, EvaluateError> {
    if a.ncols() != b.ncols() {
        return Err(EvaluateError::FeatureDims {
            what: "the second set".into(),
            expected: a.ncols(),
            found: b.ncols(),
        });
    }
    frechet_distance(
        &FeatureStats::from_features(a)?,
        &FeatureStats::from_features(b)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn one_dimension_is_the_closed_form() {
        // 1-D: d^2 = (m1 - m2)^2 + (s1 - s2)^2 with s the standard deviations.
        let a = Array2::from_shape_vec((4, 1), vec![0.0f32, 1.0, 2.0, 3.0]).unwrap();
        let b = Array2::from_shape_vec((4, 1), vec![10.0f32, 12.0, 14.0, 16.0]).unwrap();
        let var_a = 5.0 / 3.0f64;
        let var_b = 4.0 * var_a;
        let expected = (1.5f64 - 13.0).powi(2) + (var_a.sqrt() - var_b.sqrt()).powi(2);
        let got = frechet_distance_of_features(a.view(), b.view()).unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        let a = Array2::<f32>::zeros((3, 2));
        let b = Array2::<f32>::zeros((3, 4));
        let err = frechet_distance_of_features(a.view(), b.view()).unwrap_err();
        assert!(
            err.to_string().contains("4 features per image, expected 2"),
            "{err}"
        );
    }

    #[test]
    fn one_image_is_too_few() {
        let a = Array2::<f32>::zeros((1, 2));
        assert!(matches!(
            FeatureStats::from_features(a.view()),
            Err(EvaluateError::TooFewImages { found: 1, .. })
        ));
    }
}
