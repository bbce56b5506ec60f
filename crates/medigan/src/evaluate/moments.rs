//! Exact, mergeable sufficient statistics of a feature set ([`ExactMoments`]): the count, the
//! sum of the features and the sum of their products, held as integers so that adding two
//! sets' statistics gives exactly the statistics of their union, in any order and with any
//! split. A Frechet distance computed from merged shards is therefore bit-identical to the one
//! computed in a single pass over all features (float sums are not associative: summing the
//! same numbers in another order changes the last bits).
//!
//! Each f32 feature `x` is truncated (toward zero) to a multiple of `2^-40`
//! ([`FEATURE_BITS`]): `q = trunc(x * 2^40)`, an integer (`|x| < 2^20`, [`FEATURE_LIMIT`], so
//! `|q| < 2^60`). This changes a feature by less than `1e-12` (nothing for values above
//! `2^-17`, whose f32 bits are all multiples of `2^-40`). The sums `sum q_i` and
//! `sum q_i q_j` are then kept exactly in `i128` (an overflow is an error, not a wrap).
//!
//! The products are computed with f64 matrix products (faer, upper triangle only), exactly:
//! the quantised features are cut into `K` slices of `b <= 23` bits (`q = s_0 + 2^b s_1 +
//! ...`, the fewest slices for the largest `|q|` of the batch, as narrow as possible), and the
//! rows into blocks of `R` with `R (2^b - 1)^2 < 2^53` (at most 1024): every partial sum of a
//! block's matrix product is an integer that f64 holds exactly, whatever order the product
//! adds in. Features below 8 in magnitude take two slices of 22 bits and blocks of 512 rows
//! (four matrix products per block), below 64 two of 23 bits and 128 rows, larger ones three.
//!
//! The covariance is then `(n sum q_i q_j - sum q_i sum q_j) / (n (n - 1))`, its numerator
//! computed exactly in 256-bit integers and rounded once to f64: more accurate than the
//! centred f64 product it replaces, and a function of the exact sums only.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par};
use ndarray::ArrayView2;
use rayon::prelude::*;

use super::error::EvaluateError;
use super::frechet::FeatureStats;

/// Features are truncated to multiples of `2^-FEATURE_BITS` before they are summed.
pub const FEATURE_BITS: i32 = 40;
/// The largest feature magnitude the exact sums take (`2^20`).
pub const FEATURE_LIMIT: f32 = 1_048_576.0;
/// The most bits per slice of a quantised feature in the exact matrix products.
const MAX_SLICE_BITS: u32 = 23;
/// The most rows per matrix product (bounds the slices' memory).
const MAX_BLOCK_ROWS: usize = 1024;

/// Slices of `bits` bits for quantised features of `magnitude_bits` bits, and the rows per
/// matrix product that keep its sums exact: the fewest slices of at most 23 bits, as narrow as
/// they can be, so that `rows * (2^bits - 1)^2 < 2^53` allows the most rows.
fn slicing(magnitude_bits: u32) -> (usize, u32, usize) {
    let slices = magnitude_bits.div_ceil(MAX_SLICE_BITS).max(1);
    let bits = magnitude_bits.div_ceil(slices).max(1);
    let rows = 1usize << (53 - 2 * bits).min(20);
    (slices as usize, bits, rows.min(MAX_BLOCK_ROWS))
}

/// The exact count, sums and co-moments of a feature set (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactMoments {
    dims: usize,
    count: u64,
    /// `sum q_i`, scaled by `2^FEATURE_BITS`.
    sums: Vec<i128>,
    /// `sum q_i q_j` for `i <= j`, scaled by `2^(2 FEATURE_BITS)`, packed column by column:
    /// `(i, j)` at `j (j + 1) / 2 + i`.
    products: Vec<i128>,
}

/// Entries of the packed upper triangle of a `dims x dims` matrix.
pub fn packed_len(dims: usize) -> usize {
    dims * (dims + 1) / 2
}

impl ExactMoments {
    /// The statistics of no features of length `dims`.
    pub fn new(dims: usize) -> ExactMoments {
        ExactMoments {
            dims,
            count: 0,
            sums: vec![0; dims],
            products: vec![0; packed_len(dims)],
        }
    }

