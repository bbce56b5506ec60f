//! Finding the onnxruntime shared library at run time: `ORT_DYLIB_PATH`, the `onnxruntime`
//! Python wheel, then the system library directories.
//!
//! Nothing is downloaded and nothing is linked at build time. The wheel ships only a versioned
//! file (`onnxruntime/capi/libonnxruntime.so.1.32.0`), so the directories are listed and the
//! newest matching file is taken; Python is asked only where its site-packages are (it does not
//! import onnxruntime, which would take a second).

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::error::RuntimeError;

/// The environment variable naming the library file (or a directory holding it).
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// A found onnxruntime library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    /// The library file (absolute).
    pub path: PathBuf,
    /// Where it was found.
    pub source: LibrarySource,
}

/// Where an onnxruntime library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// An installed `onnxruntime` Python package.
    PythonPackage,
    /// A system library directory (`LD_LIBRARY_PATH`, `/usr/lib`, ...).
    SystemDir,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibrarySource::EnvVar => "ORT_DYLIB_PATH",
            LibrarySource::PythonPackage => "the onnxruntime Python package",
            LibrarySource::SystemDir => "a system library directory",
        })
    }
}

/// One place to look: returns the library, or notes in `tried` what was there.
type SearchStep = fn(&mut Vec<String>) -> Option<PathBuf>;

/// Looks for the onnxruntime library; the error lists every place tried.
pub fn find_onnxruntime() -> Result<OrtLibrary, RuntimeError> {
    let mut tried = Vec::new();
    let steps: [(LibrarySource, SearchStep); 3] = [
        (LibrarySource::EnvVar, from_env_var),
        (LibrarySource::PythonPackage, from_python_package),
        (LibrarySource::SystemDir, from_system_dirs),
    ];
    for (source, step) in steps {
        if let Some(path) = step(&mut tried) {
            tracing::debug!(path = %path.display(), %source, "found the onnxruntime library");
            return Ok(OrtLibrary { path, source });
        }
    }
    Err(RuntimeError::OrtNotFound { tried })
}

/// `ORT_DYLIB_PATH`: a file, or a directory holding the library; relative to the current dir.
fn from_env_var(tried: &mut Vec<String>) -> Option<PathBuf> {
    let value = std::env::var_os(ORT_DYLIB_PATH).filter(|v| !v.is_empty());
    let Some(value) = value else {
        tried.push(format!("{ORT_DYLIB_PATH}: not set"));
        return None;
    };
    let path = absolute(Path::new(&value));
    if path.is_file() {
        return Some(path);
    }
    if path.is_dir() {
        return search_dir(
            &path,
            &format!("{ORT_DYLIB_PATH}={}", path.display()),
            tried,
        );
    }
    tried.push(format!("{ORT_DYLIB_PATH}={}: no such file", path.display()));
    None
}

/// `<site-packages>/onnxruntime/capi/libonnxruntime.so.<version>` of an active virtual or
/// conda environment, then of every site-packages directory `python3` knows.
fn from_python_package(tried: &mut Vec<String>) -> Option<PathBuf> {
    let mut sites = env_site_packages();
    // An active environment that has the package settles it without starting Python (which,
    // behind a pyenv or conda shim, can take a large part of a second).
    if let Some(found) = newest_in_capis(&sites, &mut Vec::new()) {
        return Some(found);
    }
    match python_site_dirs() {
        Ok(found) => sites.extend(found.iter().cloned()),
        Err(why) => tried.push(format!("python3 site-packages: {why}")),
    }
    dedup(&mut sites);
    let found = newest_in_capis(&sites, tried);
    if found.is_none() && !sites.iter().any(|site| capi_dir(site).is_dir()) {
        tried.push(format!(
            "Python site-packages ({}): no onnxruntime package",
            join_paths(&sites)
        ));
    }
    found
}

fn capi_dir(site: &Path) -> PathBuf {
    site.join("onnxruntime").join("capi")
}

/// The library in the first `onnxruntime/capi` folder of `sites` that has one.
fn newest_in_capis(sites: &[PathBuf], tried: &mut Vec<String>) -> Option<PathBuf> {
    sites
        .iter()
        .map(|site| capi_dir(site))
        .filter(|capi| capi.is_dir())
        .find_map(|capi| search_dir(&capi, &capi.display().to_string(), tried))
}

/// `LD_LIBRARY_PATH` (or the platform's equivalent), then the usual system directories.
fn from_system_dirs(tried: &mut Vec<String>) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(LIBRARY_PATH_VAR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    if cfg!(target_os = "linux") {
        let arch = std::env::consts::ARCH;
        dirs.push(PathBuf::from(format!("/usr/lib/{arch}-linux-gnu")));
    }
    dedup(&mut dirs);
    dirs.iter()
        .find_map(|dir| search_dir(dir, &dir.display().to_string(), tried))
}

#[cfg(target_os = "macos")]
const LIBRARY_PATH_VAR: &str = "DYLD_LIBRARY_PATH";
#[cfg(not(target_os = "macos"))]
const LIBRARY_PATH_VAR: &str = "LD_LIBRARY_PATH";

