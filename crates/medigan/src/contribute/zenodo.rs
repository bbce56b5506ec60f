//! A Zenodo deposition through its REST API: create a draft, upload the package into its
//! bucket, set the metadata, publish, or delete the draft when a later step fails.
//! <https://developers.zenodo.org/#depositions>

use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::http::{self, Failure, Token};

/// Zenodo.
pub const ZENODO_URL: &str = "https://zenodo.org";
/// Zenodo's sandbox, for trying a deposition that is never archived.
pub const ZENODO_SANDBOX_URL: &str = "https://sandbox.zenodo.org";

/// A draft deposition as Zenodo created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposition {
    /// The deposition (and record) id.
    pub id: u64,
    /// Where its files are uploaded.
    pub bucket: String,
    /// Its page.
    pub html: String,
    /// The DOI reserved for it, when Zenodo says.
    pub doi: Option<String>,
}

/// A client of one Zenodo instance with one token.
#[derive(Debug, Clone)]
pub(crate) struct Zenodo {
    base: String,
    token: Token,
    client: Client,
}

impl Zenodo {
    /// A client of the Zenodo at `base`; refused when `offline`.
    pub fn new(base: &str, token: Token, offline: bool) -> Result<Zenodo, String> {
        Ok(Zenodo {
            base: base.trim_end_matches('/').to_string(),
            token,
            client: http::client(base, offline)?,
        })
    }

    fn deposition_url(&self, id: u64) -> String {
        format!("{}/api/deposit/depositions/{id}", self.base)
    }

    /// The URL a published file is downloaded from.
    pub fn file_url(&self, id: u64, name: &str) -> String {
        format!("{}/records/{id}/files/{name}?download=1", self.base)
    }

    /// The page of a draft or record.
    pub fn page_url(&self, id: u64) -> String {
        format!("{}/deposit/{id}", self.base)
    }

    /// `POST /api/deposit/depositions` with `{}`.
    pub fn create(&self) -> Result<Deposition, Failure> {
        let request = self
            .client
            .post(format!("{}/api/deposit/depositions", self.base))
            .header(AUTHORIZATION, self.token.bearer())
            .header(CONTENT_TYPE, "application/json")
            .body("{}");
        let (_, body) = http::send(request)?;
        let value: Value = serde_json::from_str(&body).map_err(|e| Failure {
            status: None,
            message: format!("the answer is not JSON: {e}"),
        })?;
        let id = value.get("id").and_then(Value::as_u64);
        let bucket = value.pointer("/links/bucket").and_then(Value::as_str);
        let (Some(id), Some(bucket)) = (id, bucket) else {
            return Err(Failure {
                status: None,
                message: "the answer has no `id` or `links.bucket`".into(),
            });
        };
        Ok(Deposition {
            id,
            bucket: bucket.to_string(),
            html: value
                .pointer("/links/html")
                .and_then(Value::as_str)
                .map_or_else(|| self.page_url(id), str::to_string),
            doi: value
                .pointer("/metadata/prereserve_doi/doi")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `PUT {bucket}/{name}` with the bytes.
    pub fn upload(&self, bucket: &str, name: &str, bytes: Vec<u8>) -> Result<(), Failure> {
        let request = self
            .client
            .put(format!("{}/{name}", bucket.trim_end_matches('/')))
            .header(AUTHORIZATION, self.token.bearer())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        http::send(request).map(drop)
    }

    /// `PUT /api/deposit/depositions/{id}` with `{"metadata": ...}`.
    pub fn set_metadata(&self, id: u64, metadata: &Value) -> Result<(), Failure> {
        let body = serde_json::json!({ "metadata": metadata }).to_string();
        let request = self
            .client
            .put(self.deposition_url(id))
            .header(AUTHORIZATION, self.token.bearer())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        http::send(request).map(drop)
    }

    /// `POST /api/deposit/depositions/{id}/actions/publish`; returns the DOI when Zenodo says.
    pub fn publish(&self, id: u64) -> Result<Option<String>, Failure> {
        let request = self
            .client
            .post(format!("{}/actions/publish", self.deposition_url(id)))
            .header(AUTHORIZATION, self.token.bearer());
        let (_, body) = http::send(request)?;
        Ok(serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("doi").and_then(Value::as_str).map(str::to_string)))
    }

    /// `DELETE /api/deposit/depositions/{id}` (drafts only).
    pub fn delete(&self, id: u64) -> Result<(), Failure> {
        let request = self
            .client
            .delete(self.deposition_url(id))
            .header(AUTHORIZATION, self.token.bearer());
        http::send(request).map(drop)
    }
}
