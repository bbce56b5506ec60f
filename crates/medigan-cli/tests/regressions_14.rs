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
