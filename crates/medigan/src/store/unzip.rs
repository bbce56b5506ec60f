//! Safe unzip: every entry is checked before anything is written, and sizes are enforced while
//! writing, so a hostile archive can neither escape the target directory nor fill the disk.
//!
//! Work directories (`tmp/unpack-XXXXXX/`) are locked by `tmp/unpack-XXXXXX.lock` while an
//! unzip runs; the next unzip removes the ones whose lock is free (their process died).

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use zip::ZipArchive;

use super::StoreError;
use super::error::UnsafeReason;
use super::record::{FileRecord, Hasher, RECORD_FILE};

/// File type bits of a unix mode, and the values allowed in a package.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Caps applied to every archive before and while it is unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnzipLimits {
    /// Most entries (files and directories) an archive may hold.
    pub max_entries: usize,
    /// Most bytes all entries may unpack to together.
    pub max_total_bytes: u64,
    /// Largest uncompressed:compressed ratio of an entry bigger than `ratio_min_bytes`.
    /// Deflate cannot go beyond about 1030:1, which only long runs of one byte reach.
    pub max_ratio: u64,
    /// Entries up to this size are exempt from the ratio check of one entry; the whole
    /// archive's ratio is checked once it unpacks to more than this.
    pub ratio_min_bytes: u64,
}

impl Default for UnzipLimits {
    /// 100 000 entries, 8 GiB in total, 500:1 for entries and archives over 1 MiB.
    fn default() -> Self {
        UnzipLimits {
            max_entries: 100_000,
            max_total_bytes: 8 << 30,
            max_ratio: 500,
            ratio_min_bytes: 1 << 20,
        }
    }
}

/// One checked entry, ready to be written.
struct Planned {
    index: usize,
    name: String,
    rel: Vec<String>,
    is_dir: bool,
    size: u64,
}

/// Unpacks `reader` (a zip named `archive` in messages) into the empty directory `dest`, and
/// returns the records of the files written, sorted by path.
pub(crate) fn extract<R: Read + Seek>(
    reader: R,
    archive: &str,
    dest: &Path,
    limits: &UnzipLimits,
) -> Result<Vec<FileRecord>, StoreError> {
    let bad_archive = |source| StoreError::BadArchive {
        archive: archive.to_owned(),
        source,
    };
    let zip = ZipArchive::new(reader).map_err(bad_archive)?;
    let (start, indexed) = (zip.central_directory_start(), zip.len());
    let mut reader = zip.into_inner();
    check_no_duplicates(&mut reader, start, indexed, archive, limits)?;
    let mut zip = ZipArchive::new(reader).map_err(bad_archive)?;
    let plan = check_all(&mut zip, archive, limits)?;
    let mut files = Vec::new();
    for entry in &plan {
        if let Some(file) = write_entry(&mut zip, archive, dest, entry)? {
            files.push(file);
        }
    }
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(files)
}

/// Refuses an archive whose central directory names an entry twice. The zip reader keeps only
/// the last of such entries, so they are counted here, from the directory itself (issue #14,
/// defect 11).
fn check_no_duplicates<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    indexed: usize,
    archive: &str,
    limits: &UnzipLimits,
) -> Result<(), StoreError> {
    let names = central_directory_names(reader, start, limits.max_entries).map_err(|e| {
        StoreError::BadArchive {
            archive: archive.to_owned(),
            source: e.into(),
        }
    })?;
    if names.len() <= indexed {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let twice = names.iter().find(|name| !seen.insert(*name)).map_or_else(
        || "?".to_owned(),
        |n| String::from_utf8_lossy(n).into_owned(),
    );
    Err(unsafe_entry(archive, &twice, UnsafeReason::Duplicate))
}

/// Signature of a central directory file header.
const CENTRAL_HEADER: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];

/// The raw names of the central directory's file headers from `start` (at most `limit` + 1).
fn central_directory_names<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    limit: usize,
) -> std::io::Result<Vec<Vec<u8>>> {
    reader.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::new(reader);
    let mut names = Vec::new();
    let mut header = [0u8; 46];
    while names.len() <= limit && reader.read_exact(&mut header).is_ok() {
        if header[..4] != CENTRAL_HEADER {
            break;
        }
        let field = |at: usize| u64::from(u16::from_le_bytes([header[at], header[at + 1]]));
        let (name_len, skip) = (field(28), field(30) + field(32));
        let mut name = Vec::new();
        (&mut reader).take(name_len).read_to_end(&mut name)?;
        std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink())?;
        names.push(name);
    }
    Ok(names)
}

