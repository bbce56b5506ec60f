//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A reference file, from the repository's own copies: `medigan-global.json` is the upstream
/// catalogue snapshot `models/upstream-snapshot.json`; any other name is `tests/reference/NAME`.
pub fn shared_reference(name: &str) -> PathBuf {
    let path = match name {
        "medigan-global.json" => repo_root().join("models/upstream-snapshot.json"),
        other => repo_root().join("tests/reference").join(other),
    };
    assert!(path.is_file(), "missing reference file {}", path.display());
    path
}
