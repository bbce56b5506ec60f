//! Trust on first use for legacy packages: `<home>/legacy-lock.json` maps each package link to
//! the sha256 of its first download; every later download must match it.
//!
//! The upstream catalogue carries no package hashes, so the first download is trusted and
//! recorded. The file is a JSON object `{ "<link>": "<sha256>", ... }`, rewritten atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::LegacyError;

/// File name of the lock in the medigan home.
pub const LOCK_FILE: &str = "legacy-lock.json";

/// The recorded package hashes of one medigan home.
#[derive(Debug, Clone)]
pub struct TrustLock {
    path: PathBuf,
}

impl TrustLock {
    /// The lock of the home rooted at `root`.
    pub fn in_home(root: &Path) -> TrustLock {
        TrustLock {
            path: root.join(LOCK_FILE),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sha256 recorded for `link`, if any.
    pub fn get(&self, link: &str) -> Result<Option<String>, LegacyError> {
        Ok(self.read()?.remove(link))
    }

    /// Records `sha256` for `link` (kept if already recorded).
    pub fn record(&self, link: &str, sha256: &str) -> Result<(), LegacyError> {
        let mut entries = self.read()?;
        if entries.get(link).is_some_and(|s| s == sha256) {
            return Ok(());
        }
        entries.insert(link.to_string(), sha256.to_string());
        let text = serde_json::to_string_pretty(&entries).map_err(|e| self.error(e.to_string()))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.error(e.to_string()))?;
        crate::fs::write_atomically(&self.path, format!("{text}\n").as_bytes())
            .map_err(|e| self.error(e.to_string()))
    }

    fn read(&self) -> Result<BTreeMap<String, String>, LegacyError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.error(format!("it is not a JSON object of link -> sha256: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.error(e.to_string())),
        }
    }

    fn error(&self, reason: String) -> LegacyError {
        LegacyError::Lock {
            path: self.path.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_hash_is_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let lock = TrustLock::in_home(dir.path());
        assert_eq!(lock.get("http://x/a.zip").unwrap(), None);
        lock.record("http://x/a.zip", "aa").unwrap();
        lock.record("http://x/b.zip", "bb").unwrap();
        assert_eq!(lock.get("http://x/a.zip").unwrap().as_deref(), Some("aa"));
        assert_eq!(lock.get("http://x/b.zip").unwrap().as_deref(), Some("bb"));
    }
}