#[cfg(target_os = "macos")]
const SYSTEM_DIRS: &[&str] = &["/usr/local/lib", "/opt/homebrew/lib"];
#[cfg(not(target_os = "macos"))]
const SYSTEM_DIRS: &[&str] = &["/usr/local/lib", "/usr/lib", "/usr/lib64"];

/// The newest library file in `dir`, or a line in `tried` saying there is none.
fn search_dir(dir: &Path, label: &str, tried: &mut Vec<String>) -> Option<PathBuf> {
    let best = std::fs::read_dir(dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(is_library_name) && p.is_file())
            .max_by_key(|p| version_key(p))
    });
    if best.is_none() {
        let why = if dir.is_dir() {
            format!("no {LIBRARY_PATTERN}")
        } else {
            "no such directory".into()
        };
        tried.push(format!("{label}: {why}"));
    }
    best
}

#[cfg(target_os = "macos")]
const LIBRARY_PATTERN: &str = "libonnxruntime*.dylib";
#[cfg(target_os = "windows")]
const LIBRARY_PATTERN: &str = "onnxruntime.dll";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const LIBRARY_PATTERN: &str = "libonnxruntime.so*";

/// Whether a file name is the onnxruntime library (not one of its provider libraries).
fn is_library_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    if cfg!(target_os = "macos") {
        name.starts_with("libonnxruntime.") && name.ends_with(".dylib")
    } else if cfg!(target_os = "windows") {
        name.eq_ignore_ascii_case("onnxruntime.dll")
    } else {
        name == "libonnxruntime.so" || name.starts_with("libonnxruntime.so.")
    }
}

/// The numbers in a file name (`libonnxruntime.so.1.32.0` -> [1, 32, 0]), to pick the newest.
fn version_key(path: &Path) -> Vec<u64> {
    let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// site-packages of the active virtual or conda environment, found without running Python.
fn env_site_packages() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        let Some(root) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let root = PathBuf::from(root);
        dirs.push(root.join("Lib").join("site-packages"));
        let Ok(entries) = std::fs::read_dir(root.join("lib")) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name().to_string_lossy().starts_with("python") {
                dirs.push(entry.path().join("site-packages"));
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// What `python3` reports as its package directories (asked once per process).
fn python_site_dirs() -> Result<&'static [PathBuf], &'static str> {
    static DIRS: OnceLock<Result<Vec<PathBuf>, &'static str>> = OnceLock::new();
    DIRS.get_or_init(query_python).as_deref().map_err(|e| *e)
}

const PYTHON_SITE_SCRIPT: &str = "import site, sys, sysconfig\n\
paths = [sysconfig.get_paths().get(k) for k in ('purelib', 'platlib')]\n\
try:\n    paths += site.getsitepackages()\n\
except Exception:\n    pass\n\
try:\n    paths.append(site.getusersitepackages())\n\
except Exception:\n    pass\n\
paths += sys.path\n\
print('\\n'.join(p for p in paths if p))\n";

fn query_python() -> Result<Vec<PathBuf>, &'static str> {
    // `-I` (isolated): neither the working directory nor the script's folder is put on
    // `sys.path` and `PYTHON*` variables are ignored, so a `sysconfig.py` or `site.py` in the
    // folder medigan runs from is never imported (issue #14, defect 1). `-S`: no `site` hooks.
    let output = Command::new("python3")
        .args(["-I", "-S", "-c", PYTHON_SITE_SCRIPT])
        .output()
        .map_err(|_| "python3 not found")?;
    if !output.status.success() {
        return Err("python3 failed to list them");
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut dirs: Vec<PathBuf> = text
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .collect();
    dedup(&mut dirs);
    Ok(dirs)
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir().map_or_else(|_| path.to_path_buf(), |dir| dir.join(path))
}

fn dedup(dirs: &mut Vec<PathBuf>) {
    let mut seen = Vec::with_capacity(dirs.len());
    dirs.retain(|d| {
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
}

fn join_paths(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "none found".into();
    }
    let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names() {
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            return;
        }
        for good in ["libonnxruntime.so", "libonnxruntime.so.1.32.0"] {
            assert!(is_library_name(OsStr::new(good)), "{good}");
        }
        for bad in [
            "libonnxruntime_providers_shared.so",
            "libonnxruntime.a",
            "onnxruntime.so",
        ] {
            assert!(!is_library_name(OsStr::new(bad)), "{bad}");
        }
    }

    #[test]
    fn newest_version_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime.so.1.17.3",
        ] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        let mut tried = Vec::new();
        let found = search_dir(dir.path(), "test", &mut tried);
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            return;
        }
        assert_eq!(found, Some(dir.path().join("libonnxruntime.so.1.32.0")));
        assert!(tried.is_empty());
    }

    #[test]
    fn empty_dir_is_listed_as_tried() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut tried = Vec::new();
        assert_eq!(search_dir(dir.path(), "here", &mut tried), None);
        assert_eq!(tried, vec![format!("here: no {LIBRARY_PATTERN}")]);
    }
}