    /// The statistics of `features` (one row per image).
    pub fn of(features: ArrayView2<'_, f32>) -> Result<ExactMoments, EvaluateError> {
        let mut moments = ExactMoments::new(features.ncols());
        moments.add(features)?;
        Ok(moments)
    }

    /// Statistics from their parts (as read from a file): `sums` of length `dims`, `products`
    /// the packed upper triangle.
    pub fn from_parts(
        dims: usize,
        count: u64,
        sums: Vec<i128>,
        products: Vec<i128>,
    ) -> Result<ExactMoments, EvaluateError> {
        if sums.len() != dims || products.len() != packed_len(dims) {
            return Err(EvaluateError::FeatureDims {
                what: "the statistics".into(),
                expected: dims,
                found: sums.len(),
            });
        }
        Ok(ExactMoments {
            dims,
            count,
            sums,
            products,
        })
    }

    /// Features per image.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Feature vectors summed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `sum q_i` (scaled by `2^FEATURE_BITS`).
    pub fn sums(&self) -> &[i128] {
        &self.sums
    }

    /// `sum q_i q_j`, `i <= j`, packed column by column (scaled by `2^(2 FEATURE_BITS)`).
    pub fn products(&self) -> &[i128] {
        &self.products
    }

    /// Adds `features` (one row per image): refused, leaving `self` unchanged, when a value is
    /// not finite, not below [`FEATURE_LIMIT`] in magnitude, or the sums would overflow.
    pub fn add(&mut self, features: ArrayView2<'_, f32>) -> Result<(), EvaluateError> {
        if features.ncols() != self.dims {
            return Err(EvaluateError::FeatureDims {
                what: "the features".into(),
                expected: self.dims,
                found: features.ncols(),
            });
        }
        if features.iter().any(|v| !v.is_finite()) {
            return Err(EvaluateError::NonFinite {
                what: "the features".into(),
            });
        }
        if let Some(&big) = features.iter().find(|v| v.abs() >= FEATURE_LIMIT) {
            return Err(EvaluateError::InvalidOption {
                option: "feature value".into(),
                value: big.to_string(),
                reason: format!(
                    "exact statistics take features below {FEATURE_LIMIT} in magnitude \
                     (is the extractor's output a feature vector?)"
                ),
            });
        }
        let largest = features
            .iter()
            .map(|&x| quantise(x).unsigned_abs())
            .max()
            .unwrap_or(0);
        let (slices, bits, block_rows) = slicing(u64::BITS - largest.leading_zeros());
        let mut next = self.clone();
        let rows = features.nrows();
        let mut start = 0;
        while start < rows {
            let end = (start + block_rows).min(rows);
            next.add_block(features.slice(ndarray::s![start..end, ..]), slices, bits)?;
            start = end;
        }
        *self = next;
        Ok(())
    }

    /// Adds a block of rows, cut into `slices` slices of `bits` bits (see [`slicing`]).
    fn add_block(
        &mut self,
        block: ArrayView2<'_, f32>,
        slices: usize,
        bits: u32,
    ) -> Result<(), EvaluateError> {
        let (rows, dims) = block.dim();
        let quantised = Mat::from_fn(rows, dims, |i, j| quantise(block[(i, j)]));
        let parts: Vec<Mat<f64>> = (0..slices)
            .map(|k| {
                Mat::from_fn(rows, dims, |i, j| {
                    slice(quantised[(i, j)], k as u32 * bits, bits) as f64
                })
            })
            .collect();
        let overflow = || EvaluateError::InvalidOption {
            option: "feature statistics".into(),
            value: format!("{} images", self.count + rows as u64),
            reason: "the exact sums of products would overflow 128 bits: features this large \
                     cannot be summed exactly"
                .into(),
        };
        for (i, sum) in self.sums.iter_mut().enumerate() {
            let column: i128 = (0..rows).map(|r| i128::from(quantised[(r, i)])).sum();
            *sum = sum.checked_add(column).ok_or_else(overflow)?;
        }
        let mut product = Mat::<f64>::zeros(dims, dims);
        for a in 0..slices {
            for b in 0..slices {
                // Only the upper triangle is read: faer computes only it.
                triangular::matmul(
                    product.as_mut(),
                    BlockStructure::TriangularUpper,
                    Accum::Replace,
                    parts[a].transpose(),
                    BlockStructure::Rectangular,
                    parts[b].as_ref(),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::rayon(0),
                );
                let shift = (a + b) as u32 * bits;
                let failed = packed_columns(&mut self.products)
                    .into_par_iter()
                    .map(|(j, entries)| {
                        let column = &product.col_as_slice(j)[..=j];
                        accumulate(entries, column, shift)
                    })
                    .any(|ok| !ok);
                if failed {
                    return Err(overflow());
                }
            }
        }
        self.count += rows as u64;
        Ok(())
    }

