//! Hugging Face Hub package links: `hf://OWNER/REPO[@REVISION][/PATH]`.
//!
//! A Hub link names a model repository (or a folder `PATH` in it) whose files are the package,
//! or a single `.zip` file `PATH` in it that is the package archive. At first use the revision
//! (default `main`) is resolved to its commit sha through `GET {endpoint}/api/models/{repo}/
//! revision/{revision}?blobs=true`, and every file is downloaded from `{endpoint}/{repo}/resolve/
//! {commit}/{path}` (redirects followed, resumable, bounded) and checked against the size and
//! the LFS sha256 the Hub lists for it. The package is then installed like any other (a folder
//! under its directory hash, an archive under its sha256), and the link is pinned in the link
//! index (`refs/`): later uses get the same package even after the revision moved, also offline.
//! The record's source names the commit (`hf://OWNER/REPO@<commit>/PATH`).
//!
//! `HF_ENDPOINT` (default `https://huggingface.co`), `HF_TOKEN` (sent as `Authorization:
//! Bearer`) and `HF_HUB_OFFLINE` (no network for Hub links) are read as the Hub's own tools
//! read them, into [`HubConfig`]. Our own client is used rather than the `hf-hub` crate: the
//! store needs its sha256 checks, size bounds, the one HTTP client's retry and offline rules,
//! and its own atomic cache layout, which `hf-hub`'s cache (a copy of the Python layout, no
//! bounds) does not give.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::download::Download;
use super::link::link_key;
use super::lock::FetchLock;
use super::record::{Record, directory_sha256, hash_tree, sha256_file};
use super::refs::{LinkRef, Refs};
use super::{FetchRequest, InstalledPackage, Store, StoreError, check_hash, remove_if_present};
use crate::http::{Retried, is_transient, status_is_transient};
use crate::progress::Progress;

/// The Hub's public endpoint.
pub const DEFAULT_HUB_ENDPOINT: &str = "https://huggingface.co";

/// Largest revision answer read (a file list).
const MAX_REVISION_BYTES: u64 = 32 << 20;

/// Where the Hub is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The Hub's base URL, without a trailing `/` (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The access token sent as `Authorization: Bearer` (`HF_TOKEN`), for gated or private
    /// repositories.
    pub token: Option<String>,
    /// No network for Hub links (`HF_HUB_OFFLINE=1`); cached packages are still used.
    pub offline: bool,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("offline", &self.offline)
            .finish()
    }
}

impl Default for HubConfig {
    /// From `HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE` (`1`, `true`, `yes` or `on`).
    fn default() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        HubConfig {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_HUB_ENDPOINT.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            token: var("HF_TOKEN"),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            }),
        }
    }
}

/// A parsed `hf://OWNER/REPO[@REVISION][/PATH]` link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HubLink {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The revision as given (branch, tag or commit); `main` when absent.
    pub revision: String,
    /// The folder or file in the repository; empty for the whole repository.
    pub path: String,
}

impl HubLink {
    /// Parses a link that starts with `hf://` (any case).
    pub(crate) fn parse(link: &str) -> Result<HubLink, StoreError> {
        let bad = |reason: &str| StoreError::BadLink {
            link: link.to_owned(),
            reason: format!("{reason} (expected hf://OWNER/REPO[@REVISION][/PATH])"),
        };
        let rest = link
            .get(5..)
            .filter(|_| link[..5].eq_ignore_ascii_case("hf://"))
            .ok_or_else(|| bad("not an hf:// link"))?;
        let (owner, rest) = rest.split_once('/').ok_or_else(|| bad("no repository"))?;
        let name_end = rest.find(['@', '/']).unwrap_or(rest.len());
        let (name, rest) = rest.split_at(name_end);
        let (revision, path) = match rest.strip_prefix('@') {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                (&after[..end], after[end..].trim_start_matches('/'))
            }
            None => ("main", rest.trim_start_matches('/')),
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 96
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !name_ok(owner) || !name_ok(name) {
            return Err(bad(
                "the owner and repository name may hold letters, digits, `-`, `_` and `.`",
            ));
        }
        if revision.is_empty()
            || !revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad(
                "the revision may hold letters, digits, `-`, `_` and `.`",
            ));
        }
        let path = path.trim_end_matches('/');
        if !path.is_empty() && !safe_path(path) {
            return Err(bad("the path must be relative, without `..` or `\\`"));
        }
        Ok(HubLink {
            repo: format!("{owner}/{name}"),
            revision: revision.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The link pinned to `commit`.
    fn pinned(&self, commit: &str) -> String {
        let mut link = format!("hf://{}@{commit}", self.repo);
        if !self.path.is_empty() {
            link.push('/');
            link.push_str(&self.path);
        }
        link
    }
}

/// A relative `/`-separated path without empty, `.` or `..` parts or backslashes.
fn safe_path(path: &str) -> bool {
    !path.contains('\\')
        && !path.contains(':')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The revision answer of the Hub API (the fields read).
#[derive(Debug, Deserialize)]
struct RevisionInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<LfsInfo>,
}

#[derive(Debug, Deserialize)]
struct LfsInfo {
    sha256: String,
    size: u64,
}

/// One file to download, with what the Hub says about it.
struct HubFile {
    /// Path in the repository.
    name: String,
    /// Path in the package.
    target: String,
    size: Option<u64>,
    lfs_sha256: Option<String>,
}

/// Why a revision request failed (one attempt).
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Retryable(StoreError),
}

