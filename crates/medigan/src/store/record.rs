//! The record kept in each installed package (source, label, hashes of every file), file
//! hashing, and the content hash of a package directory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::fs::{AtomicWrite, write_atomically_with};

/// Name of the record file inside `packages-v1/<sha256>/` (never part of a package).
pub const RECORD_FILE: &str = ".medigan-record.json";

/// The format version written in new records.
const RECORD_FORMAT: u32 = 1;

/// Largest record file read back (a record lists file names and hashes only).
const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// One file of an installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to the package directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content, lowercase hex.
    pub sha256: String,
    /// Modification time (nanoseconds since the Unix epoch) when the content was last hashed;
    /// while size and mtime are unchanged the file is taken as unchanged (absent in records
    /// written before this field existed: such a file is hashed on its next use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u64>,
    /// Status-change time (ctime, nanoseconds) when the content was last hashed. Every write,
    /// and every change of the modification time (`touch -d`, `utime`), sets it to the current
    /// time, and no user call can set it back: a file rewritten with its old size and mtime
    /// restored still has another ctime. Absent on platforms without one and in older records
    /// (such a file is hashed on its next use, then stamped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime_ns: Option<u64>,
    /// Inode number when the content was last hashed (a file replaced by another has another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
}

/// What the cheap check compares without reading a file: modification time, status-change
/// time and inode (each `None` where the platform has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stamp {
    pub mtime_ns: Option<u64>,
    pub ctime_ns: Option<u64>,
    pub inode: Option<u64>,
}

impl Stamp {
    /// The stamp of the file at `path` (all `None` when it cannot be read).
    pub(crate) fn of(path: &Path) -> Stamp {
        std::fs::metadata(path)
            .map(|meta| Stamp::of_metadata(&meta))
            .unwrap_or_default()
    }

    /// The stamp of already read metadata.
    pub(crate) fn of_metadata(meta: &std::fs::Metadata) -> Stamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        #[cfg(unix)]
        let (ctime_ns, inode) = {
            use std::os::unix::fs::MetadataExt;
            let ctime = u64::try_from(meta.ctime())
                .ok()
                .and_then(|s| s.checked_mul(1_000_000_000))
                .and_then(|ns| ns.checked_add(u64::try_from(meta.ctime_nsec()).ok()?));
            (ctime, Some(meta.ino()))
        };
        #[cfg(not(unix))]
        let (ctime_ns, inode) = (None, None);
        Stamp {
            mtime_ns,
            ctime_ns,
            inode,
        }
    }

    /// Whether `file` was hashed with this stamp: every part recorded and equal. A part the
    /// platform lacks (`None` here and in the record) is not compared.
    pub(crate) fn matches(&self, file: &FileRecord) -> bool {
        let same = |now: Option<u64>, then: Option<u64>| now == then;
        self.mtime_ns.is_some()
            && same(self.mtime_ns, file.mtime_ns)
            && same(self.ctime_ns, file.ctime_ns)
            && same(self.inode, file.inode)
    }
}

impl FileRecord {
    /// The record of a file just hashed, stamped with its current metadata.
    pub(crate) fn stamped(path: &Path, rel: String, size: u64, sha256: String) -> FileRecord {
        let stamp = Stamp::of(path);
        FileRecord {
            path: rel,
            size,
            sha256,
            mtime_ns: stamp.mtime_ns,
            ctime_ns: stamp.ctime_ns,
            inode: stamp.inode,
        }
    }

    /// Records `stamp` as the one the content was last hashed with; whether it changed.
    pub(crate) fn restamp(&mut self, stamp: Stamp) -> bool {
        let changed = (self.mtime_ns, self.ctime_ns, self.inode)
            != (stamp.mtime_ns, stamp.ctime_ns, stamp.inode);
        self.mtime_ns = stamp.mtime_ns;
        self.ctime_ns = stamp.ctime_ns;
        self.inode = stamp.inode;
        changed
    }
}

