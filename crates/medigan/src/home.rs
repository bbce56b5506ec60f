//! The medigan home: where catalogues, packages and temporary files live on disk.
//!
//! ```text
//! $MEDIGAN_HOME/                 (default: the platform cache dir + `medigan`)
//! ├── catalog-v1/
//! │   ├── upstream.json          last download of the upstream catalogue
//! │   └── local.json             the user's own entries (`catalog::user`), read on top
//! ├── packages-v1/
//! │   └── <sha256>/              one unpacked package per content hash
//! ├── files-v1/
//! │   └── <sha256>/<file name>   single files kept as downloaded (FID Inception weights)
//! ├── graphs-v1/
//! │   └── fid-inception-v1-<sha256>.onnx   the FID Inception's weights as an ONNX graph
//! ├── envs-v1/
//! │   └── <model id>/            Python environment of a legacy model (see `legacy`)
//! ├── wheelhouse-v1/             Python wheels from an offline bundle (`bundle`): legacy
//! │                              environments then install from it only
//! ├── legacy/bridge-*.py         the bridge script legacy models run through
//! ├── legacy-lock.json           link -> sha256 of each legacy package's first download
//! ├── locks/                     lock files guarding concurrent fetches
//! └── tmp/                       downloads and unpacks in progress (same filesystem)
//! ```
//! Order of precedence: an explicit path (`--cache-dir`), then `MEDIGAN_HOME`, then the
//! platform cache directory (`~/.cache/medigan` on Linux).

use std::path::{Path, PathBuf};

/// Environment variable that overrides the medigan home ([`crate::env::HOME`]).
pub const HOME_ENV: &str = crate::env::HOME.name;

/// The root of medigan's on-disk cache, with one method per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home rooted at `root` (nothing is created until a bucket is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// The home chosen by precedence: `explicit`, then `MEDIGAN_HOME`, then the platform cache dir.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        if let Some(path) = explicit {
            return Home::new(path);
        }
        if let Some(path) = crate::env::HOME.path() {
            return Home::new(path);
        }
        let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
        Home::new(base.join("medigan"))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Cached catalogues (`catalog-v1/`).
    pub fn catalog_dir(&self) -> PathBuf {
        self.root.join("catalog-v1")
    }

    /// Unpacked packages by content hash (`packages-v1/`).
    pub fn packages_dir(&self) -> PathBuf {
        self.root.join("packages-v1")
    }

    /// Single files kept as downloaded (e.g. network weights), by content hash (`files-v1/`).
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files-v1")
    }

    /// ONNX graphs built from downloaded weights, for onnxruntime (`graphs-v1/`).
    pub fn graphs_dir(&self) -> PathBuf {
        self.root.join("graphs-v1")
    }

    /// Python environments of legacy models, one per model (`envs-v1/`).
    pub fn envs_dir(&self) -> PathBuf {
        self.root.join("envs-v1")
    }

    /// Python wheels imported from an offline bundle (`wheelhouse-v1/`, see [`crate::bundle`]).
    pub fn wheelhouse_dir(&self) -> PathBuf {
        self.root.join("wheelhouse-v1")
    }

    /// Lock files (`locks/`).
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// Work in progress, on the same filesystem as the buckets so renames are atomic (`tmp/`).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}
