//! Cache management behind `medigan cache ls|verify|rm|path`: list, re-hash and remove the
//! installed packages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::link::is_sha256;
use super::record::{Record, hash_tree};
use super::refs::Refs;
use super::{Store, StoreError};

/// One installed package, as listed by [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPackage {
    /// sha256 of the archive; the name of its directory.
    pub sha256: String,
    /// The models it was fetched for (sorted, no duplicates).
    pub labels: Vec<String>,
    /// The link it was first installed from.
    pub source: String,
    /// Total size of its files in bytes.
    pub size: u64,
    /// Number of files.
    pub files: usize,
    /// When it was installed, in seconds since the Unix epoch.
    pub installed_unix: u64,
    /// The package directory.
    pub dir: PathBuf,
}

/// The result of re-hashing one installed package against its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// sha256 of the package.
    pub sha256: String,
    /// The package directory.
    pub dir: PathBuf,
    /// Files checked (those in the record).
    pub checked: usize,
    /// Files in the record whose size or content changed.
    pub changed: Vec<String>,
    /// Files in the record that are gone.
    pub missing: Vec<String>,
    /// Files present that the record does not list.
    pub added: Vec<String>,
}

impl VerifyReport {
    /// Whether the package is exactly as installed.
    pub fn is_ok(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty() && self.added.is_empty()
    }
}

impl Store {
    /// Every installed package, sorted by sha256. Directories without a readable record (e.g.
    /// left by another version) are skipped with a warning.
    pub fn list(&self) -> Result<Vec<CachedPackage>, StoreError> {
        let labels = self.labels_by_sha();
        let mut packages = Vec::new();
        for sha256 in self.installed_hashes()? {
            let dir = self.package_dir(&sha256);
            let record = match Record::read(&dir) {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!("skipping `{}`: {e}", dir.display());
                    continue;
                }
            };
            let mut names = labels.get(&sha256).cloned().unwrap_or_default();
            names.insert(record.label.clone());
            packages.push(CachedPackage {
                labels: names.into_iter().collect(),
                source: record.source.clone(),
                size: record.size(),
                files: record.files.len(),
                installed_unix: record.installed_unix,
                dir,
                sha256,
            });
        }
        Ok(packages)
    }

    /// Re-hashes the files of the package named by `key` (a sha256, a unique prefix of at
    /// least 6 digits, or a label) and compares them with its record.
    pub fn verify(&self, key: &str) -> Result<VerifyReport, StoreError> {
        let sha256 = self.resolve(key)?;
        let dir = self.package_dir(&sha256);
        let record = Record::read(&dir)?;
        let present: BTreeMap<String, (u64, String)> = hash_tree(&dir)?
            .into_iter()
            .map(|f| (f.path, (f.size, f.sha256)))
            .collect();
        let mut report = VerifyReport {
            sha256,
            dir,
            checked: record.files.len(),
            changed: Vec::new(),
            missing: Vec::new(),
            added: Vec::new(),
        };
        for file in &record.files {
            match present.get(&file.path) {
                None => report.missing.push(file.path.clone()),
                Some((size, sha)) if *size != file.size || *sha != file.sha256 => {
                    report.changed.push(file.path.clone());
                }
                Some(_) => {}
            }
        }
        let recorded: BTreeSet<&str> = record.files.iter().map(|f| f.path.as_str()).collect();
        report.added = present
            .into_keys()
            .filter(|p| !recorded.contains(p.as_str()))
            .collect();
        Ok(report)
    }

    /// Removes the package named by `key` (as for [`Store::verify`]) and its link index
    /// entries; returns what was removed. The directory is first renamed into `tmp/`, so it
    /// disappears from the cache at once even if deleting its files takes a while.
    pub fn remove(&self, key: &str) -> Result<CachedPackage, StoreError> {
        let sha256 = self.resolve(key)?;
        let removed = self
            .list()?
            .into_iter()
            .find(|p| p.sha256 == sha256)
            .ok_or_else(|| StoreError::NotCached {
                key: key.to_owned(),
            })?;
        Refs::new(&self.path()).remove_pointing_to(&sha256)?;
        let tmp = self.home.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(StoreError::io("create directory", &tmp))?;
        let trash = tempfile::Builder::new()
            .prefix("remove-")
            .tempdir_in(&tmp)
            .map_err(StoreError::io("create a directory in", &tmp))?;
        let doomed = trash.path().join(&sha256);
        std::fs::rename(&removed.dir, &doomed)
            .map_err(StoreError::io("move out of the cache", &removed.dir))?;
        trash
            .close()
            .map_err(StoreError::io("remove", doomed.clone()))?;
        Ok(removed)
    }

    /// The sha256 of the one installed package matching `key`.
    fn resolve(&self, key: &str) -> Result<String, StoreError> {
        let key = key.trim();
        let lower = key.to_ascii_lowercase();
        if is_sha256(&lower) && self.is_installed(&lower) {
            return Ok(lower);
        }
        let by_prefix = lower.len() >= 6 && lower.bytes().all(|b| b.is_ascii_hexdigit());
        let mut candidates: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|p| {
                (by_prefix && p.sha256.starts_with(&lower)) || p.labels.iter().any(|l| l == key)
            })
            .map(|p| p.sha256)
            .collect();
        match candidates.len() {
            0 => Err(StoreError::NotCached {
                key: key.to_owned(),
            }),
            1 => Ok(candidates.remove(0)),
            _ => Err(StoreError::Ambiguous {
                key: key.to_owned(),
                candidates,
            }),
        }
    }

    /// The directory names under `packages-v1/` that are a sha256 and hold a record, sorted.
    fn installed_hashes(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.path();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list directory", &dir)(e)),
        };
        let mut hashes: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| self.is_installed(name))
            .collect();
        hashes.sort();
        Ok(hashes)
    }

    /// The labels of the link index, grouped by package sha256.
    fn labels_by_sha(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_key, entry) in Refs::new(&self.path()).all() {
            map.entry(entry.sha256).or_default().insert(entry.label);
        }
        map
    }
}
