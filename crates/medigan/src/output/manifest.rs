//! Writing the provenance manifest, `manifest.jsonl` beside the outputs (its types, name and
//! reader are `crate::dataset::manifest`, the one description of the format).
//!
//! The first line describes the run (tool version, model, package hash, seed, arguments); then
//! one line per file with its sample index, seed and sha256, in the order of the indices (with
//! `--pack tar`, one line per tar, naming the samples it holds). It is
//! written under a hidden temporary name (made exclusively: a planted symlink is never
//! followed) and renamed when the run succeeds, so a manifest that exists describes a complete
//! run. A shard writes `manifest-shard-K-of-N.jsonl`, so shards can share a folder. While a run
//! is under way its progress is in its journal (`crate::generate`'s `journal` module), from
//! which the manifest is written at the end.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::OutputError;
use crate::dataset::manifest::{ManifestHeader, ManifestLine};

/// Streams manifest lines to a temporary file and publishes it on [`ManifestWriter::finish`].
/// Dropped before [`ManifestWriter::finish`] (a failed run), its temporary file is removed.
#[derive(Debug)]
pub struct ManifestWriter {
    out: BufWriter<tempfile::NamedTempFile>,
    partial: PathBuf,
    target: PathBuf,
}

impl ManifestWriter {
    /// Starts the manifest `name` in `dir` with its header line, in a temporary file named
    /// `<temporary_prefix>XXXXXX.part`.
    pub fn create(
        dir: &Path,
        name: &str,
        header: &ManifestHeader,
        temporary_prefix: &str,
    ) -> Result<Self, OutputError> {
        let file =
            crate::fs::temporary_file(dir, temporary_prefix).map_err(|cause| OutputError::Io {
                path: dir.join(name),
                cause,
            })?;
        let mut writer = ManifestWriter {
            partial: file.path().to_path_buf(),
            out: BufWriter::new(file),
            target: dir.join(name),
        };
        writer.line(header)?;
        Ok(writer)
    }

    /// Records one written file.
    pub fn add(&mut self, file: &ManifestLine) -> Result<(), OutputError> {
        self.line(file)
    }

    fn line(&mut self, value: &impl Serialize) -> Result<(), OutputError> {
        let text = serde_json::to_string(value).map_err(|e| OutputError::Io {
            path: self.partial.clone(),
            cause: std::io::Error::other(e),
        })?;
        writeln!(self.out, "{text}").map_err(|cause| OutputError::Io {
            path: self.partial.clone(),
            cause,
        })
    }

    /// Flushes the manifest and gives it its final name.
    pub fn finish(self) -> Result<PathBuf, OutputError> {
        let io_error = |path: &Path, cause| OutputError::Io {
            path: path.to_path_buf(),
            cause,
        };
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_error(&self.partial, e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(|e| io_error(&self.partial, e))?;
        let folder = self.target.parent().unwrap_or(Path::new("."));
        sync_folder(folder, true).map_err(|e| io_error(folder, e))?;
        file.persist(&self.target)
            .map_err(|e| io_error(&self.target, e.error))?;
        sync_folder(folder, false).map_err(|e| io_error(folder, e))?;
        Ok(self.target)
    }
}

/// Makes what was written into `folder` durable, so that a published manifest never lists a
/// file a power cut could still empty: with `files`, every file of its file system (one
/// `syncfs` on Linux), then the folder itself (its renames). Elsewhere only the folder.
fn sync_folder(folder: &Path, files: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let handle = std::fs::File::open(folder)?;
        #[cfg(target_os = "linux")]
        if files {
            use std::os::fd::AsRawFd;
            // SAFETY: `handle` owns an open descriptor for the whole call; syncfs only reads it.
            if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        handle.sync_all()?;
    }
    let _ = (folder, files);
    Ok(())
}