/// Checks every entry's name, type and size; nothing is written yet.
fn check_all<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    archive: &str,
    limits: &UnzipLimits,
) -> Result<Vec<Planned>, StoreError> {
    let count = zip.len();
    if count > limits.max_entries {
        let name = zip.name_for_index(limits.max_entries).unwrap_or("?");
        let reason = UnsafeReason::TooManyEntries {
            count,
            limit: limits.max_entries,
        };
        return Err(unsafe_entry(archive, name, reason));
    }
    let (mut total, mut compressed_total) = (0u64, 0u64);
    let mut plan = Vec::with_capacity(count);
    for index in 0..count {
        let entry = zip
            .by_index_raw(index)
            .map_err(|source| StoreError::BadArchive {
                archive: archive.to_owned(),
                source,
            })?;
        let name = entry.name().to_owned();
        let fail = |reason| unsafe_entry(archive, &name, reason);
        check_kind(entry.unix_mode(), entry.encrypted()).map_err(fail)?;
        let rel = safe_components(&name).map_err(fail)?;
        let (size, compressed) = (entry.size(), entry.compressed_size());
        total = total.saturating_add(size);
        compressed_total = compressed_total.saturating_add(compressed);
        check_size(size, compressed, total, limits).map_err(fail)?;
        // Many small entries, each under the ratio check's threshold, add up (defect 15).
        check_ratio(total, compressed_total, limits).map_err(fail)?;
        if rel.is_empty() {
            continue; // "./" and the like: nothing to create
        }
        let is_dir = entry.is_dir();
        plan.push(Planned {
            index,
            name,
            rel,
            is_dir,
            size,
        });
    }
    Ok(plan)
}

fn unsafe_entry(archive: &str, entry: &str, reason: UnsafeReason) -> StoreError {
    StoreError::UnsafeArchive {
        archive: archive.to_owned(),
        entry: entry.to_owned(),
        reason,
    }
}

/// Refuses links, special files and encrypted entries.
fn check_kind(mode: Option<u32>, encrypted: bool) -> Result<(), UnsafeReason> {
    if encrypted {
        return Err(UnsafeReason::Encrypted);
    }
    match mode.map(|m| m & S_IFMT) {
        None | Some(0 | S_IFREG | S_IFDIR) => Ok(()),
        Some(S_IFLNK) => Err(UnsafeReason::Link),
        Some(_) => Err(UnsafeReason::SpecialFile),
    }
}

/// The normal components of an entry name, refusing absolute paths and `..`.
/// Both `/` and `\` separate components, so Windows-made names are read the same way.
pub(crate) fn safe_components(name: &str) -> Result<Vec<String>, UnsafeReason> {
    if name.contains('\0') {
        return Err(UnsafeReason::InvalidName);
    }
    if name.starts_with(['/', '\\']) || has_drive(name) {
        return Err(UnsafeReason::AbsolutePath);
    }
    let mut parts = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(UnsafeReason::ParentDir),
            _ => parts.push(part.to_owned()),
        }
    }
    if parts.len() == 1 && parts[0] == RECORD_FILE {
        return Err(UnsafeReason::ReservedName);
    }
    Ok(parts)
}

