//! Model packages on disk: download, verify, unpack and cache (part of the paper's `model_executor`).
//!
//! A package is a `.zip` (or a directory) holding a `medigan.json` and its files; the store does
//! not read its content, it only fetches, verifies, unpacks and records it. [`Store::fetch`]
//! takes a link: an `http(s)://` URL, a `file://` URL, a local `.zip`, a local directory, or a
//! Hugging Face Hub repository `hf://OWNER/REPO[@REVISION][/PATH]` (see [`HubConfig`]).
//!
//! ```text
//! $MEDIGAN_HOME/
//! ├── packages-v1/
//! │   ├── <sha256>/                  one unpacked package; <sha256> is the hash of its archive
//! │   │   ├── medigan.json ...       the package's files, as in the archive
//! │   │   └── .medigan-record.json   source link, label, archive sha256, install time, and
//! │   │                              path + size + sha256 of every file (used by `verify`)
//! │   └── refs/
//! │       └── <sha256 of link>.json  link -> package sha256 (and label): a link fetched once is
//! │                                  found again without the network, also offline
//! ├── locks/
//! │   └── <sha256 of link>.lock      held for a whole fetch; a second process waits on it,
//! │                                  then finds the package installed
//! └── tmp/                           same filesystem as packages-v1/, so renames are atomic
//!     ├── <sha256 of link>.part      download in progress, resumed with `Range: bytes=N-`
//!     └── unpack-XXXXXX/             unzip in progress, renamed to packages-v1/<sha256>/ when
//!                                    complete and recorded; removed on any failure
//! ```
//!
//! The steps of a download: lock, download into the `.part` file (retries with exponential
//! backoff, resume), check the archive's sha256 against the expected one, unzip safely into
//! `tmp/unpack-*` (see [`UnzipLimits`]), write the record, rename into `packages-v1/<sha256>/`,
//! write the `refs/` entry, unlock. Nothing appears in `packages-v1/` unless every step passed.
//!
//! A local `.zip` (path or `file://`) is hashed and unpacked the same way, without a lock or a
//! `refs/` entry (it is hashed on each fetch). A local directory is used in place, not copied;
//! its sha256 is a hash over its files: sha256 of the text made of one line
//! `"<sha256 of the file's content>  <relative path>\n"` per regular file (paths `/`-separated,
//! sorted bytewise, symbolic links to files followed, linked directories skipped). For ordinary
//! file names this equals
//! `find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum` run inside it.

mod cache;
mod download;
mod error;
mod hub;
mod integrity;
mod link;
mod lock;
mod record;
mod refs;
mod unzip;

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tempfile::TempDir;

pub use cache::{CachedPackage, VerifyReport};
pub use error::{StoreError, UnsafeReason};
pub use hub::{DEFAULT_HUB_ENDPOINT, HubConfig};
pub use record::RECORD_FILE;
pub use unzip::UnzipLimits;

use crate::home::Home;
use crate::http::{ClientError, Http, HttpConfig};
use crate::progress::Progress;
use link::{Link, link_key, normalize_sha256};
use lock::FetchLock;
use record::{Record, directory_sha256, hash_tree, sha256_bytes, sha256_file};
use refs::{LinkRef, Refs};

/// Network and unpacking settings of a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Longest wait for a TCP/TLS connection (default 10 s).
    pub connect_timeout: Duration,
    /// Longest wait for the answer and for each read of the body (default 30 s).
    pub read_timeout: Duration,
    /// Download attempts before giving up on retryable failures (default 4).
    pub attempts: u32,
    /// Wait after the first failed attempt, doubled after each further one (default 1 s).
    pub backoff: Duration,
    /// Longest wait between attempts (default 30 s).
    pub max_backoff: Duration,
    /// Largest download accepted (default 8 GiB).
    pub max_download_bytes: u64,
    /// Caps applied while unpacking (and to the file lists of Hub links).
    pub unzip: UnzipLimits,
    /// The Hugging Face Hub for `hf://` links (default: from `HF_ENDPOINT`, `HF_TOKEN`,
    /// `HF_HUB_OFFLINE`).
    pub hub: HubConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let http = HttpConfig::default();
        StoreConfig {
            connect_timeout: http.connect_timeout,
            read_timeout: http.read_timeout,
            attempts: http.attempts,
            backoff: http.backoff,
            max_backoff: http.max_backoff,
            max_download_bytes: 8 << 30,
            unzip: UnzipLimits::default(),
            hub: HubConfig::default(),
        }
    }
}

