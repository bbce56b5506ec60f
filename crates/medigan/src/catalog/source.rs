//! Where catalogues come from, and how they merge.
//!
//! Sources, lowest precedence first (a later source's entry replaces an earlier one's by id):
//! 1. the dated snapshot of the upstream catalogue built into the binary ([`SNAPSHOT`]), so that
//!    a fresh install finds the upstream models offline; used only while no cached upstream copy
//!    exists (`medigan catalog update` replaces it),
//! 2. the catalogue bundled in the binary (the models this repository ships),
//! 3. the cached copy of the upstream catalogue (`medigan catalog update` refreshes it).
//!
//! Explicit sources (`--catalog PATH|URL`, repeatable, or `MEDIGAN_CATALOG`, comma separated)
//! replace both: only they are read, merged in the order given.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::validate::Problem;
use super::{Catalog, CatalogError, Entries, parse_catalog, parse_remote_catalog};
use crate::home::Home;
use crate::http::{Http, HttpConfig};

/// The upstream catalogue: medigan's `config/global.json` on GitHub.
pub const DEFAULT_UPSTREAM_URL: &str =
    "https://raw.githubusercontent.com/RichardObi/medigan/main/config/global.json";
/// Environment variable naming explicit catalogue sources (comma separated paths or URLs).
pub const CATALOG_ENV: &str = crate::env::CATALOG.name;
/// Environment variable overriding the upstream catalogue URL.
pub const UPSTREAM_URL_ENV: &str = crate::env::CATALOG_URL.name;
/// The catalogue of the models this repository ships, bundled in the binary.
pub const BUNDLED_CATALOG: &str = include_str!("../../../../models/catalog.json");
/// Provenance of the upstream catalogue snapshot built into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Where it was taken from (the default upstream URL).
    pub source_url: &'static str,
    /// The day it was taken, `YYYY-MM-DD`.
    pub taken: &'static str,
    /// sha256 of [`Snapshot::text`], lowercase hex.
    pub sha256: &'static str,
    /// The catalogue JSON, unchanged (`models/upstream-snapshot.json`).
    #[serde(skip)]
    pub text: &'static str,
}

/// The snapshot of the upstream catalogue built into the binary (provenance in
/// `models/upstream-snapshot.provenance.json`).
pub const SNAPSHOT: Snapshot = Snapshot {
    source_url: DEFAULT_UPSTREAM_URL,
    taken: "2026-12-02",
    sha256: "6439784ab464a804353423a9ee6faff57e78fa92c551af40d4c2df13a394236f",
    text: include_str!("../../../../models/upstream-snapshot.json"),
};

impl Snapshot {
    /// Whole days from the day it was taken to `now` (0 when `now` is earlier or unknown).
    pub fn age_days(&self, now: std::time::SystemTime) -> u64 {
        let today = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        today.saturating_sub(days_since_epoch(self.taken).unwrap_or(today))
    }

    /// How it is shown as a source location: `<upstream snapshot DATE>` (the URL is in
    /// [`Snapshot::source_url`]).
    pub fn location(&self) -> String {
        format!("<upstream snapshot {}>", self.taken)
    }
}

/// Days from 1970-01-01 to the date `YYYY-MM-DD` (proleptic Gregorian calendar).
fn days_since_epoch(date: &str) -> Option<u64> {
    let mut parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, d) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    u64::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

/// Largest catalogue accepted from the network.
const MAX_CATALOG_BYTES: u64 = 64 << 20;

/// Which catalogues to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSettings {
    /// Explicit sources (paths, `file://` or `http(s)://` URLs, or `hf://OWNER/REPO[@REV][/PATH]`
    /// packages whose `medigan.json` is read); when set, only these are read.
    pub explicit: Vec<String>,
    /// URL of the upstream catalogue, cached by `medigan catalog update`.
    pub upstream_url: String,
    /// Never touch the network.
    pub offline: bool,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        CatalogSettings {
            explicit: Vec::new(),
            upstream_url: DEFAULT_UPSTREAM_URL.to_string(),
            offline: false,
        }
    }
}

