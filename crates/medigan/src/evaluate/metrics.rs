//! Many metrics from one embedding pass: FID (with `FID_rr` and `rFID`), KID,
//! precision/recall/density/coverage and CMMD, over one or several repeats, with the provenance of the
//! scores. This is what `medigan fid`, `medigan metrics` and `medigan evaluate` report.
//!
//! With `repeats = R > 1`, repeat `r` compares the `r`-th of R disjoint synthetic sets (disjoint
//! seed ranges of a model's samples, or consecutive parts of a folder) with a bootstrap resample
//! of the real set (seed `seed + r`); `FID_rr` uses the split seed `split_seed + r` on the real
//! set itself (a bootstrap sample split in halves would share images between the halves). PRDC
//! compares with the real set itself: its nearest-neighbour radii shrink on the duplicates a
//! bootstrap resample holds. Every metric is then reported as the mean over the repeats with a
//! 95% interval ([`Interval`]).

use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::EvaluateOptions;
use super::cmmd::{Cmmd, cmmd};
use super::error::EvaluateError;
use super::frd::{FrdReport, FrdSettings};
use super::frechet::frechet_distance_of_features;
use super::interval::Interval;
use super::kid::{Kid, KidOptions, kid};
use super::prdc::{DEFAULT_NEAREST_K, Prdc, prdc};
use super::provenance::Provenance;
use super::ratio::{FidReport, fid_ratio, random_halves, round};

/// Which metrics to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSet {
    /// FID, `FID_rr` and `rFID`.
    pub fid: bool,
    /// KID (mean and standard deviation over subsets).
    pub kid: bool,
    /// Precision, recall, density and coverage.
    pub prdc: bool,
    /// CMMD (Gaussian-kernel MMD on L2-normalised embeddings; meant for CLIP embeddings, so
    /// only when asked by name: `all` leaves it out).
    pub cmmd: bool,
    /// FRD, the Frechet Radiomics Distance (radiomics features, no network; two folders only;
    /// only when asked by name: `all` leaves it out).
    pub frd: bool,
}

impl MetricSet {
    /// FID only (what `medigan fid` and `medigan evaluate` compute unless asked).
    pub const FID: MetricSet = MetricSet {
        fid: true,
        kid: false,
        prdc: false,
        cmmd: false,
        frd: false,
    };
    /// Every metric (what `medigan metrics` computes unless asked).
    pub const ALL: MetricSet = MetricSet {
        fid: true,
        kid: true,
        prdc: true,
        cmmd: false,
        frd: false,
    };

    /// Parses `fid,kid,prdc,cmmd,frd` (any non-empty subset, in any order) or `all` (fid, kid
    /// and prdc; `all,cmmd` adds CMMD, `all,frd` the FRD).
    pub fn parse(text: &str) -> Result<MetricSet, EvaluateError> {
        let mut set = MetricSet {
            fid: false,
            kid: false,
            prdc: false,
            cmmd: false,
            frd: false,
        };
        for name in text.split(',').map(|n| n.trim().to_ascii_lowercase()) {
            match name.as_str() {
                "fid" => set.fid = true,
                "kid" => set.kid = true,
                "prdc" => set.prdc = true,
                "cmmd" => set.cmmd = true,
                "frd" => set.frd = true,
                "all" => {
                    set = MetricSet {
                        cmmd: set.cmmd,
                        frd: set.frd,
                        ..MetricSet::ALL
                    }
                }
                _ => {
                    return Err(EvaluateError::InvalidOption {
                        option: "metric".into(),
                        value: name,
                        reason:
                            "expected a comma-separated list of fid, kid, prdc, cmmd, frd (or all)"
                                .into(),
                    });
                }
            }
        }
        Ok(set)
    }

    /// The names of the metrics in the set.
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("fid", self.fid),
            ("kid", self.kid),
            ("prdc", self.prdc),
            ("cmmd", self.cmmd),
            ("frd", self.frd),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }

    /// Whether a metric of the set needs the images embedded by a network (all but FRD).
    pub fn embeds(&self) -> bool {
        self.fid || self.kid || self.prdc || self.cmmd
    }
}

impl Default for MetricSet {
    fn default() -> Self {
        MetricSet::FID
    }
}

/// Which metrics, how, and how many repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricOptions {
    /// The metrics.
    pub metrics: MetricSet,
    /// KID's subsets; its seed also seeds the bootstrap of the real set.
    pub kid: KidOptions,
    /// The `k` of PRDC's nearest-neighbour radii.
    pub nearest_k: usize,
    /// Repeats (1: one evaluation, no bootstrap).
    pub repeats: usize,
    /// The FRD's version and convention (when `metrics.frd`).
    pub frd: FrdSettings,
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions {
            metrics: MetricSet::default(),
            kid: KidOptions::default(),
            nearest_k: DEFAULT_NEAREST_K,
            repeats: 1,
            frd: FrdSettings::default(),
        }
    }
}

