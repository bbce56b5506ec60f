//! The one walk over folders that medigan reads but did not write: image folders for the
//! metrics and the audit (`fid`, `metrics`, `evaluate --real`, `audit`), dataset folders for
//! `dataset verify` / `merge`, and run folders for `--resume` / `--overwrite`.
//!
//! What a [`walk`] guarantees:
//!
//! - **It ends, and counts each thing once.** Every folder is read at most once, known by its
//!   device and inode (its canonical path off Unix), so a symlink cycle (`again -> .`) or two
//!   links to one folder neither loop nor repeat; depth is bounded by [`Walk::max_depth`].
//!   When links are followed, a file reached twice (through links or hard links) is listed
//!   once, at the first path in walk order (entries in name order, depth first).
//! - **Symlinks are followed only when asked.** [`Links::Follow`] (image folders: real data is
//!   often linked in) follows links to files and folders under the rules above;
//!   [`Links::Refuse`] (datasets, run folders) lists no link and enters none.
//! - **Only regular files are listed.** FIFOs, devices and sockets that the selection would
//!   have listed are reported in [`Listing::skipped`] instead, as are cycles, folders below
//!   the depth bound and broken links. A reader still opens each file with
//!   [`crate::fs::open_regular`], which checks the type again on the open file (a file
//!   swapped after the walk is caught) and the size before reading.
//! - **Sorted.** Files come back sorted by path.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::fs::Links;

/// How to walk.
pub struct Walk<'a> {
    /// Whether symlinks are followed.
    pub links: Links,
    /// How many folder levels below the root are entered (0: the root only).
    pub max_depth: usize,
    /// Whether entries whose name starts with `.` are left out (files and folders).
    pub skip_hidden: bool,
    /// Which files are wanted (by path); only these are listed or reported.
    pub select: &'a dyn Fn(&Path) -> bool,
}

/// A regular file found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its path (the root joined with the names walked).
    pub path: PathBuf,
    /// Its path relative to the root, with `/`.
    pub relative: String,
    /// Its size when it was listed.
    pub len: u64,
}

/// Why an entry was not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A folder already read (a symlink cycle, or a second link to one folder).
    Cycle,
    /// A file the selection wanted, but not a regular file ("a FIFO", "a device", ...).
    Special(&'static str),
    /// A folder deeper than [`Walk::max_depth`].
    TooDeep,
    /// A symlink whose target cannot be read.
    Broken(String),
}

/// An entry [`walk`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its path.
    pub path: PathBuf,
    /// Why.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.reason {
            SkipReason::Cycle => {
                write!(f, "`{path}` leads to a folder already read (a link cycle?)")
            }
            SkipReason::Special(kind) => write!(f, "`{path}` is {kind}, not a regular file"),
            SkipReason::TooDeep => write!(f, "`{path}` is too deep below the folder"),
            SkipReason::Broken(reason) => write!(f, "`{path}` is a broken link: {reason}"),
        }
    }
}

/// What [`walk`] found.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The regular files selected, sorted by path.
    pub files: Vec<Found>,
    /// What was left out (see [`SkipReason`]), in walk order.
    pub skipped: Vec<Skipped>,
}

impl Listing {
    /// Logs each skipped entry as a warning (the first `at_most` of them, then a count).
    pub fn warn_skipped(&self, at_most: usize) {
        for skipped in self.skipped.iter().take(at_most) {
            tracing::warn!("skipped {skipped}");
        }
        if self.skipped.len() > at_most {
            tracing::warn!("skipped {} more entries", self.skipped.len() - at_most);
        }
    }
}

/// A folder or file's identity: device and inode.
#[cfg(unix)]
type Identity = (u64, u64);
#[cfg(not(unix))]
type Identity = PathBuf;

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata, _path: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata, path: &Path) -> Option<Identity> {
    std::fs::canonicalize(path).ok()
}