impl Store {
    /// An `hf://` link: from the link index when fetched before (the pinned commit), else
    /// resolved through the Hub API and downloaded under the link's lock.
    pub(super) fn fetch_hub(
        &self,
        request: &FetchRequest,
        expected: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<InstalledPackage, StoreError> {
        let hub = HubLink::parse(request.link.trim())?;
        let key = link_key(&request.link);
        if let Some(found) = self.cached(request, &key, expected)? {
            return Ok(found);
        }
        if self.offline || self.config.hub.offline {
            return Err(StoreError::Offline {
                label: request.label.clone(),
                link: request.link.clone(),
            });
        }
        let _lock = FetchLock::acquire(&self.home.locks_dir(), &key, &request.label)?;
        if let Some(found) = self.cached(request, &key, expected)? {
            return Ok(found);
        }
        let info = self.hub_revision(request, &hub)?;
        let pinned = hub.pinned(&info.sha);
        let mut package = if let Some(file) = self.single_archive(&hub, &info)? {
            self.hub_archive(request, &hub, &info.sha, &file, &pinned, expected, progress)?
        } else {
            let info_sha = info.sha.clone();
            let files = self.hub_files(request, &hub, info)?;
            self.hub_folder(
                request, &hub, &info_sha, &files, &pinned, expected, progress,
            )?
        };
        package.source = pinned.clone();
        let refs = Refs::new(&self.path());
        for (link, key) in [(&request.link, key), (&pinned, link_key(&pinned))] {
            let entry = LinkRef {
                link: link.clone(),
                label: request.label.clone(),
                sha256: package.sha256.clone(),
            };
            refs.put(&key, &entry)?;
        }
        tracing::info!("`{}` is pinned to `{pinned}`", request.link);
        Ok(package)
    }

    /// `GET /api/models/{repo}/revision/{revision}`: the commit and the file list.
    fn hub_revision(
        &self,
        request: &FetchRequest,
        hub: &HubLink,
    ) -> Result<RevisionInfo, StoreError> {
        let endpoint = &self.config.hub.endpoint;
        let url = format!(
            "{endpoint}/api/models/{}/revision/{}?blobs=true",
            hub.repo, hub.revision
        );
        let client = self.client(&url)?;
        let bytes = self
            .http
            .retry(
                &url,
                |e: &ApiError| matches!(e, ApiError::Retryable(_)),
                || {
                    let mut call = client.get(&url);
                    if let Some(token) = &self.config.hub.token {
                        call = call.bearer_auth(token);
                    }
                    let response = call.send().map_err(|error| {
                        let transient = is_transient(&error);
                        let e = StoreError::Network {
                            url: url.clone(),
                            error,
                        };
                        if transient {
                            ApiError::Retryable(e)
                        } else {
                            ApiError::Store(e)
                        }
                    })?;
                    let status = response.status().as_u16();
                    match status {
                        200 => {}
                        401 | 403 => {
                            return Err(ApiError::Store(StoreError::HubRefused {
                                label: request.label.clone(),
                                repo: hub.repo.clone(),
                                status,
                                token_sent: self.config.hub.token.is_some(),
                                page: format!("{endpoint}/{}", hub.repo),
                            }));
                        }
                        _ => {
                            let e = StoreError::HttpStatus {
                                url: url.clone(),
                                status,
                            };
                            return Err(if status_is_transient(status) {
                                ApiError::Retryable(e)
                            } else {
                                ApiError::Store(e)
                            });
                        }
                    }
                    read_limited(response, MAX_REVISION_BYTES, &url)
                },
            )
            .map_err(|failed| match failed {
                Retried::Final(ApiError::Store(e) | ApiError::Retryable(e)) => e,
                Retried::Exhausted { attempts, last } => StoreError::RetriesExhausted {
                    url: url.clone(),
                    attempts,
                    source: Box::new(match last {
                        ApiError::Store(e) | ApiError::Retryable(e) => e,
                    }),
                },
            })?;
        let info: RevisionInfo =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::HubAnswer {
                url: url.clone(),
                reason: format!("not a revision answer: {e}"),
            })?;
        if info.sha.len() != 40 || !info.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::HubAnswer {
                url,
                reason: format!("`sha` is not a 40-digit commit: `{}`", info.sha),
            });
        }
        Ok(RevisionInfo {
            sha: info.sha.to_ascii_lowercase(),
            siblings: info.siblings,
        })
    }

    /// The link's path when it names one `.zip` file of the revision.
    fn single_archive(
        &self,
        hub: &HubLink,
        info: &RevisionInfo,
    ) -> Result<Option<HubFile>, StoreError> {
        if hub.path.is_empty() {
            return Ok(None);
        }
        let Some(sibling) = info.siblings.iter().find(|s| s.rfilename == hub.path) else {
            return Ok(None);
        };
        if !hub.path.to_ascii_lowercase().ends_with(".zip") {
            return Err(StoreError::BadLink {
                link: format!("hf://{}/{}", hub.repo, hub.path),
                reason: "a single file in a Hub repository must be a package .zip".into(),
            });
        }
        Ok(Some(hub_file(sibling, hub.path.clone())))
    }

    /// The files of the package folder (the whole repository, or the link's folder), checked
    /// against the store's bounds; `.gitattributes` (git metadata) is left out.
    fn hub_files(
        &self,
        request: &FetchRequest,
        hub: &HubLink,
        info: RevisionInfo,
    ) -> Result<Vec<HubFile>, StoreError> {
        let prefix = if hub.path.is_empty() {
            String::new()
        } else {
            format!("{}/", hub.path)
        };
        let limits = &self.config.unzip;
        let mut files = Vec::new();
        let mut total = 0u64;
        for sibling in &info.siblings {
            let Some(target) = sibling.rfilename.strip_prefix(&prefix) else {
                continue;
            };
            if target == ".gitattributes" {
                continue;
            }
            let unsafe_name = !safe_path(target) || target == super::RECORD_FILE;
            if unsafe_name {
                return Err(StoreError::HubAnswer {
                    url: request.link.clone(),
                    reason: format!("unsafe file name `{}`", sibling.rfilename),
                });
            }
            let file = hub_file(sibling, target.to_owned());
            total = total.saturating_add(file.size.unwrap_or(0));
            files.push(file);
        }
        if files.is_empty() {
            return Err(StoreError::BadLink {
                link: request.link.clone(),
                reason: format!("revision `{}` has no files under `{}`", info.sha, hub.path),
            });
        }
        if files.len() > limits.max_entries {
            return Err(StoreError::HubAnswer {
                url: request.link.clone(),
                reason: format!(
                    "{} files, more than the limit of {}",
                    files.len(),
                    limits.max_entries
                ),
            });
        }
        let max = limits.max_total_bytes.min(self.config.max_download_bytes);
        if total > max {
            return Err(StoreError::DownloadTooLarge {
                url: request.link.clone(),
                size: total,
                limit: max,
            });
        }
        Ok(files)
    }

    /// Downloads one file of the commit into `part`, checked against the Hub's size and sha256.
    fn hub_download(
        &self,
        request: &FetchRequest,
        hub: &HubLink,
        commit: &str,
        file: &HubFile,
        part: &Path,
        progress: &dyn Progress,
    ) -> Result<(), StoreError> {
        let url = format!(
            "{}/{}/resolve/{commit}/{}",
            self.config.hub.endpoint, hub.repo, file.name
        );
        let max_bytes = file
            .size
            .unwrap_or(self.config.max_download_bytes)
            .min(self.config.max_download_bytes);
        let label = format!("{} ({})", request.label, file.name);
        let result = Download {
            http: &self.http,
            client: self.client(&url)?,
            max_bytes,
            url: &url,
            part,
            label: &label,
            token: self.config.hub.token.as_deref(),
        }
        .run(progress)
        .and_then(|()| {
            let (actual, size) = sha256_file(part)?;
            if let Some(want) = file.size
                && size != want
            {
                return Err(StoreError::Truncated {
                    url: url.clone(),
                    received: size,
                    expected: want,
                });
            }
            match &file.lfs_sha256 {
                Some(want) => check_hash(&request.label, &url, want, &actual),
                None => Ok(()),
            }
        });
        if let Err(e) = &result
            && !super::resumable(e)
        {
            remove_if_present(part)?;
        }
        result
    }

    /// A package folder: every file downloaded into a work directory, hashed, recorded and
    /// renamed into place.
    #[allow(clippy::too_many_arguments)]
    fn hub_folder(
        &self,
        request: &FetchRequest,
        hub: &HubLink,
        commit: &str,
        files: &[HubFile],
        pinned: &str,
        expected: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<InstalledPackage, StoreError> {
        let tmp = self.home.tmp_dir();
        let packages = self.path();
        for dir in [&tmp, &packages] {
            std::fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
        }
        let (work, _unpacking) = super::unzip::work_dir(&tmp)?;
        for file in files {
            let part = tmp.join(format!(
                "{}.part",
                link_key(&format!("{pinned}#{}", file.name))
            ));
            self.hub_download(request, hub, commit, file, &part, progress)?;
            let target: PathBuf = work.path().join(&file.target);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(StoreError::io("create directory", parent))?;
            }
            std::fs::rename(&part, &target)
                .map_err(StoreError::io("move the download to", &target))?;
        }
        let records = hash_tree(work.path())?;
        let sha = directory_sha256(&records);
        if let Some(expected) = expected {
            check_hash(&request.label, &request.link, expected, &sha)?;
        }
        let target = self.package_dir(&sha);
        let package = InstalledPackage {
            sha256: sha.clone(),
            dir: target.clone(),
            source: pinned.to_owned(),
        };
        if self.is_installed(&sha) && self.check_installed(&request.label, &sha).is_ok() {
            return Ok(package);
        }
        Record::new(&request.label, pinned, &sha, records).write(work.path())?;
        self.commit(work, &target, &sha)?;
        tracing::info!("installed `{}` into `{}`", request.label, target.display());
        Ok(package)
    }

    /// A package archive in the repository: downloaded, checked and unpacked.
    #[allow(clippy::too_many_arguments)]
    fn hub_archive(
        &self,
        request: &FetchRequest,
        hub: &HubLink,
        commit: &str,
        file: &HubFile,
        pinned: &str,
        expected: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<InstalledPackage, StoreError> {
        let tmp = self.home.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(StoreError::io("create directory", &tmp))?;
        let part = tmp.join(format!("{}.part", link_key(pinned)));
        self.hub_download(request, hub, commit, file, &part, progress)?;
        let result = (|| {
            let (actual, _) = sha256_file(&part)?;
            if let Some(expected) = expected {
                check_hash(&request.label, &request.link, expected, &actual)?;
            }
            let archive = std::fs::File::open(&part).map_err(StoreError::io("open", &part))?;
            self.install_archive(archive, &request.label, pinned, &actual)
        })();
        remove_if_present(&part)?;
        result
    }
}

