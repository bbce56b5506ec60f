//! The one HTTP client of the library: timeouts, user agent, the offline rule, and retried
//! requests with exponential backoff. The store's downloads (`store/download.rs`, which adds
//! resume), the catalogue's URL sources and `catalog update`, and the contribution's Zenodo and
//! GitHub calls (`contribute/http.rs`) all build their client here.
//!
//! Only reads are retried ([`Http::retry`], [`Http::get_limited`]): a repeated `POST` could
//! open a second deposition or issue, so the contribution's writes are sent once.

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::Client;

/// Timeouts and retry policy of an [`Http`] client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpConfig {
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for the answer and for each read of the body.
    pub read_timeout: Duration,
    /// Attempts before giving up on retryable failures.
    pub attempts: u32,
    /// Wait after the first failed attempt, doubled after each further one.
    pub backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for HttpConfig {
    /// 10 s to connect, 30 s per read, 4 attempts, 1 s backoff doubling up to 30 s.
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Why no client could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// Offline mode forbids the network.
    #[error(
        "offline mode is on (the offline setting or MEDIGAN_OFFLINE); `{url}` needs the network"
    )]
    Offline {
        /// The URL that was to be fetched.
        url: String,
    },
    /// reqwest could not build a client (e.g. no TLS backend).
    #[error("{}", error_chain(.0))]
    Build(#[source] reqwest::Error),
}

/// The outcome of [`Http::retry`] when it did not succeed.
#[derive(Debug)]
pub(crate) enum Retried<E> {
    /// A failure that another attempt would not mend; returned at once.
    Final(E),
    /// Every attempt failed with a retryable failure; `last` is the last one.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: E,
    },
}

/// A failed [`Http::get_limited`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum GetError {
    /// No client (offline, or none could be built).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The request did not get an answer.
    #[error("{}", error_chain(.0))]
    Network(reqwest::Error),
    /// The server answered with a status other than 2xx.
    #[error("the server answered {0}")]
    Status(reqwest::StatusCode),
    /// The body is larger than the limit.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// Reading the body failed.
    #[error("{}", error_chain(.0))]
    Body(std::io::Error),
}

impl GetError {
    /// Whether another attempt may succeed (timeouts, 5xx, cut connections).
    fn is_retryable(&self) -> bool {
        match self {
            GetError::Network(error) => is_transient(error),
            GetError::Status(status) => status_is_transient(status.as_u16()),
            GetError::Body(_) => true,
            GetError::Client(_) | GetError::TooLarge(_) => false,
        }
    }
}

/// A lazily built blocking client with one configuration and the offline rule.
#[derive(Debug)]
pub(crate) struct Http {
    config: HttpConfig,
    offline: bool,
    client: OnceLock<Client>,
}

impl Http {
    /// A client with `config`; `offline` refuses every request.
    pub fn new(config: HttpConfig, offline: bool) -> Http {
        Http {
            config,
            offline,
            client: OnceLock::new(),
        }
    }

    /// The shared client, built on first use; refused offline.
    pub fn client(&self, url: &str) -> Result<&Client, ClientError> {
        if self.offline {
            return Err(ClientError::Offline {
                url: url.to_owned(),
            });
        }
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = Client::builder()
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.read_timeout)
            .user_agent(concat!("medigan-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Build)?;
        Ok(self.client.get_or_init(|| client))
    }

    /// Runs `attempt` until it succeeds, fails for good (`retryable` says no), or the attempts
    /// run out, sleeping the backoff between attempts. `url` names the request in the log.
    pub fn retry<T, E: std::fmt::Display>(
        &self,
        url: &str,
        retryable: impl Fn(&E) -> bool,
        mut attempt: impl FnMut() -> Result<T, E>,
    ) -> Result<T, Retried<E>> {
        let attempts = self.config.attempts.max(1);
        for number in 1.. {
            let error = match attempt() {
                Ok(value) => return Ok(value),
                Err(e) if !retryable(&e) => return Err(Retried::Final(e)),
                Err(e) => e,
            };
            if number >= attempts {
                return Err(Retried::Exhausted {
                    attempts,
                    last: error,
                });
            }
            let wait = self.backoff(number);
            let what = error.to_string();
            let what = what.lines().next().unwrap_or_default();
            tracing::warn!("{url}: {what}; retrying in {wait:?} (attempt {number} of {attempts})");
            std::thread::sleep(wait);
        }
        unreachable!("the attempts loop returns")
    }

    /// The wait after failed attempt `attempt` (1-based): the base doubled each time, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.config
            .backoff
            .saturating_mul(factor)
            .min(self.config.max_backoff)
    }

