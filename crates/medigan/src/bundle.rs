//! Offline bundles for air-gapped sites (`medigan bundle export|import`, issue 29 item 3).
//!
//! A bundle is one tar file:
//!
//! ```text
//! bundle.json                  the manifest: format, tool version, platform, models, and the
//!                              path + size + sha256 of every other member
//! catalog.json                 the catalogue entries of the bundled models, each pinned to its
//!                              package (`execution.sha256`) and linked to where it came from
//! packages/<sha256>/...        each package as cached (its files, unpacked)
//! wheelhouse/*.whl             legacy packages' Python dependencies (`pip download`)
//! ```
//!
//! [`export`] writes it atomically (a temporary file renamed into place). [`import`] unpacks it
//! into the home's `tmp/` with bounds ([`BundleLimits`]: member count, sizes, plain relative
//! names only), checks every member against the manifest before installing anything, then
//! installs the packages into the cache, the wheels into `<home>/wheelhouse-v1/` (legacy
//! environments then install from it only: `pip --no-index --find-links`), and the entries into
//! the user catalogue (`<home>/catalog-v1/local.json`). A damaged bundle is refused with the
//! member named, and the home is left as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Generators;
use crate::catalog::user::add_entry;
use crate::home::Home;
use crate::store::{FetchRequest, RECORD_FILE, Store};

/// Name of the manifest member.
pub const MANIFEST: &str = "bundle.json";
/// Name of the catalogue member.
pub const CATALOG: &str = "catalog.json";
/// Version of the bundle layout written by this build.
pub const FORMAT: u32 = 1;

/// Errors of writing and reading bundles.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("cannot {action} `{path}`: {cause}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A member's content does not match the manifest.
    #[error(
        "the bundle is damaged: `{member}` has sha256 {actual}, the manifest says {expected}; \
         nothing was installed"
    )]
    Damaged {
        /// The member.
        member: String,
        /// sha256 in the manifest.
        expected: String,
        /// sha256 of the member.
        actual: String,
    },
    /// The bundle breaks a rule (names, bounds, manifest); nothing was installed.
    #[error("the bundle `{path}` is refused: {reason}; nothing was installed")]
    Refused {
        /// The bundle file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A model cannot be bundled.
    #[error("cannot bundle `{model}`: {reason}")]
    Model {
        /// The model id.
        model: String,
        /// Why.
        reason: String,
    },
    /// `pip download` failed.
    #[error("`pip download` of the dependencies of `{model}` failed: {output}")]
    Pip {
        /// The model id.
        model: String,
        /// The end of pip's output.
        output: String,
    },
    /// Installing a package or an entry failed.
    #[error(transparent)]
    Library(#[from] Box<crate::Error>),
}

impl From<crate::Error> for BundleError {
    fn from(error: crate::Error) -> Self {
        BundleError::Library(Box::new(error))
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |cause| BundleError::Io {
        action,
        path,
        cause,
    }
}

/// The manifest, `bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// The medigan version that wrote it.
    pub tool_version: String,
    /// The pip platform tag the wheels are for (`--platform`), if named.
    pub platform: Option<String>,
    /// The Python version the wheels are for (`--python-version`), if named.
    pub python_version: Option<String>,
    /// The bundled models.
    pub models: Vec<BundledModel>,
    /// Every member but the manifest.
    pub files: Vec<BundledFile>,
}

/// One bundled model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledModel {
    /// The model id.
    pub id: String,
    /// sha256 of its package (the folder under `packages/`).
    pub package_sha256: String,
    /// Whether `package_sha256` is a hash over the files (a local package folder) rather than
    /// the hash of a downloaded archive.
    pub directory_hash: bool,
    /// The link the package came from.
    pub source: String,
    /// Whether it runs through its own Python code (a legacy package).
    pub legacy: bool,
}

/// One member of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledFile {
    /// The member name (`/`-separated, relative).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of its content.
    pub sha256: String,
}

/// What [`export`] bundles beyond the packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// pip platform tag of the wheels (`--platform`, e.g. `manylinux2014_x86_64`).
    pub platform: Option<String>,
    /// Python version of the wheels (`--python-version`, e.g. `3.11`).
    pub python_version: Option<String>,
    /// Requirement names left out of the wheelhouse (provided by the site's Python, e.g. torch).
    pub skip_dependencies: Vec<String>,
}

/// Bounds applied while reading a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Most members (default 100 000).
    pub max_entries: usize,
    /// Largest member (default 16 GiB).
    pub max_file_bytes: u64,
    /// Largest total of the members (default 64 GiB).
    pub max_total_bytes: u64,
}