    /// Adds the statistics of another set of the same length: the statistics of the union.
    pub fn merge(&mut self, other: &ExactMoments) -> Result<(), EvaluateError> {
        if other.dims != self.dims {
            return Err(EvaluateError::FeatureDims {
                what: "the statistics merged".into(),
                expected: self.dims,
                found: other.dims,
            });
        }
        let overflow = || EvaluateError::InvalidOption {
            option: "feature statistics".into(),
            value: format!("{} + {} images", self.count, other.count),
            reason: "the merged sums would overflow 128 bits".into(),
        };
        let add = |a: &[i128], b: &[i128]| -> Option<Vec<i128>> {
            a.iter().zip(b).map(|(x, y)| x.checked_add(*y)).collect()
        };
        let sums = add(&self.sums, &other.sums).ok_or_else(overflow)?;
        let products = add(&self.products, &other.products).ok_or_else(overflow)?;
        self.count = self.count.checked_add(other.count).ok_or_else(overflow)?;
        self.sums = sums;
        self.products = products;
        Ok(())
    }

    /// The mean and sample covariance (divided by `count - 1`), from the exact sums.
    pub fn stats(&self) -> Result<FeatureStats, EvaluateError> {
        if self.count < 2 {
            return Err(EvaluateError::TooFewImages {
                what: "a covariance".into(),
                needed: 2,
                found: usize::try_from(self.count).unwrap_or(usize::MAX),
            });
        }
        let n = self.count;
        let scale = (2.0f64).powi(-FEATURE_BITS);
        let mean: Vec<f64> = self
            .sums
            .iter()
            .map(|&s| s as f64 / n as f64 * scale)
            .collect();
        let divisor = n as f64 * (n - 1) as f64;
        let scale2 = scale * scale;
        let mut cov = Mat::<f64>::zeros(self.dims, self.dims);
        for j in 0..self.dims {
            for i in 0..=j {
                let numerator = I256::mul(self.products[j * (j + 1) / 2 + i], i128::from(n))
                    .sub(I256::mul(self.sums[i], self.sums[j]));
                let value = numerator.to_f64() / divisor * scale2;
                cov[(i, j)] = value;
                cov[(j, i)] = value;
            }
        }
        Ok(FeatureStats {
            mean,
            cov,
            count: usize::try_from(n).unwrap_or(usize::MAX),
        })
    }
}

/// The packed upper triangle split into its columns: `(j, entries (0..=j, j))`.
fn packed_columns(products: &mut [i128]) -> Vec<(usize, &mut [i128])> {
    let mut columns = Vec::new();
    let mut rest = products;
    let mut j = 0;
    while !rest.is_empty() {
        let (column, tail) = rest.split_at_mut((j + 1).min(rest.len()));
        columns.push((j, column));
        rest = tail;
        j += 1;
    }
    columns
}

/// `entries[i] += column[i] * 2^shift` for integer-valued `column` entries below `2^53`;
/// false (some entries left unchanged) on an overflow.
fn accumulate(entries: &mut [i128], column: &[f64], shift: u32) -> bool {
    for (entry, &value) in entries.iter_mut().zip(column) {
        // Integers below 2^53: the cast is exact; below 2^127 after a shift of at most 74.
        let exact = i128::from(value as i64);
        let term = if shift <= 74 {
            Some(exact << shift)
        } else {
            exact.checked_mul(1i128 << shift)
        };
        match term.and_then(|t| entry.checked_add(t)) {
            Some(sum) => *entry = sum,
            None => return false,
        }
    }
    true
}