impl StoreConfig {
    /// The client settings of the one HTTP client (`crate::http`).
    fn http(&self) -> HttpConfig {
        HttpConfig {
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            attempts: self.attempts,
            backoff: self.backoff,
            max_backoff: self.max_backoff,
        }
    }
}

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The model id (or any name), used in messages and in the cache listing.
    pub label: String,
    /// An `http(s)://` or `file://` URL, a path to a `.zip`, a package directory, or an
    /// `hf://OWNER/REPO[@REVISION][/PATH]` Hub link.
    pub link: String,
    /// The expected sha256 of the archive (or of the directory, see the module docs), if known.
    pub sha256: Option<String>,
}

impl FetchRequest {
    /// A request for `link` on behalf of `label`, without an expected hash.
    pub fn new(label: impl Into<String>, link: impl Into<String>) -> FetchRequest {
        FetchRequest {
            label: label.into(),
            link: link.into(),
            sha256: None,
        }
    }

    /// The request for a catalogue entry's package: `package_link` (a relative local link
    /// resolved against the catalogue's directory `base`), checked against `sha256` when one is
    /// pinned. Native and legacy models both fetch through it.
    pub fn for_package(
        id: &str,
        package_link: &str,
        base: Option<&Path>,
        sha256: Option<&str>,
    ) -> FetchRequest {
        FetchRequest {
            label: id.to_string(),
            link: link::resolve_link(package_link, base),
            sha256: sha256.map(str::to_string),
        }
    }

    /// The same request, checked against `sha256` (64 hex digits).
    pub fn with_sha256(mut self, sha256: impl Into<String>) -> FetchRequest {
        self.sha256 = Some(sha256.into());
        self
    }
}

/// A package ready to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// sha256 of the archive (or the directory hash of a local directory).
    pub sha256: String,
    /// The unpacked package (or the local directory itself).
    pub dir: PathBuf,
    /// The link it was fetched from.
    pub source: String,
}

/// The package cache of one medigan home.
#[derive(Debug)]
pub struct Store {
    home: Home,
    offline: bool,
    config: StoreConfig,
    http: Http,
    always_rehash: AtomicBool,
}

impl Store {
    /// A store in `home` with default settings; `offline` forbids any network access.
    pub fn new(home: Home, offline: bool) -> Store {
        Store::with_config(home, offline, StoreConfig::default())
    }

    /// A store with explicit network and unpacking settings.
    pub fn with_config(home: Home, offline: bool, config: StoreConfig) -> Store {
        Store {
            home,
            offline,
            http: Http::new(config.http(), offline),
            config,
            always_rehash: AtomicBool::new(false),
        }
    }

    /// The home this store lives in.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Whether this store is offline.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The directory holding the unpacked packages (`packages-v1/`).
    pub fn path(&self) -> PathBuf {
        self.home.packages_dir()
    }

    /// Makes the package at `request.link` available on disk, downloading it if needed.
    ///
    /// `progress` sees `begin("download <label>", size)`, `advance(bytes)` and `finish()` once
    /// per download attempt (a resumed attempt starts by advancing over the bytes it already had).
    pub fn fetch(
        &self,
        request: &FetchRequest,
        progress: &dyn Progress,
    ) -> Result<InstalledPackage, StoreError> {
        let expected = request
            .sha256
            .as_deref()
            .map(|s| normalize_sha256(&request.label, s))
            .transpose()?;
        let lower = request.link.trim().to_ascii_lowercase();
        let local = !lower.contains("://") || lower.starts_with("file://");
        if let Some(sha) = expected.as_deref()
            && local
            && self.is_installed(sha)
        {
            // A pinned local link whose package is already installed (e.g. imported from an
            // offline bundle, where the original path is gone) is served from the cache.
            self.check_installed(&request.label, sha)?;
            return Ok(InstalledPackage {
                sha256: sha.to_owned(),
                dir: self.package_dir(sha),
                source: request.link.clone(),
            });
        }
        match Link::parse(&request.link)? {
            Link::Dir(path) => self.use_directory(request, &path, expected.as_deref()),
            Link::Zip(path) => self.install_zip_file(request, &path, expected.as_deref()),
            Link::Http(url) => {
                self.fetch_http(request, url.as_str(), expected.as_deref(), progress)
            }
            Link::Hub => self.fetch_hub(request, expected.as_deref(), progress),
        }
    }

