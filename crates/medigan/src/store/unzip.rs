//! Safe unzip: every entry is checked before anything is written, and sizes are enforced while
//! writing, so a hostile archive can neither escape the target directory nor fill the disk.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

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
    /// Entries up to this size are exempt from the ratio check.
    pub ratio_min_bytes: u64,
}

impl Default for UnzipLimits {
    /// 100 000 entries, 8 GiB in total, 500:1 for entries over 1 MiB.
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
    let mut zip = ZipArchive::new(reader).map_err(|source| StoreError::BadArchive {
        archive: archive.to_owned(),
        source,
    })?;
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
    let mut total = 0u64;
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
        check_size(size, compressed, total, limits).map_err(fail)?;
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
    if size > limits.ratio_min_bytes && size / compressed.max(1) > limits.max_ratio {
        return Err(UnsafeReason::Ratio {
            size,
            compressed,
            limit: limits.max_ratio,
        });
    }
    Ok(())
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
    Ok(Some(FileRecord {
        mtime_ns: super::record::mtime_ns(&path),
        path: entry.rel.join("/"),
        size,
        sha256,
    }))
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
