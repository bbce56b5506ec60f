//! Where a package comes from: an http(s) URL, a `file://` URL, a local `.zip`, a directory, or
//! a Hugging Face Hub link.

use std::path::{Path, PathBuf};

use reqwest::Url;
use sha2::{Digest, Sha256};

use super::StoreError;

/// A catalogue's `package_link` as the store fetches it: a relative local link is resolved
/// against the catalogue's directory `base`; a URL or an absolute path stays as it is.
pub(crate) fn resolve_link(link: &str, base: Option<&Path>) -> String {
    let is_remote = link.contains("://");
    match base {
        Some(base) if !is_remote && Path::new(link).is_relative() => {
            base.join(link).display().to_string()
        }
        _ => link.to_string(),
    }
}

/// A parsed package link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Link {
    /// Downloaded over the network.
    Http(Url),
    /// A local zip archive (a path, or a `file://` URL).
    Zip(PathBuf),
    /// A local package directory, used in place.
    Dir(PathBuf),
    /// A Hugging Face Hub link, `hf://OWNER/REPO[@REVISION][/PATH]` (parsed by `hub.rs`).
    Hub,
}

impl Link {
    /// Parses `link`; local paths must exist.
    pub(crate) fn parse(link: &str) -> Result<Link, StoreError> {
        let link = link.trim();
        let bad = |reason: &str| StoreError::BadLink {
            link: link.to_owned(),
            reason: reason.to_owned(),
        };
        let lower = link.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = Url::parse(link).map_err(|e| bad(&e.to_string()))?;
            return Ok(Link::Http(url));
        }
        if lower.starts_with("hf://") {
            super::hub::HubLink::parse(link)?;
            return Ok(Link::Hub);
        }
        let path = if lower.starts_with("file://") {
            let url = Url::parse(link).map_err(|e| bad(&e.to_string()))?;
            url.to_file_path()
                .map_err(|()| bad("not a local file path"))?
        } else if has_scheme(link) {
            return Err(bad("unsupported URL scheme"));
        } else {
            PathBuf::from(link)
        };
        Link::local(link, path)
    }

    fn local(link: &str, path: PathBuf) -> Result<Link, StoreError> {
        let meta = std::fs::metadata(&path).map_err(|e| StoreError::BadLink {
            link: link.to_owned(),
            reason: format!("cannot read `{}`: {e}", path.display()),
        })?;
        Ok(if meta.is_dir() {
            Link::Dir(path)
        } else {
            Link::Zip(path)
        })
    }
}

/// `scheme://...` with a scheme of two or more letters (so `C:\x` stays a path).
fn has_scheme(link: &str) -> bool {
    link.split_once("://").is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// The key of a link in `refs/`, `locks/` and `tmp/`: the sha256 of the link text.
pub(crate) fn link_key(link: &str) -> String {
    hex::encode(Sha256::digest(link.trim().as_bytes()))
}

/// Whether `value` is a full lowercase or uppercase sha256 in hex.
pub(crate) fn is_sha256(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `value` as a lowercase sha256, or [`StoreError::BadSha256`].
pub(crate) fn normalize_sha256(label: &str, value: &str) -> Result<String, StoreError> {
    let value = value.trim();
    if is_sha256(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(StoreError::BadSha256 {
            label: label.to_owned(),
            value: value.to_owned(),
        })
    }
}