    /// Makes a single file available on disk as it was downloaded (not unpacked), e.g. network
    /// weights: `files-v1/<sha256>/<file_name>`. `request.sha256` is required, so a file is
    /// found again by its hash without the network (also offline), and a download is kept only
    /// when its hash matches. Downloads resume and retry like packages.
    pub fn fetch_file(
        &self,
        request: &FetchRequest,
        file_name: &str,
        progress: &dyn Progress,
    ) -> Result<PathBuf, StoreError> {
        let expected = match request.sha256.as_deref() {
            Some(sha) => normalize_sha256(&request.label, sha)?,
            None => {
                return Err(StoreError::BadLink {
                    link: request.link.clone(),
                    reason: "a single-file fetch needs the expected sha256".into(),
                });
            }
        };
        let safe_name = Path::new(file_name)
            .file_name()
            .filter(|n| *n == std::ffi::OsStr::new(file_name))
            .ok_or_else(|| StoreError::BadLink {
                link: request.link.clone(),
                reason: format!("`{file_name}` is not a plain file name"),
            })?;
        let dir = self.home.files_dir().join(&expected);
        let target = dir.join(safe_name);
        if target.is_file() {
            return Ok(target);
        }
        let url = match Link::parse(&request.link)? {
            Link::Http(url) => url,
            Link::Hub => {
                return Err(StoreError::BadLink {
                    link: request.link.clone(),
                    reason: "a single-file fetch takes an http(s) link or a local file".into(),
                });
            }
            Link::Dir(path) | Link::Zip(path) => {
                let (actual, _) = sha256_file(&path)?;
                check_hash(&request.label, &request.link, &expected, &actual)?;
                return Ok(path);
            }
        };
        if self.offline {
            return Err(StoreError::Offline {
                label: request.label.clone(),
                link: request.link.clone(),
            });
        }
        let key = link_key(url.as_str());
        let _lock = FetchLock::acquire(&self.home.locks_dir(), &key, &request.label)?;
        if target.is_file() {
            return Ok(target);
        }
        let tmp = self.home.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(StoreError::io("create directory", &tmp))?;
        let part = tmp.join(format!("{key}.part"));
        let result = download::Download {
            http: &self.http,
            client: self.client(url.as_str())?,
            max_bytes: self.config.max_download_bytes,
            url: url.as_str(),
            part: &part,
            label: &request.label,
            token: None,
        }
        .run(progress)
        .and_then(|()| {
            let (actual, _) = sha256_file(&part)?;
            check_hash(&request.label, &request.link, &expected, &actual)
        });
        if let Err(e) = result {
            if !resumable(&e) {
                remove_if_present(&part)?;
            }
            return Err(e);
        }
        std::fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
        std::fs::rename(&part, &target).map_err(StoreError::io("move the download to", &target))?;
        tracing::info!("stored `{}` as `{}`", request.label, target.display());
        Ok(target)
    }

    /// Installs a package archive held in memory (e.g. embedded in the binary), with the same
    /// checks as a download; its source is recorded as `embedded:<label>`.
    pub fn install_bytes(
        &self,
        label: &str,
        bytes: &[u8],
        expected_sha256: Option<&str>,
    ) -> Result<InstalledPackage, StoreError> {
        let source = format!("embedded:{label}");
        let actual = sha256_bytes(bytes);
        if let Some(expected) = expected_sha256 {
            check_hash(label, &source, &normalize_sha256(label, expected)?, &actual)?;
        }
        self.install_archive(Cursor::new(bytes), label, &source, &actual)
    }

    /// A local directory: hashed, checked, and used where it is.
    fn use_directory(
        &self,
        request: &FetchRequest,
        path: &Path,
        expected: Option<&str>,
    ) -> Result<InstalledPackage, StoreError> {
        let files = hash_tree(path)?;
        let actual = directory_sha256(&files);
        if let Some(expected) = expected {
            check_hash(&request.label, &request.link, expected, &actual)?;
        }
        let dir = path
            .canonicalize()
            .map_err(StoreError::io("resolve", path))?;
        Ok(InstalledPackage {
            sha256: actual,
            dir,
            source: request.link.clone(),
        })
    }

    /// A local zip archive: hashed, checked, and unpacked into the cache unless already there.
    fn install_zip_file(
        &self,
        request: &FetchRequest,
        path: &Path,
        expected: Option<&str>,
    ) -> Result<InstalledPackage, StoreError> {
        let (actual, _size) = sha256_file(path)?;
        if let Some(expected) = expected {
            check_hash(&request.label, &request.link, expected, &actual)?;
        }
        let file = File::open(path).map_err(StoreError::io("open", path))?;
        let mut package = self.install_archive(file, &request.label, &request.link, &actual)?;
        package.source.clone_from(&request.link);
        Ok(package)
    }

