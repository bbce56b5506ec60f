//! `medigan generate --format ...` end to end: the medical formats as a user asks for them, and
//! the errors for combinations a format cannot hold.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::fixture;

/// `medigan generate MODEL -n N -o OUT --format FORMAT` on a fixture catalogue, own home.
fn generate(home: &Path, case: &str, model: &str, format: &str, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medigan"))
        .env("MEDIGAN_HOME", home)
        .env_remove("MEDIGAN_CATALOG")
        .env_remove("MEDIGAN_CATALOG_URL")
        .env("NO_COLOR", "1")
        .args([
            "--offline",
            "generate",
            model,
            "-n",
            "2",
            "--format",
            format,
            "-o",
        ])
        .arg(out)
        .arg("--catalog")
        .arg(fixture(case))
        .output()
        .expect("the medigan binary runs")
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn each_format_writes_its_files_and_masks_follow_their_image() {
    let home = tempfile::tempdir().unwrap();
    for (case, model, format, expected) in [
        (
            "volume3d",
            "90005",
            "nifti-gz",
            ["00000.nii.gz", "00001.nii.gz"].as_slice(),
        ),
        ("dcgan", "90001", "png16", &["00000.png", "00001.png"]),
        (
            "image_mask",
            "90003",
            "dicom",
            &["00000.dcm", "00000_mask.dcm", "00001.dcm", "00001_mask.dcm"],
        ),
    ] {
        let out = home.path().join(format!("{case}-{format}"));
        let output = generate(home.path(), case, model, format, &out);
        assert!(
            output.status.success(),
            "{case} {format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.push("manifest.jsonl".into());
        want.sort();
        assert_eq!(names(&out), want, "{case} {format}");
    }
}

#[test]
fn a_format_that_cannot_hold_the_model_fails_before_writing_and_says_what_to_use() {
    let home = tempfile::tempdir().unwrap();
    // An unknown format is a usage error (exit 2, the choices listed by clap); a known format
    // that cannot hold the model's output is refused by the library (exit 1).
    for (case, model, format, code, needles) in [
        (
            "volume3d",
            "90005",
            "dicom",
            1,
            ["3D volumes", "--format nifti"],
        ),
        ("rgb", "90006", "nifti", 1, ["RGB", "--format png"]),
        ("dcgan", "90001", "jpeg2000", 2, ["'jpeg2000'", "nifti-gz"]),
    ] {
        let out = home.path().join(format!("{case}-{format}"));
        let output = generate(home.path(), case, model, format, &out);
        assert_eq!(output.status.code(), Some(code), "{case} {format}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{case} {format}: {needle} in {stderr}"
            );
        }
        assert!(!out.exists(), "{case} {format}: nothing written");
    }
}