    /// `GET url`, retried, whose body (at most `max_bytes`) is returned whole.
    pub fn get_limited(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, Retried<GetError>> {
        self.retry(url, GetError::is_retryable, || {
            self.get_once(url, max_bytes)
        })
    }

    fn get_once(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, GetError> {
        let response = self
            .client(url)?
            .get(url)
            .send()
            .map_err(GetError::Network)?;
        let status = response.status();
        if !status.is_success() {
            return Err(GetError::Status(status));
        }
        if response.content_length().unwrap_or(0) > max_bytes {
            return Err(GetError::TooLarge(max_bytes));
        }
        // The length header may be absent or wrong: read one byte past the limit at most.
        let mut bytes = Vec::new();
        response
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(GetError::Body)?;
        if bytes.len() as u64 > max_bytes {
            return Err(GetError::TooLarge(max_bytes));
        }
        Ok(bytes)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for Retried<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retried::Final(e) => e.fmt(f),
            Retried::Exhausted { attempts, last } => {
                write!(f, "{last} (gave up after {attempts} attempts)")
            }
        }
    }
}

/// Whether a transport error may pass on another attempt: not a bad request or redirect loop,
/// and not a failed name lookup (the resolver has already answered).
pub(crate) fn is_transient(error: &reqwest::Error) -> bool {
    !error.is_builder() && !error.is_redirect() && !is_name_resolution_failure(error)
}

/// Whether an HTTP status may change on another attempt: 5xx, 408 and 429.
pub(crate) fn status_is_transient(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// Whether a transport error is a failed host name lookup.
pub(crate) fn is_name_resolution_failure(error: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = cause {
        let text = current.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        cause = current.source();
    }
    false
}

/// An error and its causes, joined by `: `.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(attempts: u32) -> Http {
        let config = HttpConfig {
            attempts,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..HttpConfig::default()
        };
        Http::new(config, false)
    }

    #[test]
    fn retry_stops_at_success_or_a_final_failure_or_the_last_attempt() {
        let mut calls = 0;
        let ok = fast(4).retry(
            "u",
            |_: &String| true,
            || {
                calls += 1;
                if calls < 3 {
                    Err("busy".to_string())
                } else {
                    Ok(calls)
                }
            },
        );
        assert_eq!(ok.unwrap(), 3);

        let mut calls = 0;
        let bad = fast(4).retry(
            "u",
            |e: &String| e == "busy",
            || {
                calls += 1;
                Err::<(), _>("bad".to_string())
            },
        );
        assert!(matches!(bad, Err(Retried::Final(ref e)) if e == "bad"));
        assert_eq!(calls, 1);

        let mut calls = 0;
        let out = fast(3).retry(
            "u",
            |_: &String| true,
            || {
                calls += 1;
                Err::<(), _>(format!("busy {calls}"))
            },
        );
        let out = out.unwrap_err();
        assert_eq!(out.to_string(), "busy 3 (gave up after 3 attempts)");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let http = Http::new(
            HttpConfig {
                backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(5),
                ..HttpConfig::default()
            },
            false,
        );
        let waits: Vec<u64> = (1..=5).map(|a| http.backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn offline_refuses_a_client() {
        let http = Http::new(HttpConfig::default(), true);
        let err = http.client("https://example.org/x").unwrap_err();
        assert!(matches!(err, ClientError::Offline { .. }));
        assert!(matches!(
            http.get_limited("https://example.org/x", 10),
            Err(Retried::Final(GetError::Client(
                ClientError::Offline { .. }
            )))
        ));
    }
}
