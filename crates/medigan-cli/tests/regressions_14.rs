//! Regression tests of issue #14 (reliability and security), each named after its defect; the
//! library-level ones are in `crates/medigan/tests/regressions_14.rs`.

use std::path::Path;

mod common;
use common::{medigan, run};

/// Python files that, if imported from the working directory, leave a marker file there.
fn plant_python_modules(dir: &Path) {
    let body = "import pathlib\npathlib.Path(__file__).with_name('RAN-FROM-CWD').write_text('x')\n";
    for name in ["sysconfig.py", "site.py", "venv.py", "encodings.py"] {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

#[test]
fn defect_01_nothing_runs_from_the_working_directory() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    plant_python_modules(cwd.path());
    for args in [
        &["--offline", "generate", "00900", "-n", "1", "-o", "out"][..],
        &["--offline", "test", "00900"][..],
    ] {
        let output = run(medigan(home.path())
            .args(args)
            .current_dir(cwd.path())
            // Make discovery ask `python3` (no active environment, no explicit library).
            .env_remove("VIRTUAL_ENV")
            .env_remove("CONDA_PREFIX")
            .env_remove("ORT_DYLIB_PATH"));
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !cwd.path().join("RAN-FROM-CWD").exists(),
            "`medigan {}` imported Python code from the working directory",
            args.join(" ")
        );
    }
}

#[test]
fn defect_12_escape_sequences_in_the_catalogue_are_printed_escaped() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut catalog: serde_json::Value =
        serde_json::from_str(medigan::catalog::source::BUNDLED_CATALOG).unwrap();
    let entry = &mut catalog["00900_PHANTOM_DEMO"];
    entry["description"]["title"] = "Phantom \u{1b}]0;pwned\u{7}\u{1b}[2J".into();
    entry["selection"]["modality"] = serde_json::json!(["\u{1b}[31mCT"]);
    let file = dir.path().join("catalog.json");
    std::fs::write(&file, catalog.to_string()).unwrap();
    for args in [&["list"][..], &["info", "900"][..]] {
        let output = run(medigan(home.path()).arg("--catalog").arg(&file).args(args));
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{args:?}: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}[31mCT"),
            "{args:?}: escaped, not dropped: {text}"
        );
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn defect_20_cache_verify_and_rm_take_every_id_form() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let generated = run(medigan(home.path())
        .args(["--offline", "-q", "generate", "900", "-n", "1", "-o"])
        .arg(out.path()));
    assert!(generated.status.success(), "{}", stderr(&generated));
    for key in ["900", "00900", "00900_PHANTOM_DEMO"] {
        let verified = run(medigan(home.path()).args(["--offline", "cache", "verify", key]));
        assert!(
            verified.status.success(),
            "verify {key}: {}",
            stderr(&verified)
        );
    }
    let removed = run(medigan(home.path()).args(["--offline", "cache", "rm", "00900"]));
    assert!(removed.status.success(), "{}", stderr(&removed));
    let listed = run(medigan(home.path()).args(["--offline", "--json", "cache", "ls"]));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
}

#[test]
fn defect_19_a_thread_count_beyond_the_cores_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .args([
            "--offline",
            "generate",
            "900",
            "-n",
            "1",
            "--threads",
            "1000",
            "-o",
        ])
        .arg(out.path()));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("thread count") && message.contains("1000"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn defect_09_a_sample_over_the_size_limit_is_refused_before_generating() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .env("MEDIGAN_MAX_SAMPLE_BYTES", "1000")
        .args(["--offline", "generate", "900", "-n", "1", "-o"])
        .arg(out.path()));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    // 1 x 64 x 64 float32 = 16384 bytes.
    assert!(
        message.contains("16384 bytes") && message.contains("MEDIGAN_MAX_SAMPLE_BYTES"),
        "{message}"
    );
    assert!(
        !message.contains("panicked") && !message.contains("backtrace"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// The catalogue of a fixture in `tests/fixtures/regressions/`.
fn regression_fixture(case: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/regressions")
        .join(case)
        .join("medigan.json");
    assert!(
        path.is_file(),
        "missing {}: run scripts/make_regression_fixtures.py",
        path.display()
    );
    path
}

#[test]
fn defect_21_non_finite_outputs_are_reported() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .arg("--catalog")
        .arg(regression_fixture("nan_output"))
        .args(["generate", "90914", "-n", "2", "--format", "npy", "-o"])
        .arg(out.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("NaN or infinite"), "{message}");
    assert!(message.contains("90914_FIXTURE_NAN_OUTPUT"), "{message}");
}

#[test]
fn defect_21_quiet_runs_print_nothing_from_onnxruntime() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    if medigan::runtime::find_onnxruntime().is_err() {
        eprintln!("SKIPPED: no onnxruntime library here");
        return;
    }
    let output = run(medigan(home.path())
        .env("RUST_LOG", "trace")
        .args([
            "-q",
            "--offline",
            "generate",
            "900",
            "-n",
            "2",
            "--backend",
            "ort",
            "-o",
        ])
        .arg(out.path()));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "-q prints nothing on success");
}
