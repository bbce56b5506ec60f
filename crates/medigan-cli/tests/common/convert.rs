//! Shared by the tests of `medigan convert` on folders (diffusers pipelines, MONAI bundles) and of
//! the diffusion sampler's outputs: the offline command, and the comparison of `.npy` outputs.

use std::path::Path;
use std::process::{Command, Output};

use super::medigan;

/// `medigan` with the test's home, offline, pip kept off any index (torch, diffusers and monai
/// come from the system Python, which the converter's environment sees).
pub fn medigan_offline(home: &Path, python: &str) -> Command {
    let mut command = medigan(home);
    command
        .env("MEDIGAN_PYTHON", python)
        .env("MEDIGAN_PIP_ARGS", "--no-index")
        .arg("--offline");
    command
}

/// Fails the test with both output streams when `medigan` did not succeed.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "medigan failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The values of an `.npy` file, flattened.
pub fn read_npy(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (array, _) = medigan::formats::npy::decode(&bytes).expect("an .npy file");
    array.iter().copied().collect()
}

/// Largest absolute difference relative to the largest absolute reference value.
pub fn relative(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "value counts differ");
    let diff = got
        .iter()
        .zip(want)
        .map(|(g, w)| f64::from((g - w).abs()))
        .fold(0.0, f64::max);
    let scale = want.iter().map(|w| f64::from(w.abs())).fold(0.0, f64::max);
    diff / scale
}
