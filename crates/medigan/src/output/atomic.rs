//! Files that appear complete or not at all: write to a hidden temporary name, then rename.

use std::io::Write;
use std::path::Path;

use super::OutputError;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a partial file; on error nothing is left at `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let io_error = |cause| OutputError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".medigan-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(io_error)?;
    tmp.write_all(bytes).map_err(io_error)?;
    tmp.persist(path).map_err(|e| io_error(e.error))?;
    Ok(())
}
