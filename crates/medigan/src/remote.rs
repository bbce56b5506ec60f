//! Object-store URLs (`s3://bucket/prefix`, `gs://`, `az://`, `file://`) as a run's output
//! and as the input of `dataset verify|merge`, `fid` and `metrics`, through the `object_store`
//! crate (cargo feature `object-store`).
//!
//! A store prefix is worked on through a local staging folder: [`Remote::download`] copies
//! what a command needs (bounded by `MEDIGAN_STORE_MAX_BYTES`), the command runs on the folder
//! as on any other, and [`Remote::upload`] sends back what changed: sample files and tars
//! first, then the journals, then the manifests, so a manifest is only ever seen after the
//! files it lists. Each object appears complete or not at all: a small file is one `PUT`, a
//! large one a multipart upload that becomes visible only when it is completed (and is
//! aborted on failure).
//!
//! Credentials come from each cloud's standard environment variables (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`, read by object_store's `from_env` builders), never from the URL, and are never
//! printed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, RetryConfig, WriteMultipart};

use crate::dataset::DATASET_MANIFEST_NAME;
use crate::env;
use crate::error::{Advice, Hint};

/// Files at least this large are sent as multipart uploads.
const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// The part size of a multipart upload.
const PART_SIZE: usize = 8 << 20;
/// Uploads (and downloads) in flight at once.
const CONCURRENCY: usize = 8;
/// Bytes per second of journal copies sent while a run goes on, at most (on average).
const JOURNAL_RATE: f64 = 4.0 * 1024.0 * 1024.0;
/// Default bound on the bytes one command downloads from a store.
const DEFAULT_MAX_DOWNLOAD: u64 = 64 << 30;
/// Most objects one command lists under a prefix.
const MAX_OBJECTS: usize = 10_000_000;

/// The URL schemes a store may be named by.
pub const SCHEMES: [&str; 5] = ["s3", "gs", "az", "azure", "file"];