fn hub_file(sibling: &Sibling, target: String) -> HubFile {
    HubFile {
        name: sibling.rfilename.clone(),
        target,
        size: sibling.lfs.as_ref().map(|l| l.size).or(sibling.size),
        lfs_sha256: sibling
            .lfs
            .as_ref()
            .map(|l| l.sha256.trim().to_ascii_lowercase()),
    }
}

fn read_limited(
    response: reqwest::blocking::Response,
    max: u64,
    url: &str,
) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    response
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| {
            ApiError::Retryable(StoreError::Interrupted {
                url: url.to_owned(),
                received: 0,
                source,
            })
        })?;
    if bytes.len() as u64 > max {
        return Err(ApiError::Store(StoreError::DownloadTooLarge {
            url: url.to_owned(),
            size: bytes.len() as u64,
            limit: max,
        }));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::HubLink;

    #[test]
    fn links_are_parsed_with_revision_and_path() {
        let l = HubLink::parse("hf://org/model").unwrap();
        assert_eq!(
            (l.repo.as_str(), l.revision.as_str(), l.path.as_str()),
            ("org/model", "main", "")
        );
        let l = HubLink::parse("hf://org/model@v1.0/pkg/sub/").unwrap();
        assert_eq!(
            (l.repo.as_str(), l.revision.as_str(), l.path.as_str()),
            ("org/model", "v1.0", "pkg/sub")
        );
        let l = HubLink::parse("HF://org/model/pkg.zip").unwrap();
        assert_eq!((l.revision.as_str(), l.path.as_str()), ("main", "pkg.zip"));
        for bad in [
            "hf://org",
            "hf:///model",
            "hf://org/model@/x",
            "hf://org/model/../x",
            "hf://o/m@a b",
            "hf://o/m@x?y",
        ] {
            assert!(HubLink::parse(bad).is_err(), "{bad}");
        }
    }
}