/// `trunc(x * 2^FEATURE_BITS)`: exact for `|x| < 2^20` (a power-of-two scaling of an f32 is
/// exact in f64, and so is dropping its fraction).
fn quantise(x: f32) -> i64 {
    (f64::from(x) * (2.0f64).powi(FEATURE_BITS)).trunc() as i64
}

/// The signed `bits`-bit digit of `q` starting at bit `shift` of its magnitude.
fn slice(q: i64, shift: u32, bits: u32) -> i64 {
    let digit = ((q.unsigned_abs() >> shift) & ((1 << bits) - 1)) as i64;
    if q < 0 { -digit } else { digit }
}

/// A signed 256-bit integer in two's complement (four 64-bit limbs, least significant first):
/// just enough for the covariance numerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct I256([u64; 4]);

impl I256 {
    fn negative(&self) -> bool {
        self.0[3] >> 63 == 1
    }

    fn neg(self) -> I256 {
        let mut out = [0u64; 4];
        let mut carry = 1u64;
        for (o, limb) in out.iter_mut().zip(self.0) {
            let (v, c) = (!limb).overflowing_add(carry);
            *o = v;
            carry = u64::from(c);
        }
        I256(out)
    }

    /// `a * b` (never overflows 256 bits).
    fn mul(a: i128, b: i128) -> I256 {
        let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
        let (x0, x1) = (x as u64 as u128, (x >> 64) as u64 as u128);
        let (y0, y1) = (y as u64 as u128, (y >> 64) as u64 as u128);
        let mut limbs = [0u64; 4];
        for (value, at) in [(x0 * y0, 0), (x0 * y1, 1), (x1 * y0, 1), (x1 * y1, 2)] {
            let mut carry = 0u128;
            let mut k = at;
            let mut rest = value;
            while (rest != 0 || carry != 0) && k < 4 {
                let sum = u128::from(limbs[k]) + (rest as u64 as u128) + carry;
                limbs[k] = sum as u64;
                carry = sum >> 64;
                rest >>= 64;
                k += 1;
            }
        }
        let product = I256(limbs);
        if (a < 0) != (b < 0) {
            product.neg()
        } else {
            product
        }
    }

    fn sub(self, other: I256) -> I256 {
        let other = other.neg();
        let mut out = [0u64; 4];
        let mut carry = 0u64;
        for ((o, a), b) in out.iter_mut().zip(self.0).zip(other.0) {
            let (v, c1) = a.overflowing_add(b);
            let (v, c2) = v.overflowing_add(carry);
            *o = v;
            carry = u64::from(c1 || c2);
        }
        I256(out)
    }

