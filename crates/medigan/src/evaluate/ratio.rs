//! The real-real lower bound `FID_rr` and the FID ratio `rFID` (paper, section 4.2.1, eq. 5),
//! and the report of one evaluation in the catalogue's own key names.
//!
//! `FID_rr` is the FID between two random halves of the real set: an estimate of the real data's
//! own variation, the lower bound a perfect generator would reach. `rFID = 1 - (FID_rs -
//! FID_rr) / FID_rs`, in [0, 1] when `FID_rs >= FID_rr`; close to 1 means the synthetic data are
//! about as far from the real data as the real data are from themselves.
//!
//! When `FID_rs` is 0 within numerical precision (at most [`FID_ZERO`] times `max(1, FID_rr)`:
//! the synthetic set is the real set, or copies of it), the ratio is a quotient of rounding
//! noise (`medigan fid A A` once printed 9.5e12), so it is left undefined (`None`, `null` in
//! JSON, `-` in tables) and [`FidReport::ratio_note`] says why.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Below this fraction of `max(1, FID_rr)`, `FID_rs` counts as 0 (numerical noise of the
/// Frechet distance in f64 is around 1e-12 of the features' variance).
pub const FID_ZERO: f64 = 1e-6;

/// The FID ratio `rFID = 1 - (fid_rs - fid_rr) / fid_rs`; `None` when it is undefined: `fid_rs`
/// is 0 within numerical precision (see [`FID_ZERO`]), or a value is not finite.
pub fn fid_ratio(fid_rs: f64, fid_rr: f64) -> Option<f64> {
    (fid_rs.is_finite() && fid_rr.is_finite() && !fid_is_zero(fid_rs, fid_rr))
        .then(|| 1.0 - (fid_rs - fid_rr) / fid_rs)
}

/// Whether `fid_rs` is 0 within numerical precision, measured against `fid_rr`.
fn fid_is_zero(fid_rs: f64, fid_rr: f64) -> bool {
    fid_rs <= FID_ZERO * fid_rr.abs().max(1.0)
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
    /// Why the ratio is undefined, when it is (`FID_rs` is 0 within numerical precision).
    pub fn ratio_note(&self) -> Option<String> {
        let rr = self.fid_rr?;
        (self.fid_ratio.is_none() && self.fid_rs.is_finite() && fid_is_zero(self.fid_rs, rr)).then(
            || {
                format!(
                    "rFID of {} is undefined: FID_rs is {:.1e}, 0 within numerical precision \
                     (the synthetic images are the real ones, or copies of them), and the \
                     ratio 1 - (FID_rs - FID_rr) / FID_rs would divide by it",
                    self.subject, self.fid_rs
                )
            },
        )
    }

    /// The numbers in the catalogue's format, to paste into the model's `medigan.json`:
    /// `{"selection": {"performance": {"FID_no_images": n, "FID": x, "FID_ratio": r}}}`, FID
    /// with the catalogue's 2 decimals (4 significant digits below 1, so a small FID such as a
    /// RadImageNet one is not pasted as `0.0`; see [`catalog_distance`]) and the ratio with 3
    /// decimals as in the catalogue. `metric` is the key of the
    /// FID (`FID` for the Inception FID, `FID_RADIMAGENET` for RadImageNet features); the ratio
    /// key is `<metric>_ratio`, and `FID_no_images` (the number of real images) is written
    /// with the `FID` metric only, as in the catalogue.
    pub fn catalog_performance(&self, metric: &str) -> Value {
        let mut performance = Map::new();
        if metric == "FID" {
            performance.insert("FID_no_images".into(), json!(self.real_images));
        }
        performance.insert(metric.into(), json!(catalog_distance(self.fid_rs)));
        performance.insert(
            format!("{metric}_ratio"),
            self.fid_ratio.map_or(Value::Null, |r| json!(round(r, 3))),
        );
        json!({ "selection": { "performance": performance } })
    }
}

/// A distance (FID) as the catalogue writes it: 2 decimals from 1 up (`180.04`), else 4
/// significant digits (`0.01234`), and 0 within numerical precision (below 1e-9) as `0.0`.
pub fn catalog_distance(value: f64) -> f64 {
    if !value.is_finite() || value.abs() >= 1.0 {
        return round(value, 2);
    }
    if value.abs() < 1e-9 {
        return 0.0;
    }
    let decimals = 3 - value.abs().log10().floor() as i32;
    round(value, decimals.clamp(2, 12))
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
        assert_eq!(
            fid_ratio(5.0, 10.0),
            Some(2.0),
            "closer than the real halves: above 1"
        );
    }

    /// Issue #31: `medigan fid A A` gave FID_rs ~5e-12 and an rFID of 9.5e12.
    #[test]
    fn ratio_of_a_set_with_itself_is_undefined_and_said_why() {
        assert_eq!(fid_ratio(5.2e-12, 49.6), None);
        assert_eq!(fid_ratio(-3e-13, 49.6), None);
        assert_eq!(fid_ratio(1e-7, 0.5), None);
        assert!(
            fid_ratio(1e-3, 49.6).is_some(),
            "a small but real distance has a ratio"
        );
        let report = FidReport {
            subject: "a/".into(),
            extractor: "inception".into(),
            fid_rs: 5.2e-12,
            fid_rr: Some(49.6),
            fid_ratio: fid_ratio(5.2e-12, 49.6),
            real_images: 10,
            synthetic_images: 10,
            split_seed: 0,
            normalized: false,
        };
        let note = report.ratio_note().expect("a note");
        assert!(note.contains("undefined") && note.contains("a/"), "{note}");
        let performance = &report.catalog_performance("FID")["selection"]["performance"];
        assert_eq!(performance["FID"], json!(0.0));
        assert_eq!(performance["FID_ratio"], Value::Null);
    }

    #[test]
    fn catalogue_distances_keep_the_catalogue_precision() {
        assert_eq!(catalog_distance(180.0449), 180.04);
        assert_eq!(catalog_distance(1.2749), 1.27);
        assert_eq!(catalog_distance(0.0123456), 0.01235);
        assert_eq!(catalog_distance(0.77), 0.77);
        assert_eq!(catalog_distance(2e-12), 0.0);
    }
}
