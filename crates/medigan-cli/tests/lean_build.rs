//! A lean build of the command line (cargo features left out) says which feature a command
//! needs, and writes or downloads nothing. The tests run only in such a build:
//!
//!     cargo test -p medigan-cli --no-default-features --test lean_build
//!
//! (the default build has every capability; the other tests cover it).

#![cfg(not(all(
    feature = "dicom",
    feature = "inception",
    feature = "viz",
    feature = "object-store"
)))]

mod common;

use std::path::Path;
use std::process::Output;

use common::{medigan, run};

/// The command failed with exit status 1 and `message` on stderr.
fn assert_refused(output: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(message), "{message} in {stderr}");
}

/// The entries of `dir` (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

#[cfg(not(feature = "dicom"))]
#[test]
fn generate_format_dicom_names_the_feature_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("samples");
    let output = run(medigan(&home.path().join("home"))
        .args([
            "--offline",
            "generate",
            "00900",
            "-n",
            "2",
            "--format",
            "dicom",
            "-o",
        ])
        .arg(&out));
    assert_refused(
        &output,
        "error: this build of medigan has no DICOM support (cargo feature `dicom`)",
    );
    assert!(!out.exists(), "no output folder");
}

#[cfg(not(feature = "object-store"))]
#[test]
fn a_store_url_names_the_feature_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path()).args([
        "--offline",
        "generate",
        "00900",
        "-n",
        "2",
        "-o",
        "s3://bucket/prefix",
    ]));
    assert_refused(
        &output,
        "this build of medigan has no object-store support (cargo feature `object-store`)",
    );
    assert!(
        !home.path().join("s3:").exists(),
        "no folder named like the URL"
    );
    let output = run(medigan(home.path()).args(["dataset", "verify", "gs://bucket/prefix"]));
    assert_refused(&output, "cargo feature `object-store`");
}

#[cfg(not(feature = "viz"))]
#[test]
fn visualize_names_the_feature() {
    let home = tempfile::tempdir().unwrap();
    let saves = home.path().join("saves");
    let output = run(medigan(home.path())
        .args([
            "--offline",
            "visualize",
            "00900",
            "--no-browser",
            "--save-dir",
        ])
        .arg(&saves));
    assert_refused(
        &output,
        "error: this build of medigan has no model visualiser (cargo feature `viz`)",
    );
    assert!(!saves.exists());
}

#[cfg(not(feature = "inception"))]
#[test]
fn fid_with_the_inception_extractor_names_the_feature_and_downloads_nothing() {
    let home = tempfile::tempdir().unwrap();
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid/images");
    // Online: the refusal comes before the weights would be fetched.
    let output = run(medigan(home.path()).arg("fid").arg(&images).arg(&images));
    assert_refused(
        &output,
        "error: this build of medigan has no native FID Inception network (cargo feature `inception`)",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hint: use an ONNX extractor"), "{stderr}");
    assert!(
        !entries(home.path()).contains(&"files-v1".to_string()),
        "{:?}",
        entries(home.path())
    );
}
