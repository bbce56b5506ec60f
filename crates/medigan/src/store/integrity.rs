//! Integrity of installed packages: before a cached package is used, its files are checked
//! against the store's record, so that a package changed on disk (a flipped byte, a truncated
//! file) is never run under the sha256 it was installed with.
//!
//! The check is cheap: a file whose size, modification time, status-change time (ctime) and
//! inode equal the record's is taken as unchanged without reading it; any other file is hashed
//! in full (and, when its content still matches, the record is updated with its new stamp, so
//! the next check is cheap again). The ctime is what makes this hold against a file rewritten
//! with its size kept and its mtime set back (issue #31): the kernel sets a file's ctime to the
//! current time on every write and every change of its times, and offers no call to set it
//! back. What the cheap check does not see: a change made through the raw block device or by a
//! faulty disk (no ctime change), or while the system clock was set back to the very
//! nanosecond recorded; and on platforms without ctime/inode (Windows) only size and mtime
//! are compared. A copied or restored cache (new ctimes and inodes) is hashed once. With
//! [`Store::set_always_rehash`] (`--verify`) every file is hashed on every use. Files added to
//! the package directory are ignored here (a legacy package may write caches next to its code);
//! `medigan cache verify` lists them.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::record::{FileRecord, Record, Stamp, sha256_file};
use super::{Store, StoreError};

/// What differs between an installed package and its record.
#[derive(Debug, Default)]
pub(crate) struct Damage {
    /// Recorded files whose size or content changed.
    pub changed: Vec<String>,
    /// Recorded files that are gone.
    pub missing: Vec<String>,
}

impl Damage {
    fn is_none(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty()
    }

    /// The damaged files, missing ones marked, for messages.
    fn files(&self) -> Vec<String> {
        let missing = self.missing.iter().map(|p| format!("{p} (missing)"));
        self.changed.iter().cloned().chain(missing).collect()
    }
}

/// How one recorded file compares with the disk.
enum FileState {
    /// Size and time as recorded: unchanged without reading it.
    Unchanged,
    /// Re-hashed and equal to the record; the new stamp is to be recorded.
    Rehashed(Stamp),
    Changed,
    Missing,
}

impl Store {
    /// Hash every file of a cached package on every use (`--verify`), not only the files whose
    /// size or stamp (mtime, ctime, inode) changed since they were recorded.
    pub fn set_always_rehash(&self, always: bool) {
        self.always_rehash.store(always, Ordering::Relaxed);
    }

    /// Whether every file is hashed on every use ([`Store::set_always_rehash`]).
    pub fn always_rehash(&self) -> bool {
        self.always_rehash.load(Ordering::Relaxed)
    }

    /// Checks the installed package `sha256` against its record. `Ok(())` when it is as
    /// installed; [`StoreError::Damaged`] naming the changed files otherwise.
    pub(crate) fn check_installed(&self, label: &str, sha256: &str) -> Result<(), StoreError> {
        let dir = self.package_dir(sha256);
        let damage = self.inspect(&dir)?;
        if damage.is_none() {
            return Ok(());
        }
        Err(StoreError::Damaged {
            label: label.to_owned(),
            sha256: sha256.to_owned(),
            dir,
            files: damage.files(),
            offline: self.offline,
        })
    }

    /// Compares each recorded file with the disk; records new times of files that were
    /// re-hashed and found equal.
    fn inspect(&self, dir: &Path) -> Result<Damage, StoreError> {
        let mut record = Record::read(dir)?;
        let always = self.always_rehash.load(Ordering::Relaxed);
        let mut damage = Damage::default();
        let mut restamped = false;
        for file in &mut record.files {
            match file_state(dir, file, always)? {
                FileState::Unchanged => {}
                FileState::Rehashed(stamp) => restamped |= file.restamp(stamp),
                FileState::Changed => damage.changed.push(file.path.clone()),
                FileState::Missing => damage.missing.push(file.path.clone()),
            }
        }
        if restamped
            && damage.is_none()
            && let Err(e) = record.write(dir)
        {
            tracing::warn!("cannot update the record of `{}`: {e}", dir.display());
        }
        Ok(damage)
    }

    /// The recorded files (path relative to the package, size, sha256) of the installed
    /// package at `dir`, when `dir` is one of this store's packages; `None` for a package used
    /// in place (a local directory) or without a readable record. The store checks an installed
    /// package against this record before handing it out (see the module docs), so the
    /// recorded sha256 stands for the file's content without reading it again.
    pub fn recorded_files(&self, dir: &Path) -> Option<Vec<(String, u64, String)>> {
        if !dir.starts_with(self.path()) {
            return None;
        }
        let record = Record::read(dir).ok()?;
        Some(
            record
                .files
                .into_iter()
                .map(|f| (f.path, f.size, f.sha256))
                .collect(),
        )
    }

    /// Removes a damaged package from the cache so that it is installed afresh.
    pub(crate) fn discard_damaged(&self, error: &StoreError) -> Result<(), StoreError> {
        if let StoreError::Damaged {
            label,
            sha256,
            files,
            ..
        } = error
        {
            tracing::warn!(
                "the cached package of `{label}` ({sha256}) changed on disk ({}); installing it again",
                files.join(", ")
            );
            self.remove(sha256)?;
        }
        Ok(())
    }
}

fn file_state(dir: &Path, file: &FileRecord, always: bool) -> Result<FileState, StoreError> {
    let path = file
        .path
        .split('/')
        .fold(dir.to_path_buf(), |p, c| p.join(c));
    let meta = match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(FileState::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(StoreError::io("inspect", &path)(e)),
    };
    if meta.len() != file.size {
        return Ok(FileState::Changed);
    }
    let stamp = Stamp::of_metadata(&meta);
    if !always && stamp.matches(file) {
        return Ok(FileState::Unchanged);
    }
    let (sha256, size) = sha256_file(&path)?;
    if size != file.size || sha256 != file.sha256 {
        return Ok(FileState::Changed);
    }
    Ok(FileState::Rehashed(stamp))
}