/// A failure to reach, read or write an object store.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL's scheme is not one of [`SCHEMES`].
    #[error("unknown URL scheme `{scheme}` in `{url}`")]
    UnknownScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL cannot name a bucket and prefix.
    #[error("`{url}` is not a store URL: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The bucket (container) does not exist.
    #[error("the bucket of `{url}` does not exist: {detail}")]
    NoBucket {
        /// The URL.
        url: String,
        /// The store's answer.
        detail: String,
    },
    /// The store refused the credentials, or none were found.
    #[error("the store refused access to `{url}`: {detail}")]
    Denied {
        /// The URL.
        url: String,
        /// The store's answer.
        detail: String,
    },
    /// A request to the store failed (network, server).
    #[error("{action} `{url}` failed: {detail}")]
    Request {
        /// What was being done.
        action: &'static str,
        /// The object's URL.
        url: String,
        /// The store's answer.
        detail: String,
    },
    /// The prefix holds more than a command may download.
    #[error(
        "`{url}` holds {bytes} bytes in {objects} objects, more than the {limit} bytes a command may download"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// Bytes under the prefix.
        bytes: u64,
        /// Objects under the prefix.
        objects: usize,
        /// The bound.
        limit: u64,
    },
    /// An object's name cannot be a local file's.
    #[error("object `{name}` under `{url}` has a name that is not a plain relative path")]
    BadName {
        /// The prefix's URL.
        url: String,
        /// The object's name below the prefix.
        name: String,
    },
    /// A local file of the staging folder could not be read or written.
    #[error("{action} `{path}`: {source}")]
    Local {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl Hint for RemoteError {
    fn advice(&self) -> Option<Advice> {
        let text = match self {
            RemoteError::UnknownScheme { .. } | RemoteError::BadUrl { .. } => {
                "name a store as s3://bucket/prefix, gs://bucket/prefix, az://container/prefix \
                 or file:///absolute/path"
            }
            RemoteError::NoBucket { .. } => {
                "create the bucket first, or check its name and the \
                 endpoint (AWS_ENDPOINT_URL, AWS_REGION)"
            }
            RemoteError::Denied { .. } => {
                "give credentials in the cloud's environment variables \
                 (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; GOOGLE_APPLICATION_CREDENTIALS; \
                 AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY) with write permission \
                 on the bucket"
            }
            RemoteError::Request { .. } => {
                "the store could not be reached or failed (check the endpoint and the \
                 network); a `generate` run keeps what it uploaded: run the same command with \
                 --resume once the store answers"
            }
            RemoteError::TooLarge { .. } => {
                "raise MEDIGAN_STORE_MAX_BYTES (and have that much free space in TMPDIR), or \
                 name a smaller prefix"
            }
            RemoteError::BadName { .. } | RemoteError::Local { .. } => return None,
        };
        Some(Advice::text(text))
    }
}

/// A local file's size and modification time: a file whose stamp is unchanged since it was
/// downloaded or sent is not sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Result<Stamp, RemoteError> {
    let meta = std::fs::metadata(path).map_err(|source| RemoteError::Local {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// The files of a staging folder the store holds as they are now (downloaded, or sent), by
/// name below the prefix: [`Remote::upload`] sends only the others, and removes from the store
/// those the command removed.
#[derive(Debug, Clone, Default)]
pub struct Known {
    files: BTreeMap<String, Stamp>,
    /// When journals were last sent while a run went on, and their bytes: they are sent again
    /// no faster than [`JOURNAL_RATE`] allows (a journal grows with the run).
    journals_sent: Option<(std::time::Instant, u64)>,
}

impl Known {
    /// How many files the store is known to hold.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// What [`Remote::upload`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// Files sent.
    pub files: usize,
    /// Bytes sent.
    pub bytes: u64,
    /// Files left as they were (the store already held them).
    pub unchanged: usize,
    /// Objects removed (files the command removed, e.g. a finished run's journal).
    pub removed: usize,
}

/// What one [`Remote::upload`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// While a run goes on: the finished data files, then a copy of each journal taken before
    /// they were listed (so it names only files already sent). Manifests wait.
    Progress,
    /// At the end: everything, in order (data, journals, manifests, dataset manifest), then
    /// the removal of what the command removed.
    Final,
}

/// Which objects [`Remote::download`] fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every object under the prefix.
    All,
    /// Only the run records: manifests, journals and the dataset manifest.
    Records,
    /// The records, and the files that the journal and manifest of one run (this manifest
    /// name: one shard) list: what resuming or overwriting that run reads. Other shards'
    /// files stay in the store.
    Run {
        /// The run's manifest name (`manifest.jsonl`, `manifest-shard-2-of-4.jsonl`).
        manifest: String,
    },
}

/// A store prefix worked on through a local staging folder (removed when dropped); what the
/// store holds of it is tracked, so uploads send only what changed.
#[derive(Debug)]
pub struct Staged {
    remote: Remote,
    dir: tempfile::TempDir,
    known: std::sync::Mutex<Known>,
    /// `<dir>.lock`, locked while the folder is in use (see [`new_staging`]).
    lock: (std::fs::File, PathBuf),
}

impl Drop for Staged {
    fn drop(&mut self) {
        // The lock file goes first: a folder without one is left alone by other processes,
        // and this one is removed right after (the `TempDir`).
        let _ = std::fs::remove_file(&self.lock.1);
    }
}

/// Prefix of staging folders (and their lock files) in `TMPDIR`.
const STAGING_PREFIX: &str = "medigan-stage-";

/// A new staging folder in `tmp`, with its lock `<folder>.lock` held; first removes the
/// staging folders of killed processes (a lock file nobody holds), so a SIGKILL leaves
/// nothing behind for long.
fn new_staging(tmp: &Path) -> Result<((std::fs::File, PathBuf), tempfile::TempDir), RemoteError> {
    let failed = |source| RemoteError::Local {
        action: "create a staging folder in",
        path: tmp.to_path_buf(),
        source,
    };
    remove_stale_staging(tmp);
    for _ in 0..16 {
        let dir = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(tmp)
            .map_err(failed)?;
        let lock_path = PathBuf::from(format!("{}.lock", dir.path().display()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_path)
            .map_err(failed)?;
        // Another process cleaning up may have taken it between create and lock: its
        // folder is gone then; try another name.
        if file.try_lock().is_ok() && dir.path().is_dir() && lock_path.is_file() {
            return Ok(((file, lock_path), dir));
        }
    }
    Err(failed(std::io::Error::other(
        "no staging folder could be locked",
    )))
}

/// Removes the staging folders in `tmp` whose lock nobody holds (their process was killed).
fn remove_stale_staging(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix(STAGING_PREFIX)
            .and_then(|rest| rest.strip_suffix(".lock"))
        else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(entry.path()) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let dir = tmp.join(format!("{STAGING_PREFIX}{stem}"));
            if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                tracing::info!("removing `{}`, left by a killed run", dir.display());
                let _ = std::fs::remove_dir_all(&dir);
            }
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Staged {
    /// A command's output: opens `url`, checks that it may be written (a missing bucket or
    /// refused credentials fail here, before any work), and downloads `selection` of what is
    /// there into a new staging folder under `TMPDIR`.
    pub fn output(url: &str, selection: Selection) -> Result<Staged, RemoteError> {
        let remote = Remote::open(url)?;
        remote.check_writable()?;
        Staged::download(remote, selection)
    }

    /// A command's input: opens `url` and downloads everything under it (bounded by
    /// `MEDIGAN_STORE_MAX_BYTES`).
    pub fn input(url: &str) -> Result<Staged, RemoteError> {
        Staged::download(Remote::open(url)?, Selection::All)
    }

    fn download(remote: Remote, selection: Selection) -> Result<Staged, RemoteError> {
        let (lock, dir) = new_staging(&std::env::temp_dir())?;
        let known = remote.download(dir.path(), selection)?;
        Ok(Staged {
            remote,
            dir,
            known: std::sync::Mutex::new(known),
            lock,
        })
    }

    /// The staging folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Sends what changed in the staging folder back to the store ([`Remote::upload`]); may be
    /// called from another thread while a command writes the folder ([`Upload::Progress`]).
    pub fn upload(&self, what: Upload) -> Result<Uploaded, RemoteError> {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.remote.upload(self.dir(), &mut known, what)
    }

    /// The store URL of a file of the staging folder (its path when it lies elsewhere).
    pub fn url_of(&self, local: &Path) -> String {
        match local.strip_prefix(self.dir()) {
            Ok(relative) => self.remote.object_url(
                &relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            ),
            Err(_) => local.display().to_string(),
        }
    }
}

/// One prefix of an object store, opened from its URL.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

impl Remote {
    /// Opens the store `url` names, with the credentials of the environment; reaches nothing
    /// yet (see [`Remote::check_writable`]).
    pub fn open(url: &str) -> Result<Remote, RemoteError> {
        let bad = |reason: &str| RemoteError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("it has no scheme://"));
        };
        let scheme_lower = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme_lower.as_str()) {
            return Err(RemoteError::UnknownScheme {
                url: url.to_string(),
                scheme: scheme.to_string(),
            });
        }
        let (store, prefix): (Arc<dyn ObjectStore>, &str) = if scheme_lower == "file" {
            let Some(path) = rest.strip_prefix('/') else {
                return Err(bad(
                    "a file:// URL names an absolute path (file:///data/out)",
                ));
            };
            let root = Path::new("/").join(path);
            std::fs::create_dir_all(&root).map_err(|source| RemoteError::Local {
                action: "create",
                path: root.clone(),
                source,
            })?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
                .map_err(|e| bad(&e.to_string()))?;
            (Arc::new(store), "")
        } else {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || bucket.contains(['@', ':', '?', '#']) {
                return Err(bad("it names no bucket (scheme://bucket/prefix)"));
            }
            let base = format!("{scheme_lower}://{bucket}");
            let built = match scheme_lower.as_str() {
                "s3" => object_store::aws::AmazonS3Builder::from_env()
                    .with_url(&base)
                    .with_retry(retry())
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(&base)
                    .with_retry(retry())
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
                _ => object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(&base)
                    .with_retry(retry())
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            };
            let store = built.map_err(|e| RemoteError::Denied {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
            (store, prefix)
        };
        let prefix = ObjectPath::parse(prefix.trim_matches('/'))
            .map_err(|e| bad(&format!("its prefix is not a plain path: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| RemoteError::Local {
                action: "start the store client for",
                path: PathBuf::from(url),
                source,
            })?;
        Ok(Remote {
            store,
            prefix,
            url: url.trim_end_matches('/').to_string(),
            runtime,
        })
    }

    /// The store's URL (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of the object `name` below the prefix.
    pub fn object_url(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    /// Writes and removes a small probe object: the bucket exists and the credentials may
    /// write to it. Run before any work whose output goes to the store.
    pub fn check_writable(&self) -> Result<(), RemoteError> {
        let name = format!(
            ".medigan-probe-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let path = self.path_of(&name);
        self.runtime.block_on(async {
            self.store
                .put(&path, PutPayload::from_static(b"medigan write probe\n"))
                .await
                .map_err(|e| self.classify("write a probe object to", &self.url, e))?;
            self.store
                .delete(&path)
                .await
                .map_err(|e| self.classify("remove the probe object from", &self.url, e))
        })
    }

    /// The objects under the prefix: name below it and size, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, u64)>, RemoteError> {
        use futures_util::StreamExt as _;
        self.runtime.block_on(async {
            let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
            let mut stream = self.store.list(prefix);
            let mut objects = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| self.classify("list", &self.url, e))?;
                let name = self.name_of(&meta.location)?;
                objects.push((name, meta.size));
                if objects.len() > MAX_OBJECTS {
                    return Err(RemoteError::TooLarge {
                        url: self.url.clone(),
                        bytes: objects.iter().map(|(_, s)| s).sum(),
                        objects: objects.len(),
                        limit: max_download(),
                    });
                }
            }
            objects.sort();
            Ok(objects)
        })
    }

    /// Downloads the `selection` of the objects under the prefix into `dir` (written
    /// atomically), refusing before downloading anything when they hold more than
    /// `MEDIGAN_STORE_MAX_BYTES`. Write probes and temporary files are skipped.
    pub fn download(&self, dir: &Path, selection: Selection) -> Result<Known, RemoteError> {
        let listed: Vec<(String, u64)> = self
            .list()?
            .into_iter()
            .filter(|(name, _)| !is_transient(name))
            .collect();
        let mut known = Known::default();
        let objects: Vec<(String, u64)> = match &selection {
            Selection::All => listed,
            Selection::Records => listed.into_iter().filter(|(n, _)| is_record(n)).collect(),
            Selection::Run { manifest } => {
                let (records, files): (Vec<_>, Vec<_>) =
                    listed.into_iter().partition(|(n, _)| is_record(n));
                self.fetch(dir, &records, &mut known)?;
                let named = files_named_by(dir, manifest);
                files
                    .into_iter()
                    .filter(|(name, _)| named.contains(name))
                    .collect()
            }
        };
        self.fetch(dir, &objects, &mut known)?;
        Ok(known)
    }

    /// Downloads `objects` into `dir` (bounded), recording them in `known`.
    fn fetch(
        &self,
        dir: &Path,
        objects: &[(String, u64)],
        known: &mut Known,
    ) -> Result<(), RemoteError> {
        let bytes: u64 = objects.iter().map(|(_, size)| size).sum();
        let limit = max_download();
        if bytes > limit {
            return Err(RemoteError::TooLarge {
                url: self.url.clone(),
                bytes,
                objects: objects.len(),
                limit,
            });
        }
        self.runtime.block_on(async {
            for chunk in objects.chunks(CONCURRENCY) {
                let mut tasks = Vec::with_capacity(chunk.len());
                for (name, _) in chunk {
                    tasks.push(self.download_one(dir, name));
                }
                for (task, (name, _)) in tasks.into_iter().zip(chunk) {
                    task.await?;
                    known.files.insert(name.clone(), stamp(&dir.join(name))?);
                }
            }
            Ok::<(), RemoteError>(())
        })
    }

    /// Sends the files of `dir` the store does not hold as they are (`known`): see [`Upload`]
    /// for what and in which order. Lock and temporary files stay local.
    pub fn upload(
        &self,
        dir: &Path,
        known: &mut Known,
        what: Upload,
    ) -> Result<Uploaded, RemoteError> {
        // A journal is copied before the data files are listed: every sample it names is then
        // among the files sent before it.
        let mut journals = Vec::new();
        let journal_due = known.journals_sent.is_none_or(|(at, bytes)| {
            at.elapsed() >= Duration::from_secs_f64(bytes as f64 / JOURNAL_RATE)
        });
        if what == Upload::Progress && journal_due {
            let mut names = Vec::new();
            collect_files(dir, dir, &mut names)?;
            for name in names.into_iter().filter(|n| upload_rank(n) == 1) {
                let path = dir.join(&name);
                let before = stamp(&path)?;
                if known.files.get(&name) == Some(&before) {
                    continue;
                }
                match std::fs::read(&path) {
                    Ok(bytes) => journals.push((name, bytes, before)),
                    // Gone since listed: the run finished (its manifest is sent at the end).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(RemoteError::Local {
                            action: "read",
                            path,
                            source,
                        });
                    }
                }
            }
        }
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        files.retain(|name| !is_transient(name));
        let present = files.clone();
        if what == Upload::Progress {
            files.retain(|name| upload_rank(name) == 0);
        }
        files.sort_by_key(|name| (upload_rank(name), name.clone()));
        let mut summary = Uploaded::default();
        self.runtime.block_on(async {
            let mut rank_start = 0;
            while rank_start < files.len() {
                let rank = upload_rank(&files[rank_start]);
                let rank_end = files[rank_start..]
                    .iter()
                    .position(|n| upload_rank(n) != rank)
                    .map_or(files.len(), |p| rank_start + p);
                // One rank at a time: every file of a rank is in the store before any of the next.
                for chunk in files[rank_start..rank_end].chunks(CONCURRENCY) {
                    let mut tasks = Vec::with_capacity(chunk.len());
                    for name in chunk {
                        let local = dir.join(name);
                        let now = stamp(&local)?;
                        if known.files.get(name) == Some(&now) {
                            summary.unchanged += 1;
                            continue;
                        }
                        tasks.push((name, now, self.send(local, name)));
                    }
                    for (name, now, task) in tasks {
                        summary.bytes += task.await?;
                        summary.files += 1;
                        known.files.insert(name.clone(), now);
                    }
                }
                rank_start = rank_end;
            }
            if !journals.is_empty() {
                let bytes = journals.iter().map(|(_, b, _)| b.len() as u64).sum();
                known.journals_sent = Some((std::time::Instant::now(), bytes));
            }
            for (name, bytes, before) in journals {
                let url = self.object_url(&name);
                let size = bytes.len() as u64;
                self.store
                    .put(&self.path_of(&name), PutPayload::from(bytes))
                    .await
                    .map_err(|e| self.classify("upload", &url, e))?;
                summary.files += 1;
                summary.bytes += size;
                known.files.insert(name, before);
            }
            if what == Upload::Final {
                let gone: Vec<String> = known
                    .files
                    .keys()
                    .filter(|name| !present.contains(name))
                    .cloned()
                    .collect();
                for name in gone {
                    match self.store.delete(&self.path_of(&name)).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                            summary.removed += 1;
                            known.files.remove(&name);
                        }
                        Err(e) => {
                            return Err(self.classify("remove", &self.object_url(&name), e));
                        }
                    }
                }
            }
            Ok(summary)
        })
    }

    async fn download_one(&self, dir: &Path, name: &str) -> Result<(), RemoteError> {
        use futures_util::StreamExt as _;
        let url = self.object_url(name);
        let result = self
            .store
            .get(&self.path_of(name))
            .await
            .map_err(|e| self.classify("download", &url, e))?;
        let local = dir.join(name);
        let parent = local.parent().unwrap_or(dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|source| RemoteError::Local {
            action: "create",
            path: parent.clone(),
            source,
        })?;
        let mut file =
            crate::fs::temporary_file(&parent, crate::fs::TEMPORARY_PREFIX).map_err(|source| {
                RemoteError::Local {
                    action: "create a file in",
                    path: parent.clone(),
                    source,
                }
            })?;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.classify("download", &url, e))?;
            std::io::Write::write_all(&mut file, &chunk).map_err(|source| RemoteError::Local {
                action: "write",
                path: local.clone(),
                source,
            })?;
        }
        file.persist(&local).map_err(|e| RemoteError::Local {
            action: "write",
            path: local.clone(),
            source: e.error,
        })?;
        Ok(())
    }

    async fn send(&self, local: PathBuf, name: &str) -> Result<u64, RemoteError> {
        let local = local.as_path();
        let url = self.object_url(name);
        let io = |action: &'static str| {
            let path = local.to_path_buf();
            move |source| RemoteError::Local {
                action,
                path,
                source,
            }
        };
        let mut file = std::fs::File::open(local).map_err(io("read"))?;
        let size = file.metadata().map_err(io("read"))?.len();
        let path = self.path_of(name);
        if size < MULTIPART_THRESHOLD {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).map_err(io("read"))?;
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|e| self.classify("upload", &url, e))?;
            return Ok(size);
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.classify("start the upload of", &url, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buffer = vec![0u8; PART_SIZE];
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(source) => {
                    let _ = writer.abort().await;
                    return Err(io("read")(source));
                }
            };
            if let Err(e) = writer.wait_for_capacity(CONCURRENCY).await {
                let _ = writer.abort().await;
                return Err(self.classify("upload", &url, e));
            }
            writer.write(&buffer[..read]);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.classify("upload", &url, e))?;
        Ok(size)
    }

    fn path_of(&self, name: &str) -> ObjectPath {
        let mut path = self.prefix.clone();
        for part in name.split('/') {
            path = path.child(part);
        }
        path
    }

    fn name_of(&self, location: &ObjectPath) -> Result<String, RemoteError> {
        let bad = || RemoteError::BadName {
            url: self.url.clone(),
            name: location.to_string(),
        };
        let parts: Vec<String> = match location.prefix_match(&self.prefix) {
            Some(parts) => parts.map(|p| p.as_ref().to_string()).collect(),
            None => return Err(bad()),
        };
        if parts.is_empty()
            || parts
                .iter()
                .any(|p| p.is_empty() || p == "." || p == ".." || p.contains(['\\', '\0']))
        {
            return Err(bad());
        }
        Ok(parts.join("/"))
    }

    /// A store error as the user should read it: a missing bucket and a refusal apart from
    /// the rest.
    fn classify(&self, action: &'static str, url: &str, error: object_store::Error) -> RemoteError {
        let detail = short(&error_text(&error));
        let lower = detail.to_ascii_lowercase();
        if lower.contains("nosuchbucket")
            || lower.contains("bucket does not exist")
            || lower.contains("containernotfound")
        {
            return RemoteError::NoBucket {
                url: self.url.clone(),
                detail,
            };
        }
        // No keys in the environment: object_store asked the instance metadata service,
        // which is not there (or gave none).
        if lower.contains("169.254.169.254")
            || lower.contains("/latest/api/token")
            || lower.contains("/latest/meta-data/iam")
        {
            return RemoteError::Denied {
                url: self.url.clone(),
                detail: format!(
                    "no credentials found (none in the environment, and the instance metadata \
                     service gave none): {detail}"
                ),
            };
        }
        let denied = matches!(
            error,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || lower.contains("accessdenied")
            || lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("credential");
        if denied {
            return RemoteError::Denied {
                url: self.url.clone(),
                detail,
            };
        }
        RemoteError::Request {
            action,
            url: url.to_string(),
            detail,
        }
    }
}

