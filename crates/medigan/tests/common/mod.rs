//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the shared reference material (`../shared/reference/NAME` beside the repository).
///
/// Panics with a clear message when the shared folder is missing, because these tests cannot
/// run without it.
pub fn shared_reference(name: &str) -> PathBuf {
    let path = repo_root().join("../shared/reference").join(name);
    assert!(
        path.is_file(),
        "missing shared reference file {}: these tests need the `shared/` folder beside the repository",
        path.display()
    );
    path
}
