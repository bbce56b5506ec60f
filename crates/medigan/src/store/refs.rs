//! The link index: `packages-v1/refs/<sha256 of link>.json` maps a link to the sha256 of the
//! package it gave, so a link already fetched is found without the network (and offline).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StoreError;

/// One entry of the link index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LinkRef {
    /// The link as fetched.
    pub link: String,
    /// The model it was fetched for.
    pub label: String,
    /// The sha256 of the package it gave (its directory under `packages-v1/`).
    pub sha256: String,
}

/// The `refs/` directory of a packages bucket.
#[derive(Debug, Clone)]
pub(crate) struct Refs {
    dir: PathBuf,
}

impl Refs {
    pub(crate) fn new(packages_dir: &Path) -> Refs {
        Refs {
            dir: packages_dir.join("refs"),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The entry for link key `key`; a missing or unreadable entry is `None` (it is only a
    /// shortcut: the worst case is a fresh download).
    pub(crate) fn get(&self, key: &str) -> Option<LinkRef> {
        let text = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&text)
            .inspect_err(|e| tracing::warn!("ignoring unreadable link index entry {key}: {e}"))
            .ok()
    }

    /// Writes the entry for `key` atomically (a temporary file renamed into place).
    pub(crate) fn put(&self, key: &str, entry: &LinkRef) -> Result<(), StoreError> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
        let json = serde_json::to_vec_pretty(entry).map_err(|source| StoreError::BadRecord {
            path: self.path(key),
            source,
        })?;
        let target = self.path(key);
        crate::fs::write_atomically(&target, &json).map_err(StoreError::io("write", &target))
    }

    /// Every readable entry, with its key.
    pub(crate) fn all(&self) -> Vec<(String, LinkRef)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = name.strip_suffix(".json")?.to_owned();
                let entry = self.get(&key)?;
                Some((key, entry))
            })
            .collect()
    }

    /// Deletes every entry that points at `sha256`.
    pub(crate) fn remove_pointing_to(&self, sha256: &str) -> Result<(), StoreError> {
        for (key, entry) in self.all() {
            if entry.sha256 == sha256 {
                let path = self.path(&key);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", &path)(e)),
                }
            }
        }
        Ok(())
    }
}