/// The report of one evaluation: the metrics asked for, their intervals over repeats, and
/// where the numbers come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// What was evaluated: a model id, or the synthetic folder.
    pub subject: String,
    /// FID, `FID_rr`, `rFID` (means over repeats).
    pub fid: Option<FidReport>,
    /// KID (mean over repeats of the subsets' mean and standard deviation).
    pub kid: Option<Kid>,
    /// PRDC (means over repeats).
    pub prdc: Option<Prdc>,
    /// CMMD (mean over repeats).
    pub cmmd: Option<Cmmd>,
    /// The FRD (of the folders; no repeats).
    pub frd: Option<FrdReport>,
    /// Each metric's mean and 95% interval over the repeats (empty with one repeat).
    pub intervals: Vec<(String, Interval)>,
    /// Where the numbers come from.
    pub provenance: Provenance,
}

/// One repeat's numbers.
#[derive(Debug, Clone, Copy)]
struct RepeatScores {
    fid_rs: Option<f64>,
    fid_rr: Option<f64>,
    kid: Option<Kid>,
    prdc: Option<Prdc>,
    cmmd: Option<f64>,
}

/// Evaluates `synthetic` (one feature set per repeat) against `real`.
pub fn evaluate_features(
    subject: impl Into<String>,
    real: &Array2<f32>,
    synthetic: &[Array2<f32>],
    mut provenance: Provenance,
    options: &EvaluateOptions,
) -> Result<Evaluation, EvaluateError> {
    let metrics = &options.metrics;
    if synthetic.is_empty() {
        return Err(EvaluateError::TooFewImages {
            what: "an evaluation".into(),
            needed: 1,
            found: 0,
        });
    }
    let repeats = synthetic.len();
    let mut scores = Vec::with_capacity(repeats);
    for (r, synthetic) in synthetic.iter().enumerate() {
        let resampled = (repeats > 1).then(|| bootstrap(real, metrics.kid.seed + r as u64));
        let real_r = resampled.as_ref().unwrap_or(real);
        scores.push(score_repeat(real, real_r, synthetic, r as u64, options)?);
    }
    provenance.real_images = real.nrows();
    provenance.synthetic_images = synthetic[0].nrows();
    provenance.repeats = repeats;
    let subject = subject.into();
    Ok(Evaluation {
        fid: metrics
            .metrics
            .fid
            .then(|| mean_fid(&subject, &scores, &provenance, options)),
        kid: metrics.metrics.kid.then(|| mean_kid(&scores)).flatten(),
        prdc: metrics.metrics.prdc.then(|| mean_prdc(&scores)).flatten(),
        cmmd: metrics
            .metrics
            .cmmd
            .then(|| mean_of(scores.iter().map(|s| s.cmmd)))
            .flatten()
            .map(|value| Cmmd::new(value, &provenance.extractor)),
        frd: None,
        intervals: if repeats > 1 {
            intervals(&scores)
        } else {
            Vec::new()
        },
        subject,
        provenance,
    })
}

fn score_repeat(
    real: &Array2<f32>,
    real_r: &Array2<f32>,
    synthetic: &Array2<f32>,
    r: u64,
    options: &EvaluateOptions,
) -> Result<RepeatScores, EvaluateError> {
    let metrics = &options.metrics;
    let mut scores = RepeatScores {
        fid_rs: None,
        fid_rr: None,
        kid: None,
        prdc: None,
        cmmd: None,
    };
    if metrics.metrics.fid {
        scores.fid_rs = Some(frechet_distance_of_features(
            real_r.view(),
            synthetic.view(),
        )?);
        if real.nrows() >= 4 {
            let (a, b) = random_halves(real.nrows(), options.split_seed + r);
            let (first, second) = (real.select(Axis(0), &a), real.select(Axis(0), &b));
            scores.fid_rr = Some(frechet_distance_of_features(first.view(), second.view())?);
        }
    }
    if metrics.metrics.kid {
        let kid_options = KidOptions {
            seed: metrics.kid.seed + r,
            ..metrics.kid
        };
        scores.kid = Some(kid(real_r.view(), synthetic.view(), &kid_options)?);
    }
    if metrics.metrics.prdc {
        scores.prdc = Some(prdc(real.view(), synthetic.view(), metrics.nearest_k)?);
    }
    if metrics.metrics.cmmd {
        scores.cmmd = Some(cmmd(real_r.view(), synthetic.view())?);
    }
    Ok(scores)
}

