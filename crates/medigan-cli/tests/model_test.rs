//! `medigan test`, the model test pipeline: passes on the shipped models, fails with the reason
//! on broken packages.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{medigan, run};

/// A copy of the DCGAN fixture package whose `medigan.json` is changed by `edit`.
fn broken_dcgan(dir: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dcgan");
    assert!(
        source.join("model.onnx").is_file(),
        "missing fixture {}: run scripts/make_fixtures.py",
        source.display()
    );
    let package = dir.join("package");
    std::fs::create_dir_all(&package).unwrap();
    for file in ["model.onnx", "LICENSE", "README.md"] {
        std::fs::copy(source.join(file), package.join(file)).unwrap();
    }
    let mut catalog: Value =
        serde_json::from_slice(&std::fs::read(source.join("medigan.json")).unwrap()).unwrap();
    edit(&mut catalog["90001_FIXTURE_DCGAN"]["execution"]["onnx"]);
    let path = package.join("medigan.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    path
}

/// The JSON report of `medigan test --json` and the exit code.
fn test_json(command: &mut Command) -> (Option<i32>, Value) {
    let output = run(command.arg("--json"));
    let reports = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), reports)
}

#[test]
fn test_all_passes_on_the_bundled_model_offline() {
    let home = tempfile::tempdir().unwrap();
    let (code, reports) = test_json(medigan(home.path()).args(["--offline", "test", "--all"]));
    assert_eq!(code, Some(0), "{reports}");
    let report = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model_id"] == "00900_PHANTOM_DEMO")
        .expect("the bundled model is tested");
    assert_eq!(report["verdict"], "pass");
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "load",
            "generate",
            "shape",
            "range",
            "determinism",
            "variation"
        ]
    );
}

#[test]
fn a_model_whose_values_leave_the_declared_range_fails_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    // The graph ends in tanh ([-1, 1]); the package claims [0, 1].
    let catalog = broken_dcgan(home.path(), |onnx| {
        onnx["outputs"][0]["range"] = serde_json::json!([0, 1]);
    });
    let (code, reports) = test_json(
        medigan(home.path())
            .args(["--backend", "tract", "--catalog"])
            .arg(&catalog)
            .args(["test", "90001"]),
    );
    assert_eq!(code, Some(1), "{reports}");
    let report = &reports[0];
    assert_eq!(report["verdict"], "fail");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["name"], "range");
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("outside the declared range [0, 1]"),
        "{detail}"
    );
}

#[test]
fn a_model_whose_graph_disagrees_with_its_declaration_fails_at_load_and_the_table_says_why() {
    let home = tempfile::tempdir().unwrap();
    let catalog = broken_dcgan(home.path(), |onnx| {
        onnx["inputs"][0]["shape"] = serde_json::json!([64, 1, 1]);
    });
    let output = run(medigan(home.path())
        .args(["--backend", "tract", "--catalog"])
        .arg(&catalog)
        .args(["test", "90001"]));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("load:") && stdout.contains("declared shape [64,1,1]"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed, 0 skipped"), "{stdout}");
}

#[test]
fn test_without_models_or_all_is_an_error_that_says_what_to_give() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path()).args(["--offline", "test"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--all"));
}
