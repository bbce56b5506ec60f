//! The store's one error type: what failed, the value involved, and what to do next (`hint:`).

use std::fmt;
use std::path::PathBuf;

use crate::error::{Advice, Hint, Suggestion};

/// Why an archive entry was refused by the safe unzip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsafeReason {
    /// The name starts at the filesystem root or a drive (`/etc/passwd`, `C:\x`).
    AbsolutePath,
    /// The name has a `..` component and could escape the package directory.
    ParentDir,
    /// A symbolic link (packages hold plain files and directories only).
    Link,
    /// A device, fifo or socket entry.
    SpecialFile,
    /// The name is empty after normalisation or holds a NUL byte.
    InvalidName,
    /// The name is reserved for the store's own record file.
    ReservedName,
    /// The entry is encrypted (packages are never encrypted).
    Encrypted,
    /// A second entry with the same path.
    Duplicate,
    /// The archive has more entries than allowed.
    TooManyEntries {
        /// Entries in the archive.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The uncompressed total would exceed the limit.
    TooLarge {
        /// Uncompressed bytes up to and including this entry.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// The entry expands far more than real data does (a zip bomb).
    Ratio {
        /// Declared uncompressed size.
        size: u64,
        /// Compressed size.
        compressed: u64,
        /// The largest ratio allowed.
        limit: u64,
    },
    /// The entry unpacks to more bytes than its header declares.
    SizeMismatch {
        /// Declared uncompressed size.
        declared: u64,
    },
}

impl fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AbsolutePath => f.write_str("absolute path; entries must be relative"),
            Self::ParentDir => f.write_str("`..` component; entries must stay inside the package"),
            Self::Link => {
                f.write_str("symbolic link; packages may hold only files and directories")
            }
            Self::SpecialFile => f.write_str("device, fifo or socket entry"),
            Self::InvalidName => f.write_str("empty name or NUL byte in name"),
            Self::ReservedName => f.write_str("name reserved for the store's record file"),
            Self::Encrypted => f.write_str("encrypted entry"),
            Self::Duplicate => f.write_str("duplicate entry"),
            Self::TooManyEntries { count, limit } => {
                write!(f, "{count} entries, more than the limit of {limit}")
            }
            Self::TooLarge { total, limit } => {
                write!(
                    f,
                    "unpacks to {total} bytes or more, over the limit of {limit}"
                )
            }
            Self::Ratio {
                size,
                compressed,
                limit,
            } => write!(
                f,
                "{compressed} bytes expand to {size} (more than {limit}:1); looks like a zip bomb"
            ),
            Self::SizeMismatch { declared } => {
                write!(
                    f,
                    "unpacks to more than the {declared} bytes its header declares"
                )
            }
        }
    }
}

