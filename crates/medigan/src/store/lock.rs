//! An exclusive file lock under `locks/`, held while one link is fetched, so that two processes
//! fetching the same model wait for each other instead of corrupting each other's files.

use std::fs::{File, TryLockError};
use std::path::Path;

use super::StoreError;

/// A held lock; released when dropped (or when the process dies).
///
/// Lock files stay in `locks/` after use: deleting one while another process waits on it would
/// let a third process lock a fresh file and run alongside the second.
#[derive(Debug)]
pub(crate) struct FetchLock {
    _file: File,
}

impl FetchLock {
    /// Locks `<dir>/<key>.lock`, waiting for another holder to finish; `what` names the
    /// fetch in the log line shown while waiting.
    pub(crate) fn acquire(dir: &Path, key: &str, what: &str) -> Result<FetchLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
        let path = dir.join(format!("{key}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StoreError::io("open lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::info!(
                    "waiting for another medigan process that is fetching {what} (lock `{}`)",
                    path.display()
                );
                file.lock().map_err(StoreError::io("lock", &path))?;
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", &path)(e)),
        }
        Ok(FetchLock { _file: file })
    }
}
