//! Files that appear complete or not at all: write to a hidden temporary name, then rename. The
//! one home of atomic writes: samples, manifests, journals, catalogues, records, caches.
//!
//! Temporary files are made with `O_CREAT | O_EXCL` under a random name (`tempfile`), so a
//! symlink planted in the output folder is never followed; the rename replaces a link at the
//! final name instead of writing through it. [`open_no_follow`] opens the few files that have a
//! fixed name (a run's lock and journal) without following a link either.
//!
//! Reading a file medigan did not write goes through [`open_regular`] (or [`read_regular`]):
//! it opens regular files only (a FIFO, a device such as `/dev/zero`, a socket or a folder is
//! refused, and the open itself never blocks) and checks the size before a byte is read.

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

/// Which step of [`publish_dir`] failed.
#[derive(Debug)]
pub enum PublishError {
    /// The empty folder at the destination could not be removed.
    Replace(std::io::Error),
    /// The staging folder could not be renamed to the destination.
    Rename(std::io::Error),
}

/// Publishes a finished staging folder (made in the destination's parent) as `out` with one
/// rename, so `out` appears complete or not at all; an empty folder at `out` is replaced. On
/// failure the staging folder is removed. The one home of "publish a staged folder" (the audit
/// gallery, a converted package).
pub fn publish_dir(staging: tempfile::TempDir, out: &Path) -> Result<(), PublishError> {
    if out.is_dir() {
        std::fs::remove_dir(out).map_err(PublishError::Replace)?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        PublishError::Rename(e)
    })
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

/// How [`open_regular`] treats a symlink at `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it (the file it points to must be regular).
    Follow,
    /// Refuse it (`ELOOP`).
    Refuse,
}

/// Opens `path` for reading if it is a regular file of at most `max_bytes` (when given);
/// returns the file and its size. A FIFO, device, socket or folder is refused with
/// `InvalidInput` without blocking (the open is non-blocking and checked on the open file, so
/// a file swapped after the check is caught too); a larger file with `FileTooLarge`.
pub fn open_regular(
    path: &Path,
    links: Links,
    max_bytes: Option<u64>,
) -> std::io::Result<(File, u64)> {
    let before = match links {
        Links::Follow => std::fs::metadata(path)?,
        Links::Refuse => std::fs::symlink_metadata(path)?,
    };
    check_regular(&before, max_bytes)?;
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    {
        let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
        if links == Links::Refuse {
            flags |= libc::O_NOFOLLOW;
        }
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, flags);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    check_regular(&meta, max_bytes)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this function owns; it reads and sets status flags only.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `max_bytes` (see [`open_regular`]); a file that grows
/// past the bound while it is read is refused too.
pub fn read_regular(path: &Path, links: Links, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, len) = open_regular(path, links, Some(max_bytes))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(bytes)
}

fn check_regular(meta: &std::fs::Metadata, max_bytes: Option<u64>) -> std::io::Result<()> {
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is not a regular file but {}", kind_of(meta)),
        ));
    }
    match max_bytes {
        Some(max) if meta.len() > max => Err(too_large(max)),
        _ => Ok(()),
    }
}

fn too_large(max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("it is larger than the limit of {max} bytes"),
    )
}

/// "a folder", "a FIFO", ... for messages.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symlink"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
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

    #[cfg(unix)]
    #[test]
    fn open_regular_refuses_fifos_devices_and_large_files_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.png");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let error = open_regular(&fifo, Links::Follow, None).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("FIFO"), "{error}");
        let zero = dir.path().join("zero.npy");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(
            read_regular(&zero, Links::Follow, 1 << 20)
                .unwrap_err()
                .to_string()
                .contains("device")
        );
        let big = dir.path().join("big.npy");
        std::fs::write(&big, vec![0u8; 100]).unwrap();
        let error = read_regular(&big, Links::Follow, 99).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(read_regular(&big, Links::Follow, 100).unwrap().len(), 100);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&big, &link).unwrap();
        assert!(open_regular(&link, Links::Refuse, None).is_err());
        assert!(open_regular(&link, Links::Follow, None).is_ok());
    }
}
