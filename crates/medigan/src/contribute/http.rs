//! The HTTP pieces shared by the Zenodo and GitHub clients: a token that never prints, the
//! library's one client (`crate::http`: user agent, offline rule) with upload-sized timeouts,
//! and a failed request in words. Requests are sent once: they change state at the service.

use std::fmt;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};

use crate::http::{Http, HttpConfig};

/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a request may take (uploads of large packages included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How much of an error body is quoted in a message.
const QUOTED_BODY: usize = 300;

/// An API token. Its `Debug` form is `Token(***)`, and nothing in this crate prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token; `None` when it is empty or blank.
    pub fn new(token: impl Into<String>) -> Option<Token> {
        let token = token.into().trim().to_string();
        (!token.is_empty()).then_some(Token(token))
    }

    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A request that did not succeed: the status when there was an answer, and what was said.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: Option<u16>,
    pub message: String,
}

impl Failure {
    /// `HTTP 500: message` or the network error.
    pub fn reason(&self) -> String {
        match self.status {
            Some(status) if self.message.is_empty() => format!("HTTP {status}"),
            Some(status) => format!("HTTP {status}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// Whether the token was refused.
    pub fn refused(&self) -> Option<u16> {
        self.status.filter(|s| matches!(s, 401 | 403))
    }
}

/// A client for the service at `base`; refused when `offline`.
pub(crate) fn client(base: &str, offline: bool) -> Result<Client, String> {
    let config = HttpConfig {
        connect_timeout: CONNECT_TIMEOUT,
        read_timeout: REQUEST_TIMEOUT,
        ..HttpConfig::default()
    };
    Http::new(config, offline)
        .client(base)
        .cloned()
        .map_err(|e| e.to_string())
}

/// Sends a request; a non-2xx answer is a [`Failure`] quoting the service's message.
pub(crate) fn send(request: RequestBuilder) -> Result<(u16, String), Failure> {
    let response = request.send().map_err(|e| Failure {
        status: None,
        message: without_url(&e),
    })?;
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    if (200..300).contains(&status) {
        Ok((status, body))
    } else {
        Err(Failure {
            status: Some(status),
            message: service_message(&body),
        })
    }
}

/// The `message` of a JSON error body, else the start of the body.
fn service_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let mut quoted: String = text.chars().take(QUOTED_BODY).collect();
    if quoted.len() < text.len() {
        quoted.push_str("...");
    }
    quoted
}

fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", crate::http::error_chain(error))
}