impl CatalogSettings {
    /// Settings from the environment (`MEDIGAN_CATALOG`, `MEDIGAN_CATALOG_URL`).
    pub fn from_env() -> Self {
        let explicit = crate::env::CATALOG.list();
        let upstream_url = crate::env::CATALOG_URL
            .text()
            .unwrap_or_else(|| DEFAULT_UPSTREAM_URL.to_string());
        CatalogSettings {
            explicit,
            upstream_url,
            offline: false,
        }
    }
}

/// Splits a comma separated list of sources.
pub fn split_sources(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The kind of a catalogue source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The dated snapshot of the upstream catalogue built into the binary ([`SNAPSHOT`]).
    Snapshot,
    /// Bundled in the binary.
    Bundled,
    /// The cached copy of the upstream catalogue.
    Upstream,
    /// A file given explicitly.
    File,
    /// A URL given explicitly (read through its cached copy when offline).
    Url,
}

/// One source of a merged catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// What kind of source.
    pub kind: SourceKind,
    /// Path or URL.
    pub location: String,
    /// How many entries it contributed.
    pub models: usize,
    /// How many of its entries a later source replaced.
    pub overridden: usize,
}

impl SourceInfo {
    /// A source with no entries counted yet.
    pub fn new(kind: SourceKind, location: impl Into<String>) -> Self {
        SourceInfo {
            kind,
            location: location.into(),
            models: 0,
            overridden: 0,
        }
    }
}

/// What `medigan catalog update` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
    /// Where it downloaded from.
    pub url: String,
    /// The cached file written.
    pub path: PathBuf,
    /// Number of models in the new catalogue.
    pub models: usize,
    /// sha256 of the downloaded bytes.
    pub sha256: String,
}

/// The file holding the cached upstream catalogue.
pub fn upstream_cache_path(home: &Home) -> PathBuf {
    home.catalog_dir().join("upstream.json")
}

/// The user's catalogue file, read on top of the default sources; written by
/// [`user::add_entry`](super::user::add_entry) (Python's `add_model_to_config`).
pub fn user_catalog_path(home: &Home) -> PathBuf {
    home.catalog_dir().join("local.json")
}

/// Loads and merges the catalogues the settings name: the explicit sources alone, or else the
/// upstream snapshot (or its cached update), the bundled catalogue and the user's catalogue
/// ([`user`](super::user)), later ones replacing earlier entries of the same id.
pub fn load(settings: &CatalogSettings, home: &Home) -> Result<Catalog, CatalogError> {
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    if settings.explicit.is_empty() {
        let cached = upstream_cache_path(home);
        let upstream = read_cached_upstream(&cached);
        if upstream.is_none() {
            let snapshot = SourceInfo::new(SourceKind::Snapshot, SNAPSHOT.location());
            let (entries, w) = parse_catalog(SNAPSHOT.text, &snapshot.location)?;
            layers.push((snapshot, entries));
            warnings.extend(w);
        }
        let bundled = SourceInfo::new(SourceKind::Bundled, "<bundled>");
        let (entries, w) = parse_catalog(BUNDLED_CATALOG, &bundled.location)?;
        layers.push((bundled, entries));
        warnings.extend(w);
        if let Some((entries, w)) = upstream {
            layers.push((
                SourceInfo::new(SourceKind::Upstream, display(&cached)),
                entries,
            ));
            warnings.extend(w);
        }
        let user = user_catalog_path(home);
        if std::fs::symlink_metadata(&user).is_ok() {
            let info = SourceInfo::new(SourceKind::File, display(&user));
            let (entries, w) = parse_catalog(&read_file(&user)?, &info.location)?;
            layers.push((info, entries));
            warnings.extend(w);
        }
    } else {
        for location in &settings.explicit {
            let (info, text) = read_explicit(location, settings.offline, home)?;
            let (entries, w) = match info.kind {
                SourceKind::Url => parse_remote_catalog(&text, &info.location)?,
                _ => parse_catalog(&text, &info.location)?,
            };
            layers.push((info, entries));
            warnings.extend(w);
        }
    }
    let mut catalog = Catalog::from_layers(layers);
    catalog.add_warnings(warnings);
    Ok(catalog)
}

