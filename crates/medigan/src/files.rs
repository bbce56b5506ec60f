//! Files that appear complete or not at all: write to a hidden temporary name, then rename. The
//! one home of atomic writes: samples, manifests, journals, catalogues, records, caches.
//!
//! Temporary files are made with `O_CREAT | O_EXCL` under a random name (`tempfile`), so a
//! symlink planted in the output folder is never followed; the rename replaces a link at the
//! final name instead of writing through it. [`open_no_follow`] opens the few files that have a
//! fixed name (a run's lock and journal) without following a link either.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The prefix of the temporary files of [`write_atomically`].
pub const TEMPORARY_PREFIX: &str = ".medigan-";

/// How [`write_atomically_with`] writes.
#[derive(Debug, Clone, Copy)]
pub struct AtomicWrite<'a> {
    /// Temporary files are named `<prefix>XXXXXX.part`, so that one run can find (and remove)
    /// the leftovers of its own killed predecessor without touching the live temporary files
    /// of another run writing into the same folder.
    pub prefix: &'a str,
    /// Sync the file's data to disk before the rename (records that must survive a power cut).
    pub sync: bool,
}

impl Default for AtomicWrite<'_> {
    fn default() -> Self {
        AtomicWrite {
            prefix: TEMPORARY_PREFIX,
            sync: false,
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a partial file; on error nothing is left at `path`. The file gets the mode
/// a plain `File::create` gives (0666 less the umask). The directory must exist.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, bytes, AtomicWrite::default())
}

/// [`write_atomically`] with a temporary-file prefix of the caller's and, optionally, a sync.
pub fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    how: AtomicWrite<'_>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut tmp = temporary_file(dir, how.prefix)?;
    tmp.write_all(bytes)?;
    if how.sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A new temporary file `<prefix>XXXXXX.part` in `dir`, created exclusively (never through a
/// symlink) with the mode `File::create` gives (0666 less the umask), not tempfile's 0600.
/// Dropped without `persist`, it is removed.
pub fn temporary_file(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".part");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Opens `path` for reading and writing, creating it when `create`, and fails (`ELOOP`) when it
/// is a symlink instead of following it.
pub fn open_no_follow(path: &Path, create: bool) -> std::io::Result<File> {
    let mut options = File::options();
    options
        .read(true)
        .write(true)
        .create(create)
        .truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other("refusing to follow a symlink"));
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn files_get_the_mode_a_plain_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic");
        write_atomically(&atomic, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
        assert_eq!(std::fs::read(&atomic).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_final_name_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join("00000.png");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomically(&link, b"sample").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), b"sample");
    }

    #[cfg(unix)]
    #[test]
    fn open_no_follow_refuses_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join(".manifest.lock");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(open_no_follow(&link, true).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
