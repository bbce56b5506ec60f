//! KID and PRDC against their reference implementations (torch-fidelity, clean-fid, prdc) on
//! the committed feature fixtures of `scripts/make_metric_fixtures.py`, CMMD against the NumPy
//! reference of `scripts/make_cmmd_fixtures.py`, and the values a set must get against itself;
//! repeats and their intervals.

mod common;

use std::path::PathBuf;

use medigan::evaluate::kid::{KidOptions, kid_of_subsets};
use medigan::evaluate::metrics::evaluate_features;
use medigan::evaluate::{
    EvaluateOptions, MetricOptions, MetricSet, Provenance, cmmd, kid, prdc, split_repeats,
};
use medigan::formats::npy::decode as parse_npy;
use ndarray::{Array2, Ix2, s};
use serde_json::Value;

fn fixtures() -> PathBuf {
    common::fixtures("metrics")
}

fn reference() -> Value {
    common::reference_json("metrics")
}

fn features(name: &str) -> Array2<f32> {
    features_in(&fixtures(), name)
}

fn features_in(dir: &std::path::Path, name: &str) -> Array2<f32> {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    parse_npy(&bytes)
        .unwrap()
        .0
        .into_dimensionality::<Ix2>()
        .unwrap()
}

fn indices(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

fn assert_relative(got: f64, expected: f64, what: &str) {
    let relative = (got - expected).abs() / expected.abs().max(f64::MIN_POSITIVE);
    assert!(
        relative < 1e-6,
        "{what}: got {got}, reference {expected} (relative error {relative:e})"
    );
}

#[test]
fn kid_matches_torch_fidelity_and_clean_fid_on_their_subsets() {
    let (real, synthetic) = (features("real.npy"), features("synthetic.npy"));
    let cases = reference()["kid"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let subsets: Vec<(Vec<usize>, Vec<usize>)> = case["subsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (indices(&pair[0]), indices(&pair[1])))
            .collect();
        let got = kid_of_subsets(real.view(), synthetic.view(), &subsets).unwrap();
        let package = case["package"].as_str().unwrap();
        assert_relative(got.mean, case["mean"].as_f64().unwrap(), package);
        if let Some(std) = case["std"].as_f64() {
            assert_relative(got.std, std, &format!("{package} std"));
        }
        assert_eq!((got.subsets, got.subset_size), (10, 50));
    }
}

#[test]
fn prdc_matches_the_prdc_package() {
    let (real, synthetic) = (features("real.npy"), features("synthetic.npy"));
    let reference = reference();
    let mut cases = reference["prdc"].as_array().unwrap().clone();
    cases.push(reference["prdc_self"].clone());
    for case in cases {
        let k = case["nearest_k"].as_u64().unwrap() as usize;
        let other = if case == reference["prdc_self"] {
            &real
        } else {
            &synthetic
        };
        let got = prdc(real.view(), other.view(), k).unwrap();
        for (name, value) in [
            ("precision", got.precision),
            ("recall", got.recall),
            ("density", got.density),
            ("coverage", got.coverage),
        ] {
            assert_relative(
                value,
                case[name].as_f64().unwrap(),
                &format!("{name} k={k}"),
            );
        }
    }
}

#[test]
fn one_distribution_has_kid_near_zero_and_a_set_itself_full_precision_and_recall() {
    let real = features("real.npy");
    let options = KidOptions {
        subsets: 20,
        subset_size: 30,
        seed: 1,
    };
    // Two disjoint halves of one set: the unbiased estimate is 0 up to the noise of its
    // subsets (within three standard errors of the mean), far below a real difference. (A set
    // against itself is not the right check: its subsets share rows, whose self-similarity
    // lands in the cross term and pulls the estimate below 0.)
    let (a, b) = (real.slice(s![..60, ..]), real.slice(s![60.., ..]));
    let halves = kid(a, b, &options).unwrap();
    let standard_error = halves.std / (options.subsets as f64).sqrt();
    assert!(
        halves.mean.abs() < 3.0 * standard_error,
        "KID of two halves = {halves:?}"
    );
    let against_synthetic = kid(a, features("synthetic.npy").view(), &options).unwrap();
    assert!(
        against_synthetic.mean > 10.0 * halves.mean.abs(),
        "KID(real, synthetic) = {against_synthetic:?}, KID of two halves = {halves:?}"
    );
    let same = prdc(real.view(), real.view(), 5).unwrap();
    assert_eq!(
        (same.precision, same.recall, same.coverage),
        (1.0, 1.0, 1.0)
    );
}

#[test]
fn kid_and_prdc_refuse_sets_too_small_for_them() {
    let real = features("real.npy");
    let three = real.slice(s![..3, ..]);
    let err = prdc(real.view(), three, 5).unwrap_err().to_string();
    assert!(err.contains("k = 5") && err.contains("got 3"), "{err}");
    let err = kid(real.view(), real.slice(s![..1, ..]), &KidOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("KID") && err.contains("got 1"), "{err}");
}

#[test]
fn cmmd_matches_the_numpy_reference_of_the_paper_formula() {
    let dir = common::fixtures("cmmd");
    let reference = common::reference_json("cmmd");
    assert_eq!(reference["sigma"], 10.0);
    assert_eq!(reference["scale"], 1000.0);
    let cases = reference["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 2);
    for (name, case) in cases {
        let real = features_in(&dir, &format!("{name}_real.npy"));
        let synthetic = features_in(&dir, &format!("{name}_synthetic.npy"));
        let expected = case["cmmd"].as_f64().unwrap();
        let got = cmmd(real.view(), synthetic.view()).unwrap();
        let relative = (got - expected).abs() / expected.abs();
        assert!(
            relative < 1e-9,
            "CMMD of {name}: got {got}, NumPy {expected} (relative error {relative:e})"
        );
        // The V-statistic of the reference: a set against itself is 0 (up to rounding).
        let itself = cmmd(real.view(), real.view()).unwrap();
        let expected_itself = case["cmmd_real_real"].as_f64().unwrap();
        assert!(
            (itself - expected_itself).abs() < 1e-9,
            "CMMD of {name} with itself: {itself}"
        );
    }
    // Too few rows, and rows of different widths, are refused by name.
    let small = features_in(&dir, "small_real.npy");
    let err = cmmd(small.view(), small.slice(s![..1, ..]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("CMMD") && err.contains("got 1"), "{err}");
    let narrow = features_in(&dir, "blocked_real.npy");
    assert!(cmmd(small.view(), narrow.view()).is_err());
}

#[test]
fn repeats_give_every_metric_a_mean_and_an_interval_holding_it() {
    let (real, synthetic) = (features("real.npy"), features("synthetic.npy"));
    let options = EvaluateOptions {
        metrics: MetricOptions {
            metrics: MetricSet::parse("all,cmmd").unwrap(),
            kid: KidOptions {
                subsets: 5,
                subset_size: 20,
                seed: 2,
            },
            nearest_k: 3,
            repeats: 4,
            ..MetricOptions::default()
        },
        ..EvaluateOptions::default()
    };
    let parts = split_repeats(&synthetic, 4).unwrap();
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|p| p.nrows() == 25));
    let provenance = Provenance {
        extractor: "fixture".into(),
        extractor_sha256: None,
        input_size: [1, 1],
        resize: String::new(),
        normalization: String::new(),
        min_max: false,
        real_images: 0,
        synthetic_images: 0,
        generation_seed: None,
        split_seed: 0,
        seed: 2,
        repeats: 4,
        metrics: vec![],
        tool: "test".into(),
    };
    let evaluation = evaluate_features("s", &real, &parts, provenance, &options).unwrap();
    let names: Vec<&str> = evaluation
        .intervals
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "FID",
            "FID_rr",
            "FID_ratio",
            "KID",
            "precision",
            "recall",
            "density",
            "coverage",
            "CMMD"
        ]
    );
    for (name, interval) in &evaluation.intervals {
        assert_eq!(interval.count, 4, "{name}");
        assert!(
            interval.low <= interval.mean && interval.mean <= interval.high,
            "{name}: {interval:?}"
        );
        assert!(interval.high > interval.low, "{name}: {interval:?}");
    }
    let fid = evaluation.fid.as_ref().unwrap();
    assert_eq!(fid.fid_rs, evaluation.interval("FID").unwrap().mean);
    assert_eq!(evaluation.provenance.synthetic_images, 25);
    let performance = &evaluation.catalog_performance("FID")["selection"]["performance"];
    for key in [
        "FID",
        "FID_ratio",
        "KID",
        "precision",
        "FID_ci95",
        "KID_ci95",
        "CMMD",
        "CMMD_ci95",
        "FID_provenance",
    ] {
        assert!(
            performance.get(key).is_some(),
            "{key} missing: {performance}"
        );
    }
    // One repeat is the plain evaluation: no bootstrap, no interval.
    let single = evaluate_features(
        "s",
        &real,
        std::slice::from_ref(&synthetic),
        evaluation.provenance.clone(),
        &options,
    )
    .unwrap();
    assert!(single.intervals.is_empty());
    let single_cmmd = single.cmmd.as_ref().unwrap();
    assert_eq!(
        single_cmmd.value,
        cmmd(real.view(), synthetic.view()).unwrap()
    );
    assert!(
        single_cmmd.note.contains("not CLIP embeddings"),
        "a non-onnx extractor is noted: {}",
        single_cmmd.note
    );
    let plain = medigan::evaluate::frechet_distance_of_features(real.view(), synthetic.view());
    assert_eq!(single.fid.unwrap().fid_rs, plain.unwrap());
}