    /// An http(s) link: from the cache when possible, else downloaded under the link's lock.
    fn fetch_http(
        &self,
        request: &FetchRequest,
        url: &str,
        expected: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<InstalledPackage, StoreError> {
        let key = link_key(url);
        if let Some(found) = self.cached(request, &key, expected)? {
            return Ok(found);
        }
        if self.offline {
            return Err(StoreError::Offline {
                label: request.label.clone(),
                link: request.link.clone(),
            });
        }
        let _lock = FetchLock::acquire(&self.home.locks_dir(), &key, &request.label)?;
        if let Some(found) = self.cached(request, &key, expected)? {
            return Ok(found);
        }
        let part = self.home.tmp_dir().join(format!("{key}.part"));
        let result = self.download_and_install(request, url, &part, expected, progress);
        let keep_part = matches!(&result, Err(e) if resumable(e));
        if !keep_part {
            remove_if_present(&part)?;
        }
        let package = result?;
        let entry = LinkRef {
            link: request.link.clone(),
            label: request.label.clone(),
            sha256: package.sha256.clone(),
        };
        Refs::new(&self.path()).put(&key, &entry)?;
        Ok(package)
    }

    fn download_and_install(
        &self,
        request: &FetchRequest,
        url: &str,
        part: &Path,
        expected: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<InstalledPackage, StoreError> {
        let tmp = self.home.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(StoreError::io("create directory", &tmp))?;
        download::Download {
            http: &self.http,
            client: self.client(url)?,
            max_bytes: self.config.max_download_bytes,
            url,
            part,
            label: &request.label,
            token: None,
        }
        .run(progress)?;
        let (actual, _size) = sha256_file(part)?;
        if let Some(expected) = expected {
            check_hash(&request.label, &request.link, expected, &actual)?;
        }
        let file = File::open(part).map_err(StoreError::io("open", part))?;
        let mut package = self.install_archive(file, &request.label, &request.link, &actual)?;
        package.source.clone_from(&request.link);
        Ok(package)
    }

    /// The installed package for this request, if the cache already has it: by the expected
    /// hash when given, else by the link index.
    fn cached(
        &self,
        request: &FetchRequest,
        key: &str,
        expected: Option<&str>,
    ) -> Result<Option<InstalledPackage>, StoreError> {
        let refs = Refs::new(&self.path());
        let sha = match (expected, refs.get(key)) {
            (Some(expected), _) => expected.to_owned(),
            (None, Some(entry)) => entry.sha256,
            (None, None) => return Ok(None),
        };
        if !self.is_installed(&sha) {
            return Ok(None);
        }
        if let Err(damaged) = self.check_installed(&request.label, &sha) {
            if self.offline || !matches!(damaged, StoreError::Damaged { .. }) {
                return Err(damaged);
            }
            self.discard_damaged(&damaged)?;
            return Ok(None);
        }
        if refs.get(key).is_none_or(|entry| entry.sha256 != sha) {
            let entry = LinkRef {
                link: request.link.clone(),
                label: request.label.clone(),
                sha256: sha.clone(),
            };
            refs.put(key, &entry)?;
        }
        Ok(Some(InstalledPackage {
            dir: self.package_dir(&sha),
            sha256: sha,
            source: request.link.clone(),
        }))
    }

    /// Installs an unpacked package tree (e.g. from an offline bundle, see [`crate::bundle`]) as
    /// `packages-v1/<sha256>/`: copied into `tmp/`, recorded with `source` and renamed into
    /// place, like an unzipped archive. With `directory_hash`, `sha256` is the hash over the
    /// files (see the module docs) and is checked; otherwise it is the hash of the archive the
    /// tree came from, which the caller has checked file by file.
    pub fn install_tree(
        &self,
        label: &str,
        source: &str,
        sha256: &str,
        tree: &Path,
        directory_hash: bool,
    ) -> Result<InstalledPackage, StoreError> {
        let sha256 = normalize_sha256(label, sha256)?;
        let target = self.package_dir(&sha256);
        let package = InstalledPackage {
            sha256: sha256.clone(),
            dir: target.clone(),
            source: source.to_owned(),
        };
        if self.is_installed(&sha256) {
            match self.check_installed(label, &sha256) {
                Ok(()) => return Ok(package),
                Err(damaged @ StoreError::Damaged { .. }) => self.discard_damaged(&damaged)?,
                Err(other) => return Err(other),
            }
        }
        let tmp = self.home.tmp_dir();
        let packages = self.path();
        for dir in [&tmp, &packages] {
            std::fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
        }
        let (work, _unpacking) = unzip::work_dir(&tmp)?;
        copy_tree(tree, work.path())?;
        let files = hash_tree(work.path())?;
        if directory_hash {
            check_hash(label, source, &sha256, &directory_sha256(&files))?;
        }
        Record::new(label, source, &sha256, files).write(work.path())?;
        self.commit(work, &target, &sha256)?;
        tracing::info!("installed `{label}` into `{}`", target.display());
        Ok(package)
    }

    /// Unpacks a verified archive into `tmp/`, records it, and renames it into place.
    fn install_archive<R: std::io::Read + std::io::Seek>(
        &self,
        reader: R,
        label: &str,
        source: &str,
        sha256: &str,
    ) -> Result<InstalledPackage, StoreError> {
        let target = self.package_dir(sha256);
        let package = InstalledPackage {
            sha256: sha256.to_owned(),
            dir: target.clone(),
            source: source.to_owned(),
        };
        if self.is_installed(sha256) {
            match self.check_installed(label, sha256) {
                Ok(()) => return Ok(package),
                Err(damaged @ StoreError::Damaged { .. }) => self.discard_damaged(&damaged)?,
                Err(other) => return Err(other),
            }
        }
        let tmp = self.home.tmp_dir();
        let packages = self.path();
        for dir in [&tmp, &packages] {
            std::fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
        }
        let (work, _unpacking) = unzip::work_dir(&tmp)?;
        let files = unzip::extract(reader, source, work.path(), &self.config.unzip)?;
        Record::new(label, source, sha256, files).write(work.path())?;
        self.commit(work, &target, sha256)?;
        tracing::info!("installed `{label}` into `{}`", target.display());
        Ok(package)
    }

    /// Renames the finished work directory to `target`. A complete package already there
    /// (installed by another process meanwhile) wins; a directory without a record (left by
    /// an interrupted removal, or by hand) is moved aside first.
    fn commit(&self, work: TempDir, target: &Path, sha256: &str) -> Result<(), StoreError> {
        if std::fs::rename(work.path(), target).is_err() {
            if self.is_installed(sha256) {
                return Ok(()); // `work` is deleted on drop
            }
            move_aside(target, &work.path().with_extension("stale"))?;
            if let Err(e) = std::fs::rename(work.path(), target) {
                if self.is_installed(sha256) {
                    return Ok(());
                }
                return Err(StoreError::io("move the unpacked package to", target)(e));
            }
        }
        let _ = work.keep();
        Ok(())
    }

    /// The directory of the package with this sha256 (whether installed or not).
    pub fn package_dir(&self, sha256: &str) -> PathBuf {
        self.path().join(sha256)
    }

    /// Whether a complete package with this sha256 is installed.
    pub fn is_installed(&self, sha256: &str) -> bool {
        link::is_sha256(sha256) && self.package_dir(sha256).join(RECORD_FILE).is_file()
    }

    /// The shared HTTP client (`crate::http`), built on first use (never in offline mode).
    fn client(&self, url: &str) -> Result<&reqwest::blocking::Client, StoreError> {
        self.http.client(url).map_err(|e| match e {
            ClientError::Offline { url } => StoreError::Offline {
                label: url.clone(),
                link: url,
            },
            ClientError::Build(error) => StoreError::Network {
                url: url.to_owned(),
                error,
            },
        })
    }
}

/// Copies the regular files and folders of `from` into `to` (links and special files are
/// skipped).
fn copy_tree(from: &Path, to: &Path) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(from).map_err(StoreError::io("read directory", from))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io("read directory", from))?;
        let kind = entry
            .file_type()
            .map_err(StoreError::io("inspect", &entry.path()))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(StoreError::io("create directory", &target))?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(StoreError::io("copy to", &target))?;
        }
    }
    Ok(())
}

/// Whether a failed download left a partial file worth resuming next time.
fn resumable(error: &StoreError) -> bool {
    matches!(error, StoreError::RetriesExhausted { .. }) || error.is_retryable()
}

fn check_hash(label: &str, link: &str, expected: &str, actual: &str) -> Result<(), StoreError> {
    if expected == actual {
        return Ok(());
    }
    Err(StoreError::HashMismatch {
        label: label.to_owned(),
        link: link.to_owned(),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
    })
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove", path)(e)),
    }
}

/// Moves a stale directory out of the cache into `trash` and deletes it.
fn move_aside(stale: &Path, trash: &Path) -> Result<(), StoreError> {
    if !stale.exists() {
        return Ok(());
    }
    tracing::warn!("replacing `{}`: it has no store record", stale.display());
    std::fs::rename(stale, trash).map_err(StoreError::io("move aside", stale))?;
    std::fs::remove_dir_all(trash).map_err(StoreError::io("remove", trash))
}