/// What the store knows about an installed package (`.medigan-record.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub format: u32,
    pub label: String,
    pub source: String,
    pub archive_sha256: String,
    pub installed_unix: u64,
    pub files: Vec<FileRecord>,
}

impl Record {
    pub(crate) fn new(label: &str, source: &str, sha256: &str, files: Vec<FileRecord>) -> Record {
        let installed_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Record {
            format: RECORD_FORMAT,
            label: label.to_owned(),
            source: source.to_owned(),
            archive_sha256: sha256.to_owned(),
            installed_unix,
            files,
        }
    }

    /// Writes the record into the package directory `dir`, through a temporary file and a
    /// rename, so that a record is always complete.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(RECORD_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|source| StoreError::BadRecord {
            path: path.clone(),
            source,
        })?;
        let durable = AtomicWrite {
            sync: true,
            ..AtomicWrite::default()
        };
        write_atomically_with(&path, &json, durable).map_err(StoreError::io("write", &path))
    }

    /// Reads the record of the package directory `dir`.
    pub(crate) fn read(dir: &Path) -> Result<Record, StoreError> {
        let path = dir.join(RECORD_FILE);
        let file = File::open(&path).map_err(StoreError::io("open", &path))?;
        let mut text = Vec::new();
        file.take(MAX_RECORD_BYTES)
            .read_to_end(&mut text)
            .map_err(StoreError::io("read", &path))?;
        serde_json::from_slice(&text).map_err(|source| StoreError::BadRecord { path, source })
    }

    /// Total size of the package's files.
    pub(crate) fn size(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.size)
            .fold(0, u64::saturating_add)
    }
}

/// A sha256 being computed while bytes pass through.
pub(crate) struct Hasher(Sha256);

impl Hasher {
    pub(crate) fn new() -> Hasher {
        Hasher(Sha256::new())
    }
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub(crate) fn hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// sha256 of `bytes`, lowercase hex.
pub(crate) fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// sha256 and size of the file at `path`, read in blocks.
pub(crate) fn sha256_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut file = File::open(path).map_err(StoreError::io("open", path))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(StoreError::io("read", path))?;
        if n == 0 {
            return Ok((hasher.hex(), size));
        }
        hasher.update(&buf[..n]);
        size = size.saturating_add(n as u64);
    }
}

/// The regular files under `root`, as (`/`-separated relative path, absolute path), sorted by
/// relative path (bytewise). Symbolic links to files are followed; directories reached through
/// a symbolic link are skipped (to rule out cycles); the store's record file is left out.
pub(crate) fn walk_files(root: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut files = Vec::new();
    walk_into(root, "", &mut files)?;
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(files)
}

fn walk_into(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(dir).map_err(StoreError::io("list directory", dir))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io("list directory", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(StoreError::io("inspect", &path))?;
        if kind.is_dir() {
            walk_into(&path, &rel, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            if rel != RECORD_FILE {
                out.push((rel, path));
            }
        } else if kind.is_symlink() {
            tracing::warn!(
                "skipping `{}`: a link to a directory or nothing",
                path.display()
            );
        }
    }
    Ok(())
}

/// The records (path, size, sha256) of the files under `root`, sorted by path.
pub(crate) fn hash_tree(root: &Path) -> Result<Vec<FileRecord>, StoreError> {
    walk_files(root)?
        .into_iter()
        .map(|(rel, path)| {
            let (sha256, size) = sha256_file(&path)?;
            Ok(FileRecord::stamped(&path, rel, size, sha256))
        })
        .collect()
}

/// The content hash of a package directory (see the module documentation of `store`):
/// sha256 over one line `"<sha256 of content>  <relative path>\n"` per file, sorted by path.
pub(crate) fn directory_sha256(files: &[FileRecord]) -> String {
    let mut hasher = Hasher::new();
    for file in files {
        hasher.update(format!("{}  {}\n", file.sha256, file.path).as_bytes());
    }
    hasher.hex()
}
