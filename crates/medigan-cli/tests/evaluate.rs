//! `medigan fid` and `medigan evaluate` end to end, with the small ONNX extractor of
//! `tests/fixtures/fid/` (written by `scripts/make_fid_fixtures.py`) and the bundled model.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

mod common;
use common::medigan;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn extractor() -> String {
    format!("onnx:{}", fixtures().join("extractor.onnx").display())
}

#[test]
fn fid_of_a_folder_with_itself_is_zero_and_reports_the_lower_bound() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    let output = medigan(home.path())
        .args(["--json", "fid"])
        .args([&images, &images])
        .args([
            "--extractor",
            &extractor(),
            "--range",
            "0,1",
            "--split-seed",
            "4",
        ])
        .output()
        .unwrap();
    let value = json(&output);
    assert_eq!(value["metric"], "FID_EXTRACTOR");
    let report = &value["reports"][0];
    assert!(report["fid_rs"].as_f64().unwrap().abs() < 1e-6, "{report}");
    assert!(report["fid_rr"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(report["real_images"], 6);
    assert_eq!(report["split_seed"], 4);
    let performance = &report["catalog"]["selection"]["performance"];
    assert!(performance.get("FID_EXTRACTOR").is_some(), "{report}");
}

#[test]
fn evaluate_generates_as_many_samples_as_real_images_and_plots() {
    let home = tempfile::tempdir().unwrap();
    let real = home.path().join("real");
    let generated = medigan(home.path())
        .args([
            "-q",
            "--offline",
            "generate",
            "00900",
            "-n",
            "12",
            "--seed",
            "9",
            "-o",
        ])
        .arg(&real)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let plot = home.path().join("fig8.svg");
    let output = medigan(home.path())
        .args(["--json", "--offline", "evaluate", "00900", "--real"])
        .arg(&real)
        .args([
            "--extractor",
            &extractor(),
            "--metric-key",
            "FID_TEST",
            "--plot",
        ])
        .arg(&plot)
        .output()
        .unwrap();
    let value = json(&output);
    let report = &value["reports"][0];
    assert_eq!(report["subject"], "00900_PHANTOM_DEMO");
    assert_eq!(report["real_images"], 12);
    assert_eq!(
        report["synthetic_images"], 12,
        "N defaults to the real set's size"
    );
    let fid_rs = report["fid_rs"].as_f64().unwrap();
    let fid_rr = report["fid_rr"].as_f64().unwrap();
    let ratio = report["fid_ratio"].as_f64().unwrap();
    assert!((ratio - (1.0 - (fid_rs - fid_rr) / fid_rs)).abs() < 1e-12);
    let performance = &report["catalog"]["selection"]["performance"];
    assert_eq!(
        performance.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["FID_TEST", "FID_TEST_ratio"]
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains(r#"class="point""#),
        "{svg}"
    );

    // The table form prints the lines to paste.
    let output = medigan(home.path())
        .args(["--offline", "evaluate", "00900", "-n", "8", "--real"])
        .arg(&real)
        .args(["--extractor", &extractor()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("FID_rs") && text.contains("rFID"), "{text}");
    assert!(text.contains("\"FID_EXTRACTOR_ratio\""), "{text}");
}

#[test]
fn inception_offline_without_weights_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    let output = medigan(home.path())
        .args(["--offline", "fid"])
        .args([&images, &images])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pt_inception-2015-12-05-6726825d.pth"),
        "{stderr}"
    );
    assert!(stderr.contains("offline"), "{stderr}");
}

#[test]
fn bad_extractor_options_are_named() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    for (args, message) in [
        (vec!["--extractor", "resnet"], "unknown extractor `resnet`"),
        (
            vec!["--input-size", "224"],
            "--input-size applies to ONNX extractors",
        ),
        (
            vec!["--extractor", "onnx:x.onnx", "--range", "1,0"],
            "invalid --range `1,0`",
        ),
    ] {
        let output = medigan(home.path())
            .arg("fid")
            .args([&images, &images])
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