/// `real`'s rows drawn with replacement (as many as it has), seeded.
pub fn bootstrap(real: &Array2<f32>, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<usize> = (0..real.nrows())
        .map(|_| rng.random_range(0..real.nrows()))
        .collect();
    real.select(Axis(0), &rows)
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Option<Vec<f64>> = values.collect();
    values.and_then(|v| Interval::of(&v)).map(|i| i.mean)
}

fn mean_fid(
    subject: &str,
    scores: &[RepeatScores],
    provenance: &Provenance,
    options: &EvaluateOptions,
) -> FidReport {
    let fid_rs = mean_of(scores.iter().map(|s| s.fid_rs)).unwrap_or(f64::NAN);
    let fid_rr = mean_of(scores.iter().map(|s| s.fid_rr));
    let fid_ratio = if scores.len() > 1 {
        mean_of(
            scores
                .iter()
                .map(|s| s.fid_rs.zip(s.fid_rr).and_then(ratio)),
        )
    } else {
        fid_rr.and_then(|rr| fid_ratio(fid_rs, rr))
    };
    FidReport {
        subject: subject.to_string(),
        extractor: provenance.extractor.clone(),
        fid_rs,
        fid_rr,
        fid_ratio,
        real_images: provenance.real_images,
        synthetic_images: provenance.synthetic_images,
        split_seed: options.split_seed,
        normalized: options.features.min_max,
    }
}

fn ratio((fid_rs, fid_rr): (f64, f64)) -> Option<f64> {
    fid_ratio(fid_rs, fid_rr)
}

fn mean_kid(scores: &[RepeatScores]) -> Option<Kid> {
    let first = scores.first()?.kid?;
    Some(Kid {
        mean: mean_of(scores.iter().map(|s| s.kid.map(|k| k.mean)))?,
        std: mean_of(scores.iter().map(|s| s.kid.map(|k| k.std)))?,
        ..first
    })
}

fn mean_prdc(scores: &[RepeatScores]) -> Option<Prdc> {
    let first = scores.first()?.prdc?;
    let mean = |f: fn(&Prdc) -> f64| mean_of(scores.iter().map(|s| s.prdc.as_ref().map(f)));
    Some(Prdc {
        precision: mean(|p| p.precision)?,
        recall: mean(|p| p.recall)?,
        density: mean(|p| p.density)?,
        coverage: mean(|p| p.coverage)?,
        ..first
    })
}

fn intervals(scores: &[RepeatScores]) -> Vec<(String, Interval)> {
    type Pick = fn(&RepeatScores) -> Option<f64>;
    let picks: [(&str, Pick); 9] = [
        ("FID", |s| s.fid_rs),
        ("FID_rr", |s| s.fid_rr),
        ("FID_ratio", |s| s.fid_rs.zip(s.fid_rr).and_then(ratio)),
        ("KID", |s| s.kid.map(|k| k.mean)),
        ("precision", |s| s.prdc.map(|p| p.precision)),
        ("recall", |s| s.prdc.map(|p| p.recall)),
        ("density", |s| s.prdc.map(|p| p.density)),
        ("coverage", |s| s.prdc.map(|p| p.coverage)),
        ("CMMD", |s| s.cmmd),
    ];
    picks
        .into_iter()
        .filter_map(|(name, pick)| {
            let values: Option<Vec<f64>> = scores.iter().map(pick).collect();
            let interval = Interval::of(&values?)?;
            Some((name.to_string(), interval.within(bounds(name))))
        })
        .collect()
}

