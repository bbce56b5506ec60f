//! WebDataset-style tar files, written deterministically: the same members give the same bytes.
//!
//! Every member gets an explicit POSIX ustar header with fixed metadata ([`MEMBER_MODE`],
//! mtime 0, uid/gid 0, empty user and group names), so a tar's bytes depend only on its members'
//! names and bytes, in the order they are appended. Members are streamed into a temporary file
//! (`<prefix>XXXXXX.part`, as [`crate::fs::temporary_file`] makes them) while their
//! sha256 is computed, and the file gets its final name only in [`TarPackWriter::finish`]: a
//! tar that exists is complete, and memory holds one member at a time, not the tar.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::OutputError;

/// The mode of every member (`-rw-r--r--`).
pub const MEMBER_MODE: u32 = 0o644;

/// Streams members into a temporary tar and publishes it, complete, under its final name.
/// Dropped before [`TarPackWriter::finish`] (a failed or cancelled run), the temporary file is
/// removed.
pub struct TarPackWriter {
    builder: tar::Builder<Hashing<BufWriter<NamedTempFile>>>,
    target: PathBuf,
}

impl std::fmt::Debug for TarPackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarPackWriter")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl TarPackWriter {
    /// Starts the tar that [`finish`](Self::finish) will publish at `path`, in a temporary file
    /// `<temporary_prefix>XXXXXX.part` beside it.
    pub fn create(path: &Path, temporary_prefix: &str) -> Result<TarPackWriter, OutputError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let file =
            crate::fs::temporary_file(dir, temporary_prefix).map_err(|cause| OutputError::Io {
                path: path.to_path_buf(),
                cause,
            })?;
        let sink = Hashing {
            inner: BufWriter::new(file),
            hasher: Sha256::new(),
        };
        Ok(TarPackWriter {
            builder: tar::Builder::new(sink),
            target: path.to_path_buf(),
        })
    }

    /// Appends the member `name` holding `bytes`, with the fixed header of [`member_header`].
    pub fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let header = member_header(name, bytes.len() as u64).map_err(|cause| self.io(cause))?;
        self.builder
            .append(&header, bytes)
            .map_err(|cause| self.io(cause))
    }

    /// Ends the archive, gives it its final name and returns the sha256 of its bytes.
    pub fn finish(self) -> Result<String, OutputError> {
        let target = self.target;
        let io = |cause| OutputError::Io {
            path: target.clone(),
            cause,
        };
        let Hashing { inner, hasher } = self.builder.into_inner().map_err(io)?;
        let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.persist(&target).map_err(|e| io(e.error))?;
        Ok(hex::encode(hasher.finalize()))
    }

    fn io(&self, cause: std::io::Error) -> OutputError {
        OutputError::Io {
            path: self.target.clone(),
            cause,
        }
    }
}

/// The ustar header of a regular-file member `name` of `size` bytes: mode [`MEMBER_MODE`],
/// mtime 0, uid and gid 0, no user or group name. Fails for a name ustar cannot hold.
pub fn member_header(name: &str, size: u64) -> std::io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(name)?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(MEMBER_MODE);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("")?;
    header.set_groupname("")?;
    header.set_cksum();
    Ok(header)
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, members: &[(&str, &[u8])]) -> (PathBuf, String) {
        let path = dir.join("shard-000000.tar");
        let mut writer = TarPackWriter::create(&path, ".t.").unwrap();
        for (name, bytes) in members {
            writer.append(name, bytes).unwrap();
        }
        let sha = writer.finish().unwrap();
        (path, sha)
    }

    #[test]
    fn members_read_back_with_fixed_metadata_and_the_sha256_is_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sha) = write(dir.path(), &[("00000.json", b"{}"), ("00000.png", b"png!")]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert!(header.as_ustar().is_some(), "a ustar header");
            assert_eq!(header.mode().unwrap(), 0o644);
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
            let name = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            seen.push((name, data));
        }
        assert_eq!(
            seen,
            vec![
                ("00000.json".to_string(), b"{}".to_vec()),
                ("00000.png".to_string(), b"png!".to_vec())
            ]
        );
    }

    #[test]
    fn the_same_members_give_the_same_bytes_and_nothing_is_left_behind() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let members: &[(&str, &[u8])] = &[("00007.npy", &[1, 2, 3]), ("00007.json", b"{}")];
        let (a, sha_a) = write(one.path(), members);
        let (b, sha_b) = write(two.path(), members);
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert_eq!(sha_a, sha_b);
        let names: Vec<_> = std::fs::read_dir(one.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["shard-000000.tar"]);
    }

    #[test]
    fn an_unfinished_tar_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard-000001.tar");
        let mut writer = TarPackWriter::create(&path, ".t.").unwrap();
        writer.append("00001.png", b"x").unwrap();
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