/// The cached upstream catalogue, when there is one that reads and validates. A damaged copy
/// (a cut download, an edit, a disk fault) is warned about, with what to do, and left out, so
/// that it blocks no command: the snapshot and the bundled models are used instead.
fn read_cached_upstream(cached: &Path) -> Option<(Entries, Vec<Problem>)> {
    if std::fs::symlink_metadata(cached).is_err() {
        return None;
    }
    let parsed = read_file(cached)
        .and_then(|text| parse_remote_catalog(&text, &cached.display().to_string()));
    match parsed {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            tracing::warn!(
                "ignoring the cached upstream catalogue, which is damaged: {error}\n\
                 hint: `medigan catalog update` fetches it again (or delete `{}`); until then \
                 the catalogue snapshot shipped with medigan is used",
                cached.display()
            );
            None
        }
    }
}

/// Downloads the upstream catalogue (or `url`), validates it, and replaces the cached copy.
///
/// Nothing is written unless the download is complete and valid.
pub fn update(
    settings: &CatalogSettings,
    home: &Home,
    url: Option<&str>,
) -> Result<UpdateReport, CatalogError> {
    let url = url.unwrap_or(&settings.upstream_url);
    if settings.offline {
        return Err(CatalogError::Download {
            url: url.to_string(),
            reason: "offline mode is on; `catalog update` needs the network".into(),
        });
    }
    let text = fetch_text(url, settings.offline)?;
    let (entries, _) = parse_remote_catalog(&text, url)?;
    let path = upstream_cache_path(home);
    write_atomically(&path, text.as_bytes())?;
    Ok(UpdateReport {
        url: url.to_string(),
        path,
        models: entries.len(),
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
    })
}

fn read_explicit(
    location: &str,
    offline: bool,
    home: &Home,
) -> Result<(SourceInfo, String), CatalogError> {
    if let Some(path) = location.strip_prefix("file://") {
        let text = read_file(Path::new(path))?;
        return Ok((SourceInfo::new(SourceKind::File, path), text));
    }
    if location.trim().to_ascii_lowercase().starts_with("hf://") {
        return read_hub_package(location, offline, home);
    }
    if !is_url(location) {
        let text = read_file(Path::new(location))?;
        return Ok((SourceInfo::new(SourceKind::File, location), text));
    }
    let cached = url_cache_path(home, location);
    let info = SourceInfo::new(SourceKind::Url, location);
    if offline {
        return match cached.is_file() {
            true => Ok((info, read_file(&cached)?)),
            false => Err(CatalogError::Offline {
                url: location.to_string(),
            }),
        };
    }
    let text = fetch_text(location, offline)?;
    parse_remote_catalog(&text, location)?;
    write_atomically(&cached, text.as_bytes())?;
    Ok((info, text))
}

/// An `hf://` source: the package is fetched into the store (pinned there like a package link)
/// and its `medigan.json` read as a local catalogue file, so that its relative `package_link`
/// (usually `.`) is the cached package itself.
fn read_hub_package(
    link: &str,
    offline: bool,
    home: &Home,
) -> Result<(SourceInfo, String), CatalogError> {
    let store = crate::store::Store::new(home.clone(), offline);
    let request = crate::store::FetchRequest::new(link.trim(), link.trim());
    let package = store
        .fetch(&request, &crate::progress::NoProgress)
        .map_err(|error| CatalogError::Package {
            link: link.to_string(),
            error: Box::new(error),
        })?;
    let path = package.dir.join("medigan.json");
    let text = read_file(&path)?;
    Ok((SourceInfo::new(SourceKind::File, display(&path)), text))
}

fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

fn url_cache_path(home: &Home, url: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(url.as_bytes()));
    home.catalog_dir()
        .join(format!("url-{}.json", &digest[..16]))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a catalogue file: a regular file (not a FIFO or device) of at most 64 MiB, UTF-8.