/// The values a metric can take: its interval is clipped to them.
fn bounds(name: &str) -> (f64, f64) {
    match name {
        "FID" | "FID_rr" | "density" | "CMMD" => (0.0, f64::INFINITY),
        "precision" | "recall" | "coverage" => (0.0, 1.0),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

impl Evaluation {
    /// The interval of a metric (`FID`, `FID_rr`, `FID_ratio`, `KID`, `precision`, ...).
    pub fn interval(&self, name: &str) -> Option<&Interval> {
        self.intervals
            .iter()
            .find_map(|(n, i)| (n == name).then_some(i))
    }

    /// The report as JSON: the FID report's fields (as `medigan fid` always wrote them), then
    /// `kid`, `prdc`, `intervals`, `provenance` and `catalog` (the catalogue lines).
    pub fn to_json(&self, metric_key: &str) -> Value {
        let mut map = match self.fid.as_ref().map(serde_json::to_value) {
            Some(Ok(Value::Object(map))) => map,
            _ => {
                let mut map = Map::new();
                map.insert("subject".into(), json!(self.subject));
                map.insert("extractor".into(), json!(self.provenance.extractor));
                map.insert("real_images".into(), json!(self.provenance.real_images));
                map.insert(
                    "synthetic_images".into(),
                    json!(self.provenance.synthetic_images),
                );
                map
            }
        };
        if let Some(note) = self.fid.as_ref().and_then(FidReport::ratio_note) {
            map.insert("fid_ratio_note".into(), json!(note));
        }
        map.insert("kid".into(), json!(self.kid));
        map.insert("prdc".into(), json!(self.prdc));
        if let Some(cmmd) = &self.cmmd {
            map.insert("cmmd".into(), json!(cmmd));
        }
        if let Some(frd) = &self.frd {
            map.insert("frd".into(), frd.to_json());
        }
        let intervals: Map<String, Value> = self
            .intervals
            .iter()
            .map(|(name, interval)| (name.clone(), json!(interval)))
            .collect();
        map.insert("intervals".into(), Value::Object(intervals));
        map.insert("provenance".into(), json!(self.provenance));
        map.insert("catalog".into(), self.catalog_performance(metric_key));
        Value::Object(map)
    }

    /// The lines for the model's `selection.performance`: the FID keys of
    /// [`FidReport::catalog_performance`], then `KID<suffix>`, `KID<suffix>_std`,
    /// `precision<suffix>`, `recall<suffix>`, `density<suffix>`, `coverage<suffix>`,
    /// `CMMD<suffix>` (the suffix
    /// is what follows `FID` in `metric_key`, e.g. `_RADIMAGENET`), `<name>_ci95: [low, high]`
    /// for each metric with repeats, and `<metric_key>_provenance`.
    pub fn catalog_performance(&self, metric_key: &str) -> Value {
        let suffix = metric_key.strip_prefix("FID").unwrap_or(metric_key);
        let mut performance = match &self.fid {
            Some(fid) => match fid.catalog_performance(metric_key) {
                Value::Object(mut entry) => entry
                    .remove("selection")
                    .and_then(|s| s.get("performance").cloned())
                    .and_then(|p| p.as_object().cloned())
                    .unwrap_or_default(),
                _ => Map::new(),
            },
            None => Map::new(),
        };
        if let Some(kid) = &self.kid {
            performance.insert(format!("KID{suffix}"), json!(round(kid.mean, 6)));
            performance.insert(format!("KID{suffix}_std"), json!(round(kid.std, 6)));
        }
        if let Some(p) = &self.prdc {
            for (name, value) in [
                ("precision", p.precision),
                ("recall", p.recall),
                ("density", p.density),
                ("coverage", p.coverage),
            ] {
                performance.insert(format!("{name}{suffix}"), json!(round(value, 4)));
            }
        }
        if let Some(cmmd) = &self.cmmd {
            performance.insert(format!("CMMD{suffix}"), json!(round(cmmd.value, 6)));
        }
        for (name, interval) in &self.intervals {
            let key = match name.strip_prefix("FID") {
                Some(rest) => format!("{metric_key}{rest}_ci95"),
                None => format!("{name}{suffix}_ci95"),
            };
            let decimals = if name == "KID" || name == "CMMD" {
                6
            } else {
                4
            };
            performance.insert(
                key,
                json!([
                    round(interval.low, decimals),
                    round(interval.high, decimals)
                ]),
            );
        }
        performance.insert(format!("{metric_key}_provenance"), json!(self.provenance));
        json!({ "selection": { "performance": performance } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_parse_and_bad_names_are_refused() {
        assert_eq!(MetricSet::parse("fid,kid,prdc").unwrap(), MetricSet::ALL);
        assert_eq!(MetricSet::parse("all").unwrap(), MetricSet::ALL);
        let kid = MetricSet::parse(" KID ").unwrap();
        assert_eq!(kid.names(), vec!["kid"]);
        let err = MetricSet::parse("fid,is").unwrap_err().to_string();
        assert!(
            err.contains("`is`") && err.contains("fid, kid, prdc, cmmd"),
            "{err}"
        );
        let with_cmmd = MetricSet::parse("cmmd,all").unwrap();
        assert!(with_cmmd.cmmd && with_cmmd.fid && with_cmmd.kid && with_cmmd.prdc);
        assert!(
            !MetricSet::parse("all").unwrap().cmmd,
            "all leaves CMMD (a CLIP metric) out"
        );
        assert_eq!(MetricSet::parse("cmmd").unwrap().names(), vec!["cmmd"]);
    }

    #[test]
    fn bootstrap_draws_rows_of_the_set_and_repeats_with_the_seed() {
        let real = Array2::from_shape_fn((50, 2), |(i, j)| (i * 2 + j) as f32);
        let a = bootstrap(&real, 3);
        assert_eq!(a.dim(), (50, 2));
        assert!(
            a.rows()
                .into_iter()
                .all(|r| r[1] == r[0] + 1.0 && r[0] % 2.0 == 0.0)
        );
        assert_eq!(bootstrap(&real, 3), a);
        assert_ne!(bootstrap(&real, 4), a);
    }
}