/// The error and its causes on one line (object_store's outer message alone often hides the
/// server's answer).
fn error_text(error: &object_store::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The server's `<Code>` and `<Message>` when it answered with an S3/Azure XML error,
/// else the text cut to a few hundred characters.
fn short(text: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find('<')? + start;
        Some(text[start..end].to_string())
    };
    if let (Some(code), Some(message)) = (tag("Code"), tag("Message")) {
        let before = text.split(": <?xml").next().unwrap_or(text);
        let before: String = before.chars().take(300).collect();
        return format!("{before}: {code}: {message}");
    }
    let cut: String = text.chars().take(600).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    }
}

/// The most bytes one command downloads (`MEDIGAN_STORE_MAX_BYTES`).
fn max_download() -> u64 {
    env::STORE_MAX_BYTES
        .whole_number()
        .unwrap_or(DEFAULT_MAX_DOWNLOAD)
}

/// Files that never leave (or enter) the staging folder: locks, temporary files, probes.
fn is_transient(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with(crate::fs::TEMPORARY_PREFIX) || base.ends_with(".lock")
}

/// The files the journal and manifest of run `manifest` in `dir` list (unreadable lines
/// skipped: the run's own reader judges them).
fn files_named_by(dir: &Path, manifest: &str) -> std::collections::BTreeSet<String> {
    let mut named = std::collections::BTreeSet::new();
    let journal = crate::generate::journal::journal_name(manifest);
    for record in [manifest, journal.as_str()] {
        let Ok(text) = std::fs::read_to_string(dir.join(record)) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let files = value["files"].as_array().into_iter().flatten();
            for file in files.chain(std::iter::once(&value)) {
                if let Some(name) = file["file"].as_str() {
                    named.insert(name.to_string());
                }
            }
        }
    }
    named
}

