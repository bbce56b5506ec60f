//! Packing a package folder into a reproducible zip: entries sorted by path, fixed timestamps
//! (1980-01-01 00:00) and permissions (0644), deflate level 9. The same files give the same
//! bytes, so the sha256 in the catalogue entry can be checked by anyone who packs again
//! (`scripts/pack_bundled.py` packs the bundled models the same way).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use super::error::ContributeError;

/// Files at the package root that are never packed: the field guide `init-model` writes.
const SKIPPED_AT_ROOT: &[&str] = &["METADATA.md"];

/// A packed package.
#[derive(Debug, Clone)]
pub struct PackedPackage {
    /// The zip archive.
    pub bytes: Vec<u8>,
    /// Its sha256, lower-case hex.
    pub sha256: String,
    /// The packed paths, `/`-separated, in archive order.
    pub files: Vec<String>,
}

/// Packs every regular file under `dir` (hidden files and folders, `__pycache__`, a root
/// `METADATA.md` and `exclude` left out), replacing the contents of the files named in
/// `replace` (relative paths) with the given bytes. A symbolic link is refused: the archive
/// holds plain files only.
pub fn pack_dir(
    dir: &Path,
    replace: &[(&str, &[u8])],
    exclude: Option<&Path>,
) -> Result<PackedPackage, ContributeError> {
    let exclude = exclude.and_then(|p| p.canonicalize().ok());
    let mut files = Vec::new();
    collect(dir, dir, exclude.as_deref(), &mut files)?;
    for (name, _) in replace {
        if !files.iter().any(|(n, _)| n == name) {
            files.push(((*name).to_string(), dir.join(name)));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let zip_error = |cause: zip::result::ZipError| ContributeError::Io {
        action: "pack",
        path: dir.to_path_buf(),
        cause: std::io::Error::other(cause),
    };
    for (name, path) in &files {
        let bytes = match replace.iter().find(|(n, _)| n == name) {
            Some((_, bytes)) => bytes.to_vec(),
            None => std::fs::read(path).map_err(|cause| ContributeError::Io {
                action: "read",
                path: path.clone(),
                cause,
            })?,
        };
        // An entry of 4 GiB or more (a graph's external-data file) needs ZIP64 fields.
        let large = bytes.len() as u64 >= u64::from(u32::MAX);
        writer
            .start_file(name.as_str(), options.large_file(large))
            .map_err(zip_error)?;
        writer
            .write_all(&bytes)
            .map_err(|cause| ContributeError::Io {
                action: "pack",
                path: path.clone(),
                cause,
            })?;
    }
    let bytes = writer.finish().map_err(zip_error)?.into_inner();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(PackedPackage {
        bytes,
        sha256,
        files: files.into_iter().map(|(n, _)| n).collect(),
    })
}

fn collect(
    root: &Path,
    dir: &Path,
    exclude: Option<&Path>,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<(), ContributeError> {
    let io = |cause, path: &Path| ContributeError::Io {
        action: "read",
        path: path.to_path_buf(),
        cause,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(e, dir))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(e, dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .expect("walked from root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if dir == root && SKIPPED_AT_ROOT.contains(&name.as_str()) {
            continue;
        }
        let kind = entry.file_type().map_err(|e| io(e, &path))?;
        if kind.is_symlink() {
            return Err(ContributeError::NotReady {
                dir: root.to_path_buf(),
                problems: vec![format!(
                    "`{relative}` is a symbolic link: a package holds plain files only"
                )],
            });
        }
        if kind.is_dir() {
            collect(root, &path, exclude, files)?;
        } else if kind.is_file() {
            if exclude.is_some_and(|x| path.canonicalize().is_ok_and(|p| p == x)) {
                continue;
            }
            files.push((relative, path));
        }
    }
    Ok(())
}