pub(super) fn read_file(path: &Path) -> Result<String, CatalogError> {
    let io_error = |cause| CatalogError::Io {
        action: "read",
        path: path.to_path_buf(),
        cause,
    };
    let bytes = crate::fs::read_regular(path, crate::fs::Links::Follow, MAX_CATALOG_BYTES)
        .map_err(io_error)?;
    String::from_utf8(bytes)
        .map_err(|e| io_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Writes `bytes` to `path` ([`crate::fs::write_atomically`]), creating its folder.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CatalogError> {
    let io_error = |cause| CatalogError::Io {
        action: "write",
        path: path.to_path_buf(),
        cause,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_error)?;
    crate::fs::write_atomically(path, bytes).map_err(io_error)
}

/// `GET url` through the one HTTP client (`crate::http`): retried on timeouts, 5xx and cut
/// connections, at most [`MAX_CATALOG_BYTES`] of UTF-8 text.
fn fetch_text(url: &str, offline: bool) -> Result<String, CatalogError> {
    let failed = |reason: String| CatalogError::Download {
        url: url.to_string(),
        reason,
    };
    let bytes = Http::new(HttpConfig::default(), offline)
        .get_limited(url, MAX_CATALOG_BYTES)
        .map_err(|e| failed(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| failed("the response is not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_snapshot_is_the_file_its_provenance_names() {
        assert_eq!(hex::encode(Sha256::digest(SNAPSHOT.text)), SNAPSHOT.sha256);
        let provenance: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../models/upstream-snapshot.provenance.json"
        ))
        .expect("the provenance record is JSON");
        assert_eq!(provenance["sha256"], SNAPSHOT.sha256);
        assert_eq!(provenance["source_url"], SNAPSHOT.source_url);
        assert_eq!(provenance["taken"], SNAPSHOT.taken);
        let (entries, _) = parse_catalog(SNAPSHOT.text, "snapshot").expect("a valid catalogue");
        assert_eq!(entries.len(), 23);
        assert_eq!(provenance["models"], 23);
    }

    #[test]
    fn snapshot_age_counts_whole_days() {
        assert_eq!(days_since_epoch("1970-01-01"), Some(0));
        assert_eq!(days_since_epoch("2000-03-01"), Some(11_017));
        assert_eq!(days_since_epoch("2026-13-01"), None);
        let taken = std::time::UNIX_EPOCH
            + Duration::from_secs(days_since_epoch(SNAPSHOT.taken).unwrap() * 86_400);
        assert_eq!(
            SNAPSHOT.age_days(taken + Duration::from_secs(3 * 86_400 + 5)),
            3
        );
        assert_eq!(SNAPSHOT.age_days(taken - Duration::from_secs(86_400)), 0);
    }

    /// Issue 26, finding 14: a damaged cached upstream catalogue blocked every command (the
    /// bundled model included) with no hint.
    #[test]
    fn regression_26_a_damaged_cached_upstream_catalogue_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let cached = upstream_cache_path(&home);
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        std::fs::write(&cached, "{\"00001_DCGAN\": {\"execution\": ").unwrap();
        let catalog = load(&CatalogSettings::default(), &home).unwrap();
        let (bundled, _) = parse_catalog(BUNDLED_CATALOG, "bundled").unwrap();
        assert!(catalog.get(&bundled[0].0).is_some());
        assert!(
            catalog
                .sources()
                .iter()
                .all(|s| s.kind != SourceKind::Upstream)
        );
    }

    /// Issue 26, finding 14: a catalogue saved with a byte-order mark failed as "line 1
    /// column 1" without naming the mark.
    #[test]
    fn regression_26_a_byte_order_mark_is_named() {
        let error = parse_catalog("\u{feff}{}", "x.json")
            .unwrap_err()
            .to_string();
        assert!(error.contains("byte-order mark"), "{error}");
        let error = super::super::validate::validate_catalog_text("\u{feff}{}")
            .unwrap_err()
            .to_string();
        assert!(error.contains("byte-order mark"), "{error}");
    }
}
