//! Publishing a package to a Hugging Face Hub model repository (`contribute --to hf://...`):
//! one commit through the Hub's commit API, `POST {endpoint}/api/models/{repo}/commit/{rev}`,
//! an NDJSON body of a header line and one line per file. Small text files go inline (base64);
//! other files (weights, images) go through the repository's Git LFS batch API first
//! (`POST {endpoint}/{repo}.git/info/lfs/objects/batch`, then a `PUT` of each object the Hub
//! does not have yet) and are named in the commit by their sha256 (`lfsFile` lines), as the
//! Hub's own client does.
//! <https://huggingface.co/docs/hub/api>

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http::{self, Failure, Token};

/// Files at most this large that are UTF-8 text are committed inline; others through LFS.
const INLINE_MAX_BYTES: usize = 1 << 20;

/// Where to publish: `hf://OWNER/REPO[@REVISION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTarget {
    /// The Hub's base URL (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// `OWNER/REPO`.
    pub repo: String,
    /// The branch committed to (default `main`).
    pub revision: String,
}

impl HubTarget {
    /// Parses `hf://OWNER/REPO[@REVISION]` (no path: the package is the repository).
    pub fn parse(link: &str, endpoint: &str) -> Result<HubTarget, String> {
        let rest = link
            .trim()
            .strip_prefix("hf://")
            .ok_or_else(|| format!("`{link}` is not an hf://OWNER/REPO[@REVISION] link"))?;
        let (repo, revision) = rest.split_once('@').unwrap_or((rest, "main"));
        let part_ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let mut parts = repo.split('/');
        let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{link}`: expected hf://OWNER/REPO[@REVISION]"));
        };
        if !part_ok(owner) || !part_ok(name) || !part_ok(revision) {
            return Err(format!(
                "`{link}`: owner, repository and revision may hold letters, digits, `-`, `_`, `.`"
            ));
        }
        Ok(HubTarget {
            endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// The repository's page.
    pub fn page(&self) -> String {
        format!("{}/{}", self.endpoint, self.repo)
    }
}

/// A finished commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HubCommit {
    /// The commit sha.
    pub oid: String,
    /// Its page.
    pub url: String,
}

/// Commits `files` (path, content) to `target` in one commit with `summary`.
pub(crate) fn commit_files(
    target: &HubTarget,
    token: &Token,
    offline: bool,
    summary: &str,
    files: &[(String, Vec<u8>)],
) -> Result<HubCommit, Failure> {
    let client = http::client(&target.endpoint, offline).map_err(|message| Failure {
        status: None,
        message,
    })?;
    let mut lines =
        vec![json!({"key": "header", "value": {"summary": summary, "description": ""}})];
    let mut lfs = Vec::new();
    for (path, bytes) in files {
        if bytes.len() <= INLINE_MAX_BYTES && std::str::from_utf8(bytes).is_ok() {
            lines.push(json!({"key": "file", "value": {
                "content": base64(bytes), "path": path, "encoding": "base64"
            }}));
        } else {
            let oid = hex::encode(Sha256::digest(bytes));
            lines.push(json!({"key": "lfsFile", "value": {
                "path": path, "algo": "sha256", "oid": oid, "size": bytes.len()
            }}));
            lfs.push((oid, bytes));
        }
    }
    if !lfs.is_empty() {
        upload_lfs(&client, target, token, &lfs)?;
    }
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let request = client
        .post(format!(
            "{}/api/models/{}/commit/{}",
            target.endpoint, target.repo, target.revision
        ))
        .header(AUTHORIZATION, token.bearer())
        .header(CONTENT_TYPE, "application/x-ndjson")
        .body(body);
    let (_, answer) = http::send(request)?;
    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let oid = answer
        .get("commitOid")
        .and_then(Value::as_str)
        .filter(|oid| oid.len() == 40 && oid.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Failure {
            status: None,
            message: "the Hub's commit answer has no `commitOid`".into(),
        })?;
    let url = answer
        .get("commitUrl")
        .and_then(Value::as_str)
        .map_or_else(|| format!("{}/commit/{oid}", target.page()), str::to_owned);
    Ok(HubCommit {
        oid: oid.to_ascii_lowercase(),
        url,
    })
}

/// The LFS batch request for `objects`, then a `PUT` of each object it asks for.
fn upload_lfs(
    client: &reqwest::blocking::Client,
    target: &HubTarget,
    token: &Token,
    objects: &[(String, &Vec<u8>)],
) -> Result<(), Failure> {
    let listed: Vec<Value> = objects
        .iter()
        .map(|(oid, bytes)| json!({"oid": oid, "size": bytes.len()}))
        .collect();
    let request = client
        .post(format!(
            "{}/{}.git/info/lfs/objects/batch",
            target.endpoint, target.repo
        ))
        .header(AUTHORIZATION, token.bearer())
        .header(ACCEPT, "application/vnd.git-lfs+json")
        .header(CONTENT_TYPE, "application/vnd.git-lfs+json")
        .body(
            json!({"operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
                   "objects": listed})
            .to_string(),
        );
    let (_, answer) = http::send(request)?;
    let answer: Value = serde_json::from_str(&answer).map_err(|e| Failure {
        status: None,
        message: format!("the LFS batch answer is not JSON: {e}"),
    })?;
    let answered = answer
        .get("objects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (oid, bytes) in objects {
        let Some(object) = answered.iter().find(|o| o["oid"] == oid.as_str()) else {
            return Err(Failure {
                status: None,
                message: format!("the LFS batch answer does not list object {oid}"),
            });
        };
        if let Some(error) = object.get("error") {
            return Err(Failure {
                status: error.get("code").and_then(Value::as_u64).map(|c| c as u16),
                message: format!("LFS object {oid}: {}", error["message"]),
            });
        }
        let Some(upload) = object.pointer("/actions/upload") else {
            continue; // the Hub has it already
        };
        let href = upload["href"].as_str().ok_or_else(|| Failure {
            status: None,
            message: format!("LFS object {oid}: no upload address"),
        })?;
        let mut put = client.put(href).body((*bytes).clone());
        if let Some(headers) = upload.get("header").and_then(Value::as_object) {
            for (name, value) in headers {
                if let Some(value) = value.as_str() {
                    put = put.header(name.as_str(), value);
                }
            }
        }
        http::send(put)?;
    }
    Ok(())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn targets_are_parsed() {
        let t = HubTarget::parse("hf://org/model@dev", "https://hub.example/").unwrap();
        assert_eq!((t.repo.as_str(), t.revision.as_str()), ("org/model", "dev"));
        assert_eq!(t.page(), "https://hub.example/org/model");
        for bad in [
            "org/model",
            "hf://org",
            "hf://org/model/sub",
            "hf://org/m@",
            "hf://o/m@a/b",
        ] {
            assert!(HubTarget::parse(bad, "x").is_err(), "{bad}");
        }
    }
}
