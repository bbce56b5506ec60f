//! The Kernel Inception Distance (KID, Binkowski et al. 2018): the unbiased estimate of the
//! squared maximum mean discrepancy between the real and the synthetic features, with the
//! polynomial kernel `k(x, y) = (x.y / d + 1)^3`, averaged over random subsets.
//!
//! Each subset draws `m = min(subset_size, |real|, |synthetic|)` distinct rows of each set; its
//! estimate is `(sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1)) -
//! 2 sum_{i,j} k(x_i, y_j) / m^2` (torch-fidelity's `mmd2`, clean-fid's `kernel_distance`). The
//! report gives the mean over subsets and their standard deviation (`numpy.std`, ddof 0, as
//! torch-fidelity). Unlike FID, KID is unbiased: two disjoint samples of one distribution give
//! about 0 (a set against itself gives a little less: subsets drawn independently from one set
//! share rows, and their self-similarity lands in the cross term), and values of sets of
//! different sizes compare.

use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::error::EvaluateError;
use super::pairwise::{check_pair, inner_products, inner_products_below_diagonal, to_f64};

/// How KID draws its subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KidOptions {
    /// Number of subsets (default 100, as torch-fidelity and clean-fid).
    pub subsets: usize,
    /// Rows per subset, at most (default 1000); smaller sets use all their rows.
    pub subset_size: usize,
    /// Seed of the subset draws.
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        KidOptions {
            subsets: 100,
            subset_size: 1000,
            seed: 0,
        }
    }
}

/// KID of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Kid {
    /// Mean of the subsets' estimates.
    pub mean: f64,
    /// Standard deviation of the subsets' estimates (ddof 0).
    pub std: f64,
    /// Number of subsets.
    pub subsets: usize,
    /// Rows of each set per subset.
    pub subset_size: usize,
}

/// One subset: rows of the real set and rows of the synthetic set (equally many).
pub type Subset = (Vec<usize>, Vec<usize>);

/// The subsets KID uses for sets of `real` and `synthetic` rows, the same for the same seed.
pub fn draw_subsets(real: usize, synthetic: usize, options: &KidOptions) -> Vec<Subset> {
    let m = options.subset_size.min(real).min(synthetic);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    (0..options.subsets)
        .map(|_| {
            let a = rand::seq::index::sample(&mut rng, real, m).into_vec();
            let b = rand::seq::index::sample(&mut rng, synthetic, m).into_vec();
            (a, b)
        })
        .collect()
}

/// KID between `real` and `synthetic` over the subsets of [`draw_subsets`].
pub fn kid(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
    options: &KidOptions,
) -> Result<Kid, EvaluateError> {
    check(real, synthetic, options)?;
    let subsets = draw_subsets(real.nrows(), synthetic.nrows(), options);
    kid_of_subsets(real, synthetic, &subsets)
}

fn check(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
    options: &KidOptions,
) -> Result<(), EvaluateError> {
    if options.subsets == 0 || options.subset_size < 2 {
        return Err(EvaluateError::InvalidOption {
            option: "KID subsets".into(),
            value: format!("{} x {}", options.subsets, options.subset_size),
            reason: "at least 1 subset of at least 2 images".into(),
        });
    }
    check_pair(real, synthetic, 2, "KID")
}

/// KID over the given subsets (each with equally many real and synthetic rows, at least 2).
pub fn kid_of_subsets(
    real: ArrayView2<'_, f32>,
    synthetic: ArrayView2<'_, f32>,
    subsets: &[Subset],
) -> Result<Kid, EvaluateError> {
    let mut estimates = Vec::with_capacity(subsets.len());
    for (a, b) in subsets {
        if a.len() != b.len() || a.len() < 2 {
            return Err(EvaluateError::InvalidOption {
                option: "KID subset".into(),
                value: format!("{} real x {} synthetic rows", a.len(), b.len()),
                reason: "equally many rows of each set, at least 2".into(),
            });
        }
        let x = to_f64(real, Some(a), "the real features")?;
        let y = to_f64(synthetic, Some(b), "the synthetic features")?;
        estimates.push(unbiased_mmd2(x.as_ref(), y.as_ref()));
    }
    let count = estimates.len().max(1) as f64;
    let mean = estimates.iter().sum::<f64>() / count;
    let variance = estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / count;
    Ok(Kid {
        mean,
        std: variance.sqrt(),
        subsets: subsets.len(),
        subset_size: subsets.first().map_or(0, |s| s.0.len()),
    })
}

/// The unbiased MMD^2 estimate of one subset with the cubic polynomial kernel.
fn unbiased_mmd2(x: faer::MatRef<'_, f64>, y: faer::MatRef<'_, f64>) -> f64 {
    let m = x.nrows() as f64;
    let dims = x.ncols() as f64;
    let kernel = |product: f64| (product / dims + 1.0).powi(3);
    // The sum over pairs i != j of one set: twice the sum below the diagonal (k is symmetric).
    let within = |a: faer::MatRef<'_, f64>| {
        let products = inner_products_below_diagonal(a);
        let mut sum = 0.0;
        for j in 0..products.ncols() {
            for i in j + 1..products.nrows() {
                sum += kernel(products[(i, j)]);
            }
        }
        2.0 * sum
    };
    let between = |a: faer::MatRef<'_, f64>, b: faer::MatRef<'_, f64>| {
        let products = inner_products(a, b);
        let mut sum = 0.0;
        for j in 0..products.ncols() {
            for i in 0..products.nrows() {
                sum += kernel(products[(i, j)]);
            }
        }
        sum
    };
    let xx = within(x);
    let yy = within(y);
    let xy = between(x, y);
    (xx + yy) / (m * (m - 1.0)) - 2.0 * xy / (m * m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_hold_distinct_rows_and_repeat_with_the_seed() {
        let options = KidOptions {
            subsets: 3,
            subset_size: 5,
            seed: 4,
        };
        let subsets = draw_subsets(8, 20, &options);
        assert_eq!(subsets.len(), 3);
        for (a, b) in &subsets {
            assert_eq!((a.len(), b.len()), (5, 5));
            let mut sorted = a.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 5);
            assert!(a.iter().all(|&i| i < 8) && b.iter().all(|&i| i < 20));
        }
        assert_eq!(draw_subsets(8, 20, &options), subsets);
        let small = draw_subsets(3, 20, &options);
        assert_eq!(
            small[0].0.len(),
            3,
            "a set smaller than the subset size is used whole"
        );
    }
}