impl Default for BundleLimits {
    fn default() -> Self {
        BundleLimits {
            max_entries: 100_000,
            max_file_bytes: 16 << 30,
            max_total_bytes: 64 << 30,
        }
    }
}

/// What [`export`] or [`import`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// The bundle file.
    pub path: PathBuf,
    /// The models.
    pub models: Vec<String>,
    /// Members (without the manifest).
    pub files: usize,
    /// Wheels in the wheelhouse.
    pub wheels: usize,
    /// Total size of the members in bytes.
    pub bytes: u64,
}

/// sha256 and size of a file.
fn hash_file(path: &Path) -> Result<(String, u64), BundleError> {
    let mut file = File::open(path).map_err(io("open", path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((hex(&hasher.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The regular files under `dir`, as (`/`-separated relative path, path), sorted; the store's
/// record file is left out.
fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, BundleError> {
    let mut found = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = stack.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io("read directory", &folder))? {
            let entry = entry.map_err(io("read directory", &folder))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::metadata(entry.path()).map_err(io("inspect", &entry.path()))?;
            if meta.is_dir() {
                stack.push((rel, entry.path()));
            } else if meta.is_file() && rel != RECORD_FILE {
                found.push((rel, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The name part of a requirement (`torch>=2` -> `torch`), lower case, `_` as `-`.
fn requirement_name(requirement: &str) -> String {
    requirement
        .split(|c: char| "<>=!~[;@ ".contains(c))
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Writes a bundle of `ids` to `out` (atomically): their packages, pinned catalogue entries,
/// and for legacy packages a wheelhouse of their dependencies, downloaded with `pip download
/// --only-binary=:all:` for the options' platform and Python version (with the legacy
/// settings' Python and `MEDIGAN_PIP_ARGS`).
pub fn export(
    generators: &Generators,
    ids: &[String],
    out: &Path,
    options: &ExportOptions,
) -> Result<BundleReport, BundleError> {
    let store = generators.store();
    let home = store.home();
    let tmp = home.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(io("create directory", &tmp))?;
    let wheelhouse = tempfile::Builder::new()
        .prefix("bundle-wheels-")
        .tempdir_in(&tmp)
        .map_err(io("create a folder in", &tmp))?;
    let mut models = Vec::new();
    let mut entries = serde_json::Map::new();
    let mut members: Vec<(String, PathBuf)> = Vec::new();
    let mut seen = BTreeSet::new();
    let skip: BTreeSet<String> = options
        .skip_dependencies
        .iter()
        .map(|s| requirement_name(s))
        .collect();
    for id in ids {
        let entry = generators.get_config_by_id(id)?;
        let base = generators.source_dir(entry)?;
        let execution = &entry.metadata.execution;
        let legacy = crate::legacy::is_legacy(entry);
        let unpinned =
            FetchRequest::for_package(&entry.id, &execution.package_link, base.as_deref(), None);
        let recorded = crate::legacy::TrustLock::in_home(home.root())
            .get(&unpinned.link)
            .map_err(crate::Error::from)?;
        let pin = execution.sha256.clone().or(recorded);
        let request = FetchRequest::for_package(
            &entry.id,
            &execution.package_link,
            base.as_deref(),
            pin.as_deref(),
        );
        let package = store
            .fetch(&request, &crate::progress::NoProgress)
            .map_err(crate::Error::from)?;
        let directory_hash = !package.dir.starts_with(store.path());
        if seen.insert(package.sha256.clone()) {
            for (rel, path) in files_under(&package.dir)? {
                members.push((format!("packages/{}/{rel}", package.sha256), path));
            }
        }
        let mut json = serde_json::to_value(&entry.metadata).map_err(|e| BundleError::Model {
            model: entry.id.clone(),
            reason: e.to_string(),
        })?;
        if let Some(execution) = json.get_mut("execution").and_then(Value::as_object_mut) {
            execution.insert("package_link".into(), Value::String(request.link.clone()));
            execution.insert("sha256".into(), Value::String(package.sha256.clone()));
        }
        entries.insert(entry.id.clone(), json);
        if legacy {
            let wanted: Vec<&String> = execution
                .dependencies
                .iter()
                .filter(|d| !skip.contains(&requirement_name(d)))
                .collect();
            if !wanted.is_empty() {
                pip_download(generators, &entry.id, &wanted, wheelhouse.path(), options)?;
            }
        }
        models.push(BundledModel {
            id: entry.id.clone(),
            package_sha256: package.sha256.clone(),
            directory_hash,
            source: request.link.clone(),
            legacy,
        });
    }
    for (name, path) in files_under(wheelhouse.path())? {
        if !name.contains('/') {
            members.push((format!("wheelhouse/{name}"), path));
        }
    }
    let catalog_path = wheelhouse.path().with_extension("catalog.json");
    let mut catalog_text =
        serde_json::to_string_pretty(&Value::Object(entries)).expect("JSON values");
    catalog_text.push('\n');
    std::fs::write(&catalog_path, catalog_text).map_err(io("write", &catalog_path))?;
    members.insert(0, (CATALOG.to_string(), catalog_path.clone()));
    let result = write_tar(out, &members, models, options);
    let _ = std::fs::remove_file(&catalog_path);
    result
}

fn pip_download(
    generators: &Generators,
    model: &str,
    requirements: &[&String],
    dir: &Path,
    options: &ExportOptions,
) -> Result<(), BundleError> {
    let settings = generators.legacy_settings();
    let mut pip = Command::new(&settings.python);
    pip.args([
        "-I",
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "-d",
    ])
    .arg(dir);
    if let Some(platform) = &options.platform {
        pip.args(["--platform", platform]);
    }
    if let Some(version) = &options.python_version {
        pip.args(["--python-version", version]);
    }
    pip.args(&settings.pip_args).args(requirements);
    tracing::info!("downloading the wheels of `{model}`");
    let output = pip.output().map_err(|e| BundleError::Pip {
        model: model.to_string(),
        output: format!("cannot start `{}`: {e}", settings.python),
    })?;
    if !output.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return Err(BundleError::Pip {
            model: model.to_string(),
            output: crate::legacy::last_lines(&text, 12),
        });
    }
    Ok(())
}

fn write_tar(
    out: &Path,
    members: &[(String, PathBuf)],
    models: Vec<BundledModel>,
    options: &ExportOptions,
) -> Result<BundleReport, BundleError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = crate::fs::temporary_file(&dir, ".bundle-").map_err(io("create a file in", &dir))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(temp.as_file()));
    let mut files = Vec::new();
    let mut bytes = 0;
    for (name, path) in members {
        let (sha256, size) = hash_file(path)?;
        let mut file = File::open(path).map_err(io("open", path))?;
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, &mut file)
            .map_err(io("write", out))?;
        bytes += size;
        files.push(BundledFile {
            path: name.clone(),
            size,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        platform: options.platform.clone(),
        python_version: options.python_version.clone(),
        models,
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest is JSON");
    let mut header = tar::Header::new_ustar();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, MANIFEST, text.as_slice())
        .map_err(io("write", out))?;
    let mut writer = builder.into_inner().map_err(io("write", out))?;
    writer.flush().map_err(io("write", out))?;
    drop(writer);
    temp.as_file().sync_all().map_err(io("write", out))?;
    temp.persist(out)
        .map_err(|e| io("move the bundle to", out)(e.error))?;
    let wheels = manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("wheelhouse/"))
        .count();
    Ok(BundleReport {
        path: out.to_path_buf(),
        models: manifest.models.iter().map(|m| m.id.clone()).collect(),
        files: manifest.files.len(),
        wheels,
        bytes,
    })
}

/// A member name as a safe relative path: `/`-separated plain components only.
fn safe_member(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('\\') || name.contains('\0') {
        return None;
    }
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

/// Checks the bundle at `path` member by member against its manifest, then installs its
/// packages, wheels and catalogue entries into `home` (entries of the same id are replaced).
/// Anything wrong (a damaged member, a member the manifest does not list, an unsafe name, a
/// bound exceeded) refuses the whole bundle before anything is installed.
pub fn import(
    home: &Home,
    path: &Path,
    limits: &BundleLimits,
) -> Result<BundleReport, BundleError> {
    let refused = |reason: String| BundleError::Refused {
        path: path.to_path_buf(),
        reason,
    };
    let tmp = home.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(io("create directory", &tmp))?;
    let staging = tempfile::Builder::new()
        .prefix("bundle-import-")
        .tempdir_in(&tmp)
        .map_err(io("create a folder in", &tmp))?;
    let file = File::open(path).map_err(io("open", path))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut staged: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut total = 0u64;
    for (count, entry) in archive.entries().map_err(io("read", path))?.enumerate() {
        if count >= limits.max_entries {
            return Err(refused(format!(
                "it has more than {} members",
                limits.max_entries
            )));
        }
        let mut entry = entry.map_err(io("read", path))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(refused(format!(
                "member `{name}` is not a regular file (links and special files are not taken)"
            )));
        }
        let Some(rel) = safe_member(&name) else {
            return Err(refused(format!(
                "member name `{name}` is not a plain relative path"
            )));
        };
        let size = entry.size();
        if size > limits.max_file_bytes {
            return Err(refused(format!(
                "member `{name}` is {size} bytes, more than the limit of {}",
                limits.max_file_bytes
            )));
        }
        total += size;
        if total > limits.max_total_bytes {
            return Err(refused(format!(
                "its members exceed {} bytes in all",
                limits.max_total_bytes
            )));
        }
        let key = rel.to_string_lossy().replace('\\', "/");
        if staged.contains_key(&key) {
            return Err(refused(format!("member `{name}` appears twice")));
        }
        let target = staging.path().join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
        }
        let mut out = File::create(&target).map_err(io("write", &target))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        let mut written = 0u64;
        loop {
            let n = entry.read(&mut buffer).map_err(io("read", path))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n]).map_err(io("write", &target))?;
        }
        staged.insert(key, (hex(&hasher.finalize()), written));
    }
    let manifest_path = staging.path().join(MANIFEST);
    let Some(_) = staged.remove(MANIFEST) else {
        return Err(refused(format!("it has no `{MANIFEST}`")));
    };
    let text = std::fs::read(&manifest_path).map_err(io("read", &manifest_path))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| refused(format!("`{MANIFEST}` is not a bundle manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(refused(format!(
            "it is format {}; this medigan reads format {FORMAT}",
            manifest.format
        )));
    }
    let mut listed = BTreeSet::new();
    for file in &manifest.files {
        let Some((actual, size)) = staged.get(&file.path) else {
            return Err(refused(format!(
                "member `{}` named in the manifest is missing",
                file.path
            )));
        };
        if *actual != file.sha256.to_ascii_lowercase() || *size != file.size {
            return Err(BundleError::Damaged {
                member: file.path.clone(),
                expected: file.sha256.clone(),
                actual: actual.clone(),
            });
        }
        listed.insert(file.path.clone());
    }
    if let Some(extra) = staged.keys().find(|k| !listed.contains(*k)) {
        return Err(refused(format!(
            "member `{extra}` is not listed in the manifest"
        )));
    }
    let catalog_path = staging.path().join(CATALOG);
    let catalog: serde_json::Map<String, Value> = std::fs::read(&catalog_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refused(format!("`{CATALOG}` is missing or not a JSON object")))?;
    for model in &manifest.models {
        if !catalog.contains_key(&model.id) {
            return Err(refused(format!(
                "model `{}` has no entry in `{CATALOG}`",
                model.id
            )));
        }
        let is_sha = model.package_sha256.len() == 64
            && model.package_sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_sha
            || !staging
                .path()
                .join("packages")
                .join(&model.package_sha256)
                .is_dir()
        {
            return Err(refused(format!(
                "model `{}` has no package folder `packages/{}`",
                model.id, model.package_sha256
            )));
        }
    }
    // Every check passed: install.
    let store = Store::new(home.clone(), true);
    for model in &manifest.models {
        let tree = staging.path().join("packages").join(&model.package_sha256);
        store
            .install_tree(
                &model.id,
                &model.source,
                &model.package_sha256,
                &tree,
                model.directory_hash,
            )
            .map_err(crate::Error::from)?;
    }
    let wheels_from = staging.path().join("wheelhouse");
    let mut wheels = 0;
    if wheels_from.is_dir() {
        let wheelhouse = home.wheelhouse_dir();
        std::fs::create_dir_all(&wheelhouse).map_err(io("create directory", &wheelhouse))?;
        for (name, from) in files_under(&wheels_from)? {
            if name.contains('/') {
                continue; // the export writes a flat wheelhouse
            }
            let target = wheelhouse.join(&name);
            std::fs::rename(&from, &target).map_err(io("move a wheel to", &target))?;
            wheels += 1;
        }
    }
    for model in &manifest.models {
        add_entry(home, &model.id, &catalog[&model.id], true).map_err(crate::Error::from)?;
    }
    Ok(BundleReport {
        path: path.to_path_buf(),
        models: manifest.models.iter().map(|m| m.id.clone()).collect(),
        files: manifest.files.len(),
        wheels,
        bytes: manifest.files.iter().map(|f| f.size).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_must_be_plain_relative_paths() {
        assert!(safe_member("packages/ab/medigan.json").is_some());
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "a\\b"] {
            assert!(safe_member(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn requirement_names_ignore_versions() {
        assert_eq!(requirement_name("Torch>=2.0"), "torch");
        assert_eq!(requirement_name("medigan_zoo_dep==1.0"), "medigan-zoo-dep");
    }
}