    /// The value rounded to f64: its top 128 bits correctly rounded (the bits below change
    /// the result by less than `2^-64` relative).
    fn to_f64(self) -> f64 {
        if self.negative() {
            return -self.neg().to_f64();
        }
        let limbs = self.0;
        match (0..4).rev().find(|&k| limbs[k] != 0) {
            None => 0.0,
            Some(0) => limbs[0] as f64,
            Some(top) => {
                let high = (u128::from(limbs[top]) << 64) | u128::from(limbs[top - 1]);
                high as f64 * (2.0f64).powi(64 * (top as i32 - 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn features(rows: usize, dims: usize, seed: u64, scale: f32) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, dims), |_| {
            let v: f32 = rng.random::<f32>() * scale;
            // Some exact zeros and some tiny values, as ReLU features have.
            match rng.random_range(0..10) {
                0 => 0.0,
                1 => v * 1e-6,
                _ => v,
            }
        })
    }

    #[test]
    fn any_split_in_any_order_gives_the_same_bits() {
        for scale in [3.0f32, 100.0, 5000.0] {
            let all = features(300, 7, 1, scale);
            let whole = ExactMoments::of(all.view()).unwrap();
            for cut in [1, 129, 200] {
                let mut later = ExactMoments::of(all.slice(s![cut.., ..])).unwrap();
                later
                    .merge(&ExactMoments::of(all.slice(s![..cut, ..])).unwrap())
                    .unwrap();
                assert_eq!(later, whole, "scale {scale}, cut {cut}");
            }
            let mut reversed = all.clone();
            reversed.invert_axis(ndarray::Axis(0));
            assert_eq!(ExactMoments::of(reversed.view()).unwrap(), whole);
        }
    }

    #[test]
    fn the_sums_are_those_of_the_quantised_features() {
        let all = features(260, 5, 2, 40.0);
        let moments = ExactMoments::of(all.view()).unwrap();
        for i in 0..5 {
            let sum: i128 = all.column(i).iter().map(|&x| i128::from(quantise(x))).sum();
            assert_eq!(moments.sums()[i], sum);
            for j in i..5 {
                let product: i128 = all
                    .rows()
                    .into_iter()
                    .map(|r| i128::from(quantise(r[i])) * i128::from(quantise(r[j])))
                    .sum();
                assert_eq!(
                    moments.products()[j * (j + 1) / 2 + i],
                    product,
                    "({i}, {j})"
                );
            }
        }
    }

    #[test]
    fn mean_and_covariance_match_the_centred_f64_computation() {
        let all = features(500, 6, 3, 10.0);
        let stats = ExactMoments::of(all.view()).unwrap().stats().unwrap();
        let n = all.nrows() as f64;
        for i in 0..6 {
            let mean_i = all.column(i).iter().map(|&x| f64::from(x)).sum::<f64>() / n;
            assert!((stats.mean[i] - mean_i).abs() <= 1e-12 * mean_i.abs().max(1.0));
            for j in 0..6 {
                let mean_j = all.column(j).iter().map(|&x| f64::from(x)).sum::<f64>() / n;
                let cov: f64 = all
                    .rows()
                    .into_iter()
                    .map(|r| (f64::from(r[i]) - mean_i) * (f64::from(r[j]) - mean_j))
                    .sum::<f64>()
                    / (n - 1.0);
                let got = stats.cov[(i, j)];
                assert!(
                    (got - cov).abs() <= 1e-11 * cov.abs().max(1.0),
                    "{got} vs {cov}"
                );
            }
        }
    }

    #[test]
    fn out_of_range_features_are_refused_and_change_nothing() {
        let mut moments = ExactMoments::of(features(4, 2, 4, 1.0).view()).unwrap();
        let before = moments.clone();
        let mut bad = features(3, 2, 5, 1.0);
        bad[(2, 1)] = 2e6;
        let err = moments.add(bad.view()).unwrap_err().to_string();
        assert!(err.contains("2000000") && err.contains("1048576"), "{err}");
        bad[(2, 1)] = f32::NAN;
        assert!(matches!(
            moments.add(bad.view()),
            Err(EvaluateError::NonFinite { .. })
        ));
        assert_eq!(moments, before);
    }

    #[test]
    fn slices_cover_the_magnitude_and_keep_block_sums_below_2_pow_53() {
        for magnitude in 1..=60u32 {
            let (slices, bits, rows) = slicing(magnitude);
            assert!(
                slices as u32 * bits >= magnitude && bits <= 23,
                "{magnitude}"
            );
            let largest = ((1u128 << bits) - 1).pow(2) * rows as u128;
            assert!(
                largest < 1u128 << 53,
                "{magnitude}: {rows} rows of {bits} bits"
            );
        }
        assert_eq!(slicing(43), (2, 22, 512));
        assert_eq!(slicing(46), (2, 23, 128));
    }

    #[test]
    fn wide_integers_multiply_subtract_and_round() {
        let big = (1i128 << 100) + 12345;
        let product = I256::mul(big, -big);
        let expected = -(big as f64) * (big as f64);
        assert_eq!(product.to_f64(), expected);
        let zero = I256::mul(big, 3).sub(I256::mul(3 * big, 1));
        assert_eq!(zero.to_f64(), 0.0);
        assert_eq!(I256::mul(-5, 1).to_f64(), -5.0);
        let mut packed = vec![0i128; packed_len(4)];
        let columns = packed_columns(&mut packed);
        let lengths: Vec<(usize, usize)> = columns.iter().map(|(j, c)| (*j, c.len())).collect();
        assert_eq!(lengths, vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
    }
}
