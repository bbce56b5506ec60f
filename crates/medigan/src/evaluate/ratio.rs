//! The real-real lower bound `FID_rr` and the FID ratio `rFID` (paper, section 4.2.1, eq. 5),
//! and the report of one evaluation in the catalogue's own key names.
//!
//! `FID_rr` is the FID between two random halves of the real set: an estimate of the real data's
//! own variation, the lower bound a perfect generator would reach. `rFID = 1 - (FID_rs -
//! FID_rr) / FID_rs`, in [0, 1] when `FID_rs >= FID_rr`; close to 1 means the synthetic data are
//! about as far from the real data as the real data are from themselves.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The FID ratio `rFID = 1 - (fid_rs - fid_rr) / fid_rs`; `None` when `fid_rs` is not positive
/// (the ratio is undefined).
pub fn fid_ratio(fid_rs: f64, fid_rr: f64) -> Option<f64> {
    (fid_rs > 0.0 && fid_rs.is_finite() && fid_rr.is_finite())
        .then(|| 1.0 - (fid_rs - fid_rr) / fid_rs)
}

/// Splits `0..count` into two random halves (sizes `count / 2` and `count - count / 2`), the
/// same for the same `seed`. Each half is in ascending order.
pub fn random_halves(count: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut second = order.split_off(count / 2);
    order.sort_unstable();
    second.sort_unstable();
    (order, second)
}

/// The result of one FID evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FidReport {
    /// What was evaluated: a model id, or the synthetic folder.
    pub subject: String,
    /// The feature extractor (its name, as [`super::FeatureExtractor::name`] gives it).
    pub extractor: String,
    /// FID between the real and the synthetic set.
    pub fid_rs: f64,
    /// FID between two random halves of the real set (`None` with fewer than 4 real images).
    pub fid_rr: Option<f64>,
    /// `1 - (fid_rs - fid_rr) / fid_rs`.
    pub fid_ratio: Option<f64>,
    /// Images in the real set.
    pub real_images: usize,
    /// Images in the synthetic set.
    pub synthetic_images: usize,
    /// Seed of the real-real split.
    pub split_seed: u64,
    /// Whether every image was min-max normalised before the extractor (the paper's "Norm").
    pub normalized: bool,
}

impl FidReport {
    /// The numbers in the catalogue's format, to paste into the model's `medigan.json`:
    /// `{"selection": {"performance": {"FID_no_images": n, "FID": x, "FID_ratio": r}}}`, FID
    /// rounded to 2 decimals and the ratio to 3 as in the catalogue. `metric` is the key of the
    /// FID (`FID` for the Inception FID, `FID_RADIMAGENET` for RadImageNet features); the ratio
    /// key is `<metric>_ratio`, and `FID_no_images` (the number of real images) is written
    /// with the `FID` metric only, as in the catalogue.
    pub fn catalog_performance(&self, metric: &str) -> Value {
        let mut performance = Map::new();
        if metric == "FID" {
            performance.insert("FID_no_images".into(), json!(self.real_images));
        }
        performance.insert(metric.into(), json!(round(self.fid_rs, 2)));
        performance.insert(
            format!("{metric}_ratio"),
            self.fid_ratio.map_or(Value::Null, |r| json!(round(r, 3))),
        );
        json!({ "selection": { "performance": performance } })
    }
}

/// `value` rounded to `decimals` decimals (for display and the catalogue).
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_cover_everything_once_and_depend_on_the_seed() {
        let (a, b) = random_halves(11, 7);
        assert_eq!((a.len(), b.len()), (5, 6));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert_eq!(random_halves(11, 7), (a.clone(), b));
        assert_ne!(random_halves(11, 8).0, a);
    }

    #[test]
    fn ratio_is_undefined_for_a_zero_fid() {
        assert_eq!(fid_ratio(0.0, 0.0), None);
        assert_eq!(fid_ratio(10.0, 10.0), Some(1.0));
    }
}