/// A run record: a manifest, a journal, the dataset manifest.
fn is_record(name: &str) -> bool {
    upload_rank(name) > 0
}

/// The order of uploads: data (0), journals (1), shard manifests (2), dataset manifest (3).
fn upload_rank(name: &str) -> u8 {
    if name.contains('/') {
        0
    } else if name == DATASET_MANIFEST_NAME {
        3
    } else if name.starts_with("manifest") && name.ends_with(".jsonl") {
        2
    } else if name.starts_with('.') && name.ends_with(".journal") {
        1
    } else {
        0
    }
}

/// The plain files below `dir`, as `/`-separated names relative to `root` (links skipped).
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), RemoteError> {
    let entries = std::fs::read_dir(dir).map_err(|source| RemoteError::Local {
        action: "read",
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| RemoteError::Local {
            action: "read",
            path: dir.to_path_buf(),
            source,
        })?;
        let kind = entry.file_type().map_err(|source| RemoteError::Local {
            action: "read",
            path: entry.path(),
            source,
        })?;
        if kind.is_dir() {
            collect_files(root, &entry.path(), out)?;
        } else if kind.is_file()
            && let Ok(relative) = entry.path().strip_prefix(root)
        {
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_and_urls_without_a_bucket_are_named() {
        let error = Remote::open("ftp://host/x").unwrap_err();
        assert!(
            error.to_string().contains("unknown URL scheme `ftp`"),
            "{error}"
        );
        let error = Remote::open("s3:///prefix").unwrap_err();
        assert!(error.to_string().contains("names no bucket"), "{error}");
    }

    #[test]
    fn records_go_up_after_the_files_they_list() {
        let mut names = vec![
            "dataset-manifest.json".to_string(),
            "manifest.jsonl".to_string(),
            ".manifest.journal".to_string(),
            "00001.png".to_string(),
        ];
        names.sort_by_key(|n| (upload_rank(n), n.clone()));
        assert_eq!(
            names,
            [
                "00001.png",
                ".manifest.journal",
                "manifest.jsonl",
                "dataset-manifest.json"
            ]
        );
        assert!(is_transient(".medigan-manifest.x.part"));
        assert!(is_transient(".manifest.lock"));
        assert!(!is_transient("00001.png"));
    }

    #[test]
    fn a_file_store_round_trips_a_folder_and_removes_what_the_command_removed() {
        let store_dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/out", store_dir.path().display());
        let remote = Remote::open(&url).unwrap();
        remote.check_writable().unwrap();
        let stage = tempfile::tempdir().unwrap();
        std::fs::write(stage.path().join("00000.png"), b"a").unwrap();
        std::fs::write(stage.path().join(".manifest.journal"), b"j").unwrap();
        std::fs::write(stage.path().join(".manifest.lock"), b"l").unwrap();
        let sent = remote
            .upload(stage.path(), &mut Known::default(), Upload::Final)
            .unwrap();
        assert_eq!(sent.files, 2);
        assert!(!store_dir.path().join("out/.manifest.lock").exists());

        let again = tempfile::tempdir().unwrap();
        let mut known = remote.download(again.path(), Selection::All).unwrap();
        assert_eq!(known.len(), 2);
        assert_eq!(std::fs::read(again.path().join("00000.png")).unwrap(), b"a");
        std::fs::remove_file(again.path().join(".manifest.journal")).unwrap();
        std::fs::write(again.path().join("manifest.jsonl"), b"m").unwrap();
        let sent = remote
            .upload(again.path(), &mut known, Upload::Final)
            .unwrap();
        assert_eq!((sent.files, sent.unchanged, sent.removed), (1, 1, 1));
        assert!(!store_dir.path().join("out/.manifest.journal").exists());
        assert_eq!(
            std::fs::read(store_dir.path().join("out/manifest.jsonl")).unwrap(),
            b"m"
        );
    }

    #[test]
    fn a_staging_folder_nobody_holds_is_removed_and_a_held_one_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let (held_lock, held) = new_staging(tmp.path()).unwrap();
        let (stale_lock, stale) = new_staging(tmp.path()).unwrap();
        std::fs::write(stale.path().join("00000.png"), b"x").unwrap();
        let stale_path = stale.keep();
        drop(stale_lock.0); // the process that held it was killed
        let (_new_lock, new) = new_staging(tmp.path()).unwrap();
        assert!(!stale_path.exists(), "the killed run's folder is removed");
        assert!(!stale_lock.1.exists());
        assert!(
            held.path().is_dir() && held_lock.1.is_file(),
            "a live one is kept"
        );
        assert!(new.path().is_dir());
    }

    #[test]
    fn a_large_file_goes_up_in_parts_and_arrives_whole() {
        let store_dir = tempfile::tempdir().unwrap();
        let remote = Remote::open(&format!("file://{}", store_dir.path().display())).unwrap();
        let stage = tempfile::tempdir().unwrap();
        // Three parts and a short one; bytes that differ from part to part.
        let size = 3 * PART_SIZE + 12_345;
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(stage.path().join("shard-000000.tar"), &bytes).unwrap();
        assert!(size as u64 >= MULTIPART_THRESHOLD);
        let sent = remote
            .upload(stage.path(), &mut Known::default(), Upload::Final)
            .unwrap();
        assert_eq!(sent.bytes, size as u64);
        assert!(std::fs::read(store_dir.path().join("shard-000000.tar")).unwrap() == bytes);
    }
}
