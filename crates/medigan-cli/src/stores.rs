//! Object-store URLs given where a folder is expected: `generate -o s3://bucket/prefix`,
//! `dataset verify|merge URL`, `fid`/`metrics URL URL` (also `gs://`, `az://`, `file://`).
//! The library's [`Staged`] does the work; a build without the cargo feature `object-store`
//! says so when a URL is given.

use std::path::{Path, PathBuf};

#[cfg(feature = "object-store")]
pub use medigan::remote::{Selection, Staged};

/// The URL a path argument names (`scheme://...`), if it is one.
pub fn url_of(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(text)
}

/// A command's output: `None` for a folder, else the store opened (writable, checked before
/// any work) with `selection` of its contents staged locally.
#[cfg(feature = "object-store")]
pub fn output(path: &Path, selection: Selection) -> anyhow::Result<Option<Staged>> {
    match url_of(path) {
        Some(url) => Ok(Some(Staged::output(url, selection)?)),
        None => Ok(None),
    }
}

/// A command's input folder: the path itself, or the staged copy of the store it names
/// (kept while the returned value lives).
#[cfg(feature = "object-store")]
pub fn input(path: &Path) -> anyhow::Result<(PathBuf, Option<Staged>)> {
    match url_of(path) {
        Some(url) => {
            let staged = Staged::input(url)?;
            Ok((staged.dir().to_path_buf(), Some(staged)))
        }
        None => Ok((path.to_path_buf(), None)),
    }
}

/// A command's input folder (this build has no object-store support: a URL is refused).
#[cfg(not(feature = "object-store"))]
pub fn input(path: &Path) -> anyhow::Result<(PathBuf, Option<std::convert::Infallible>)> {
    refuse_url(path)?;
    Ok((path.to_path_buf(), None))
}

/// Refuses a store URL in a build without the `object-store` feature.
#[cfg(not(feature = "object-store"))]
pub fn refuse_url(path: &Path) -> anyhow::Result<()> {
    if let Some(url) = url_of(path) {
        anyhow::bail!(
            "`{url}` is a store URL, but this build of medigan has no object-store support \
             (cargo feature `object-store`)"
        );
    }
    Ok(())
}