/// Walks `root` (a folder, or a link to one) as `how` says; see the module doc. An error
/// means the root or a folder below it cannot be listed.
pub fn walk(root: &Path, how: &Walk<'_>) -> std::io::Result<Listing> {
    let root_meta = std::fs::metadata(root)?;
    if !root_meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("it is {}, not a folder", crate::fs::kind_of(&root_meta)),
        ));
    }
    let mut listing = Listing::default();
    let mut folders_seen: HashSet<Identity> = HashSet::new();
    let mut files_seen: HashSet<Identity> = HashSet::new();
    folders_seen.extend(identity(&root_meta, root));
    let mut pending = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((folder, prefix, depth)) = pending.pop() {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            entries.push((entry.file_name(), entry.file_type()?));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subfolders = Vec::new();
        for (name, kind) in entries {
            let shown = name.to_string_lossy();
            if how.skip_hidden && shown.starts_with('.') {
                continue;
            }
            let path = folder.join(&name);
            let relative = format!("{prefix}{shown}");
            let meta = if kind.is_symlink() {
                if how.links == Links::Refuse {
                    continue;
                }
                match std::fs::metadata(&path) {
                    Ok(meta) => meta,
                    Err(e) => {
                        if (how.select)(&path) {
                            listing.skipped.push(Skipped {
                                path,
                                reason: SkipReason::Broken(e.to_string()),
                            });
                        }
                        continue;
                    }
                }
            } else if kind.is_dir() || kind.is_file() || (how.select)(&path) {
                match std::fs::symlink_metadata(&path) {
                    Ok(meta) => meta,
                    // Gone since it was listed.
                    Err(_) => continue,
                }
            } else {
                continue;
            };
            if meta.is_dir() {
                if depth >= how.max_depth {
                    listing.skipped.push(Skipped {
                        path,
                        reason: SkipReason::TooDeep,
                    });
                } else if identity(&meta, &path).is_some_and(|id| !folders_seen.insert(id)) {
                    listing.skipped.push(Skipped {
                        path,
                        reason: SkipReason::Cycle,
                    });
                } else {
                    subfolders.push((path, format!("{relative}/"), depth + 1));
                }
            } else if !(how.select)(&path) {
                continue;
            } else if !meta.is_file() {
                listing.skipped.push(Skipped {
                    path,
                    reason: SkipReason::Special(crate::fs::kind_of(&meta)),
                });
            } else if how.links == Links::Refuse
                || identity(&meta, &path).is_none_or(|id| files_seen.insert(id))
            {
                listing.files.push(Found {
                    path,
                    relative,
                    len: meta.len(),
                });
            }
        }
        // Depth first, in name order.
        pending.extend(subfolders.into_iter().rev());
    }
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn images(root: &Path, links: Links) -> Listing {
        let select = |p: &Path| p.extension().is_some_and(|e| e == "png");
        walk(
            root,
            &Walk {
                links,
                max_depth: 16,
                skip_hidden: true,
                select: &select,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_symlink_cycle_is_read_once_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.png"), b"a").unwrap();
        std::fs::write(dir.path().join("sub/b.png"), b"b").unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("again")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink("a.png", dir.path().join("c.png")).unwrap();
        let listing = images(dir.path(), Links::Follow);
        let names: Vec<_> = listing.files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["a.png", "sub/b.png"]);
        let cycles = listing
            .skipped
            .iter()
            .filter(|s| s.reason == SkipReason::Cycle)
            .count();
        assert_eq!(cycles, 2, "{:?}", listing.skipped);
        let listing = images(dir.path(), Links::Refuse);
        assert_eq!(listing.files.len(), 2);
        assert!(listing.skipped.is_empty());
    }

    #[test]
    fn a_linked_folder_outside_is_followed_once() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("x.png"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(data.path(), dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(data.path(), dir.path().join("real2")).unwrap();
        let listing = images(dir.path(), Links::Follow);
        let names: Vec<_> = listing.files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["real/x.png"]);
    }

    #[test]
    fn special_files_are_reported_not_listed_and_depth_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.png");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("z.png")).unwrap();
        let mut deep = dir.path().to_path_buf();
        for _ in 0..20 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("deep.png"), b"x").unwrap();
        let listing = images(dir.path(), Links::Follow);
        assert!(listing.files.is_empty());
        let reasons: Vec<_> = listing.skipped.iter().map(|s| s.reason.clone()).collect();
        assert!(
            reasons.contains(&SkipReason::Special("a FIFO")),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&SkipReason::Special("a device")),
            "{reasons:?}"
        );
        assert!(reasons.contains(&SkipReason::TooDeep), "{reasons:?}");
    }
}