/// Everything that can go wrong while fetching, unpacking or managing cached packages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The link is neither an http(s) URL, a `file://` URL, nor an existing local path.
    #[error("unsupported package link `{link}`: {reason}")]
    BadLink {
        /// The link as given.
        link: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Hub refused the repository: gated (terms not accepted), private, or a bad token.
    #[error("the Hugging Face Hub refused `{repo}` for `{label}` ({status})")]
    HubRefused {
        /// The model.
        label: String,
        /// `OWNER/REPO`.
        repo: String,
        /// 401 or 403.
        status: u16,
        /// Whether a token was sent.
        token_sent: bool,
        /// The repository's page on the Hub, where its terms are accepted.
        page: String,
    },
    /// The Hub answered something the store cannot use (not JSON, a bad commit, unsafe names,
    /// too many files).
    #[error("unusable answer from the Hugging Face Hub at `{url}`: {reason}")]
    HubAnswer {
        /// The request or link.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// An expected sha256 that is not 64 hexadecimal digits.
    #[error("invalid sha256 `{value}` for `{label}`: expected 64 hexadecimal digits")]
    BadSha256 {
        /// The model the hash belongs to.
        label: String,
        /// The value given.
        value: String,
    },
    /// The package's content does not match the expected hash; nothing was installed.
    #[error("sha256 mismatch for `{label}` from `{link}`: expected {expected}, got {actual}")]
    HashMismatch {
        /// The model.
        label: String,
        /// Where the package came from.
        link: String,
        /// The hash the caller expected.
        expected: String,
        /// The hash of what was received.
        actual: String,
    },
    /// The server answered with an error status (4xx is final; 5xx was retried).
    #[error("GET `{url}` answered HTTP {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// Connecting or talking to the server failed. The message names the innermost cause
    /// (e.g. the failed name lookup) instead of the transport's chain of wrappers.
    #[error("cannot download `{url}`: {}", network_reason(error))]
    Network {
        /// The URL.
        url: String,
        /// The transport error.
        error: reqwest::Error,
    },
    /// The body stopped with an error after some bytes (kept for resuming).
    #[error("download of `{url}` was interrupted after {received} bytes")]
    Interrupted {
        /// The URL.
        url: String,
        /// Bytes of the file on disk so far.
        received: u64,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The connection closed before `Content-Length` bytes arrived (kept for resuming).
    #[error("download of `{url}` ended after {received} of {expected} bytes")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes of the file on disk so far.
        received: u64,
        /// Bytes announced by the server.
        expected: u64,
    },
    /// A `206` answer that does not continue where the partial file ends.
    #[error("`{url}` answered a resume from byte {asked} with `Content-Range: {got}`")]
    BadRange {
        /// The URL.
        url: String,
        /// The first byte asked for.
        asked: u64,
        /// The Content-Range received.
        got: String,
    },
    /// The download is larger than allowed.
    #[error("`{url}` is {size} bytes or more, over the download limit of {limit} bytes")]
    DownloadTooLarge {
        /// The URL.
        url: String,
        /// Announced or received bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Every attempt failed; `source` is the last failure.
    #[error("download of `{url}` failed after {attempts} attempts")]
    RetriesExhausted {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Box<StoreError>,
    },
    /// The archive is not a readable zip file.
    #[error("`{archive}` is not a valid zip archive")]
    BadArchive {
        /// The archive (path, link or label).
        archive: String,
        /// The zip error.
        #[source]
        source: zip::result::ZipError,
    },
    /// An entry could not be decompressed (bad data or checksum).
    #[error("entry `{entry}` of `{archive}` is corrupt")]
    CorruptEntry {
        /// The archive.
        archive: String,
        /// The entry name.
        entry: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// An entry was refused by the safe unzip; nothing was installed.
    #[error("refusing to unpack `{archive}`: entry `{entry}`: {reason}")]
    UnsafeArchive {
        /// The archive.
        archive: String,
        /// The offending entry name.
        entry: String,
        /// Why it was refused.
        reason: UnsafeReason,
    },
    /// Offline mode and the package is not cached.
    #[error("`{label}` is not in the cache and offline mode forbids downloading it from `{link}`")]
    Offline {
        /// The model.
        label: String,
        /// The link it would be downloaded from.
        link: String,
    },
    /// An installed package's files differ from what was installed (offline, or a repair
    /// failed); it was not used.
    #[error(
        "the cached package of `{label}` ({sha256}) changed on disk since it was installed: {}; it was not used",
        files.join(", ")
    )]
    Damaged {
        /// The model.
        label: String,
        /// sha256 of the package as installed.
        sha256: String,
        /// The package directory.
        dir: PathBuf,
        /// The files that differ from the record (missing ones marked).
        files: Vec<String>,
        /// Whether the store is offline (a repair needs the network).
        offline: bool,
    },
    /// No cached package matches a hash, hash prefix or label.
    #[error("no cached package matches `{key}`")]
    NotCached {
        /// The hash, prefix or label asked for.
        key: String,
    },
    /// Several cached packages match a hash prefix or label.
    #[error("`{key}` matches several cached packages: {}", candidates.join(", "))]
    Ambiguous {
        /// The hash prefix or label asked for.
        key: String,
        /// The sha256 of each match.
        candidates: Vec<String>,
    },
    /// A store record file could not be parsed.
    #[error("cannot read the store record `{path}`")]
    BadRecord {
        /// The record file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The innermost cause of a transport error, said plainly for a failed name lookup.
fn network_reason(error: &reqwest::Error) -> String {
    if crate::http::is_name_resolution_failure(error) {
        return "the host name could not be resolved (no network, or no DNS)".into();
    }
    let mut innermost: &dyn std::error::Error = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    innermost.to_string()
}

fn damaged_hint(offline: bool, sha256: &str) -> Advice {
    let rm = format!("`medigan cache rm {sha256}` removes it");
    if offline {
        Advice::text("run the same command once ")
            .then(Suggestion::Online { also_env: true })
            .then_text(format!(" to download a fresh copy, or {rm}"))
    } else {
        format!("{rm}; the next run downloads a fresh copy").into()
    }
}

fn status_hint(status: u16) -> Option<&'static str> {
    match status {
        404 | 410 => Some("the package is not at this URL; check the catalogue's link"),
        401 | 403 => Some("the server refused access; the link may need a token or be private"),
        500..=599 => Some("the server failed; try again later"),
        _ => None,
    }
}

impl Hint for StoreError {
    /// The store's own advice, then, after a failed download, the offline way; one per line.
    fn advice(&self) -> Option<Advice> {
        let own = self.own_hint();
        let offline_way = self.is_download_failure().then(|| {
            Advice::text(
                "without the network, download the package on another machine and give a \
                 catalogue whose `package_link` is the local .zip or folder: ",
            )
            .then(Suggestion::CatalogFile)
            .then_text(" (or MEDIGAN_CATALOG=FILE) reads it offline")
        });
        Advice::lines(own.into_iter().chain(offline_way))
    }
}

impl StoreError {
    fn own_hint(&self) -> Option<Advice> {
        match self {
            Self::BadLink { .. } => Some(
                "use an http(s):// or file:// URL, a path to a .zip, a package directory, or \
                 hf://OWNER/REPO[@REVISION][/PATH]"
                    .into(),
            ),
            Self::HubRefused {
                page, token_sent, ..
            } => Some(
                if *token_sent {
                    format!(
                        "the repository is gated or private: accept its terms on {page} with \
                         the account of HF_TOKEN, and check that the token may read it"
                    )
                } else {
                    format!(
                        "the repository is gated or private: accept its terms on {page}, then \
                         set HF_TOKEN to an access token of that account (created at \
                         https://huggingface.co/settings/tokens)"
                    )
                }
                .into(),
            ),
            Self::HashMismatch { label, .. } => Some(format!(
                "nothing was installed and the download was deleted; if the package at the link \
                 changed on purpose, update `execution.sha256` in the catalogue; `medigan cache \
                 rm {label}` clears a cached copy"
            )
            .into()),
            Self::HttpStatus { status, .. } => status_hint(*status).map(Advice::from),
            Self::Network { .. } => Some("check the network connection and the URL".into()),
            Self::BadArchive { .. } => Some(
                "the file may be corrupt or not a package; delete it and download again".into(),
            ),
            Self::Offline { .. } => Some(
                Advice::text("run the same command once ")
                    .then(Suggestion::Online { also_env: true })
                    .then_text(" to download it into the cache"),
            ),
            Self::Damaged {
                sha256, offline, ..
            } => Some(damaged_hint(*offline, sha256)),
            Self::NotCached { .. } => Some("`medigan cache ls` lists the cached packages".into()),
            Self::Ambiguous { .. } => Some("give the full sha256".into()),
            Self::BadRecord { .. } => {
                Some("`medigan cache rm` the entry and fetch it again".into())
            }
            Self::Io { source, path, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::ReadOnlyFilesystem
                        | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Some(
                    Advice::text(format!(
                        "medigan cannot write its cache at `{}`; choose a writable folder with ",
                        path.display()
                    ))
                    .then(Suggestion::CacheDir)
                    .then_text(" or MEDIGAN_HOME=DIR"),
                )
            }
            Self::RetriesExhausted { source, .. } => source.own_hint(),
            _ => None,
        }
    }

    /// An [`StoreError::Io`] for `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }

    /// Whether this is a failure to download (network, server, offline), after which the
    /// offline way (a local copy of the file) is worth naming.
    pub fn is_download_failure(&self) -> bool {
        matches!(
            self,
            Self::Network { .. }
                | Self::HttpStatus { .. }
                | Self::Interrupted { .. }
                | Self::Truncated { .. }
                | Self::BadRange { .. }
                | Self::RetriesExhausted { .. }
                | Self::Offline { .. }
        )
    }

    /// Whether another download attempt may succeed (timeouts, 5xx, cut connections).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Network { error, .. } => crate::http::is_transient(error),
            Self::HttpStatus { status, .. } => crate::http::status_is_transient(*status),
            Self::Interrupted { .. } | Self::Truncated { .. } | Self::BadRange { .. } => true,
            _ => false,
        }
    }
}