/// `C:...`: a Windows drive prefix.
fn has_drive(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

fn check_size(
    size: u64,
    compressed: u64,
    total: u64,
    limits: &UnzipLimits,
) -> Result<(), UnsafeReason> {
    if total > limits.max_total_bytes {
        return Err(UnsafeReason::TooLarge {
            total,
            limit: limits.max_total_bytes,
        });
    }
    check_ratio(size, compressed, limits)
}

/// Refuses `size` bytes unpacked from `compressed` when the ratio is beyond real data's.
fn check_ratio(size: u64, compressed: u64, limits: &UnzipLimits) -> Result<(), UnsafeReason> {
    if size > limits.ratio_min_bytes && size / compressed.max(1) > limits.max_ratio {
        return Err(UnsafeReason::Ratio {
            size,
            compressed,
            limit: limits.max_ratio,
        });
    }
    Ok(())
}

/// How old a work directory without a lock file (left by a version before the locks) must be
/// before it is removed.
const UNLOCKED_WORK_DIR_AGE: Duration = Duration::from_secs(24 * 3600);

/// The lock of a work directory; deletes its file when dropped (after the directory is gone).
pub(crate) struct WorkLock {
    file: File,
    path: PathBuf,
}

impl Drop for WorkLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Makes a fresh `tmp/unpack-XXXXXX/` work directory, locked by `tmp/unpack-XXXXXX.lock` for as
/// long as the returned lock lives; removes abandoned work directories first (issue #14,
/// defect 16). The lock file exists (locked) before the directory does, so a directory
/// without a locked lock file is never one being written.
pub(crate) fn work_dir(tmp: &Path) -> Result<(TempDir, WorkLock), StoreError> {
    remove_abandoned(tmp);
    let lock = tempfile::Builder::new()
        .prefix("unpack-")
        .suffix(".lock")
        .tempfile_in(tmp)
        .map_err(StoreError::io("create a lock file in", tmp))?;
    let (file, path) = lock
        .keep()
        .map_err(|e| StoreError::io("create a lock file in", tmp)(e.error))?;
    file.try_lock()
        .map_err(|e| StoreError::io("lock", &path)(std::io::Error::other(e.to_string())))?;
    let lock = WorkLock { file, path };
    let dir_path = lock.path.with_extension("");
    let name = dir_path.file_name().unwrap_or_default();
    let dir = tempfile::Builder::new()
        .prefix(name)
        .rand_bytes(0)
        .tempdir_in(tmp)
        .map_err(StoreError::io("create directory", &dir_path))?;
    Ok((dir, lock))
}

/// Removes `unpack-*` work directories whose lock is free (their process died), and lock
/// files left without a directory. Failures are ignored: this is housekeeping.
fn remove_abandoned(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("unpack-") {
            continue;
        }
        let path = entry.path();
        if let Some(dir_name) = name.strip_suffix(".lock") {
            remove_if_unlocked(&path, &tmp.join(dir_name));
        } else if !path.with_extension("lock").exists() && older_than(&path, UNLOCKED_WORK_DIR_AGE)
        {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Takes the lock at `lock_path` without waiting; when free, removes `dir` and the lock file.
fn remove_if_unlocked(lock_path: &Path, dir: &Path) {
    let Ok(file) = File::options().write(true).open(lock_path) else {
        return;
    };
    match file.try_lock() {
        Ok(()) => {
            if dir.exists() {
                tracing::info!("removing `{}`, left by an interrupted unzip", dir.display());
                let _ = std::fs::remove_dir_all(dir);
            }
            let _ = std::fs::remove_file(lock_path);
        }
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => {}
    }
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// Writes one checked entry under `dest`; returns its record when it is a file.
fn write_entry<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    archive: &str,
    dest: &Path,
    entry: &Planned,
) -> Result<Option<FileRecord>, StoreError> {
    let path: PathBuf = entry.rel.iter().fold(dest.to_path_buf(), |p, c| p.join(c));
    if entry.is_dir {
        std::fs::create_dir_all(&path).map_err(StoreError::io("create directory", &path))?;
        return Ok(None);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(StoreError::io("create directory", parent))?;
    }
    let out = match File::create_new(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(unsafe_entry(archive, &entry.name, UnsafeReason::Duplicate));
        }
        Err(e) => return Err(StoreError::io("create", &path)(e)),
    };
    let reader = zip
        .by_index(entry.index)
        .map_err(|source| StoreError::BadArchive {
            archive: archive.to_owned(),
            source,
        })?;
    let (sha256, size) = copy_checked(reader, out, archive, entry, &path)?;
    Ok(Some(FileRecord::stamped(
        &path,
        entry.rel.join("/"),
        size,
        sha256,
    )))
}

/// Copies an entry's bytes, hashing them and refusing more than the declared size.
fn copy_checked(
    reader: impl Read,
    mut out: File,
    archive: &str,
    entry: &Planned,
    path: &Path,
) -> Result<(String, u64), StoreError> {
    let mut limited = reader.take(entry.size.saturating_add(1));
    let mut hasher = Hasher::new();
    let mut buf = vec![0; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = limited
            .read(&mut buf)
            .map_err(|source| StoreError::CorruptEntry {
                archive: archive.to_owned(),
                entry: entry.name.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        written = written.saturating_add(n as u64);
        if written > entry.size {
            let reason = UnsafeReason::SizeMismatch {
                declared: entry.size,
            };
            return Err(unsafe_entry(archive, &entry.name, reason));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(StoreError::io("write", path))?;
    }
    out.flush().map_err(StoreError::io("write", path))?;
    Ok((hasher.hex(), written))
}
