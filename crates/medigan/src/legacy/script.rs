//! Running a script in a model's Python, written once for the bridge (`bridge.rs`) and
//! `crate::convert`'s export: the script installed under a name made from its content's digest
//! (so a new version never reuses an old file), and the run folder that gives the script
//! `models/<id>` (the package, linked) as the original medigan laid its packages out.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{LegacyError, LegacyModel};

/// Writes `text` as `<dir>/<stem>-<digest>.py` (atomically, once per version of the script)
/// and returns its path.
pub(crate) fn install_script(dir: &Path, stem: &str, text: &str) -> Result<PathBuf, LegacyError> {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let path = dir.join(format!("{stem}-{}.py", &digest[..16]));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(LegacyError::io("create directory", dir))?;
    crate::fs::write_atomically(&path, text.as_bytes()).map_err(LegacyError::io("write", &path))?;
    Ok(path)
}

/// Makes `run_dir` a folder a script of `model` runs in: `run_dir/models/<id>` links to the
/// package.
pub(crate) fn prepare_run_dir(model: &LegacyModel, run_dir: &Path) -> Result<(), LegacyError> {
    let models = run_dir.join("models");
    std::fs::create_dir_all(&models).map_err(LegacyError::io("create directory", &models))?;
    link_dir(&model.package.dir, &models.join(&model.id))
}

#[cfg(unix)]
fn link_dir(target: &Path, link: &Path) -> Result<(), LegacyError> {
    std::os::unix::fs::symlink(target, link).map_err(LegacyError::io("link", link))
}

#[cfg(windows)]
fn link_dir(target: &Path, link: &Path) -> Result<(), LegacyError> {
    std::os::windows::fs::symlink_dir(target, link).map_err(LegacyError::io("link", link))
}
