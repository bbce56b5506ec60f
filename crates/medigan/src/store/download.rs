//! HTTP(S) download into a `.part` file: timeouts, retries with exponential backoff, and
//! resume of a partial file with a `Range` request.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};

use super::StoreError;
use crate::http::{Http, Retried};
use crate::progress::Progress;

/// Downloads one URL into one partial file.
pub(crate) struct Download<'a> {
    /// The one HTTP client, whose retry policy the download follows.
    pub http: &'a Http,
    pub client: &'a Client,
    pub max_bytes: u64,
    pub url: &'a str,
    pub part: &'a Path,
    pub label: &'a str,
    /// A bearer token sent with the request (Hub links); reqwest drops it on a redirect to
    /// another host (e.g. the Hub's LFS storage).
    pub token: Option<&'a str>,
}

/// Calls `finish` on the progress when dropped, whatever way the attempt ends.
struct Finish<'a>(&'a dyn Progress);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// How the body of one answer is written to the partial file.
struct Body {
    file: File,
    start: u64,
    total: Option<u64>,
}

impl Download<'_> {
    /// Downloads the whole file, retrying retryable failures; a partial file left by an earlier
    /// attempt or process is resumed.
    pub(crate) fn run(&self, progress: &dyn Progress) -> Result<(), StoreError> {
        self.http
            .retry(self.url, StoreError::is_retryable, || {
                self.attempt(progress)
            })
            .map_err(|failed| match failed {
                Retried::Final(error) => error,
                Retried::Exhausted { attempts, last } => StoreError::RetriesExhausted {
                    url: self.url.to_owned(),
                    attempts,
                    source: Box::new(last),
                },
            })
    }

    fn attempt(&self, progress: &dyn Progress) -> Result<(), StoreError> {
        let have = match std::fs::metadata(self.part) {
            Ok(meta) => meta.len(),
            Err(_) => 0,
        };
        let mut request = self.client.get(self.url);
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        if have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let response = request.send().map_err(|error| StoreError::Network {
            url: self.url.to_owned(),
            error,
        })?;
        let Some(body) = self.open_body(&response, have)? else {
            return Ok(()); // the partial file was already complete
        };
        progress.begin(&format!("download {}", self.label), body.total);
        let _finish = Finish(progress);
        progress.advance(body.start);
        self.stream(response, body, progress)
    }

    /// Opens the partial file for this answer: appended to on `206`, truncated on `200`.
    /// `None` means a `416` confirming that the partial file is already whole.
    fn open_body(&self, response: &Response, have: u64) -> Result<Option<Body>, StoreError> {
        let status = response.status();
        let content_range = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        match status {
            StatusCode::OK => {
                let total = response.content_length();
                self.check_limit(total.unwrap_or(0))?;
                let file = File::create(self.part).map_err(StoreError::io("create", self.part))?;
                Ok(Some(Body {
                    file,
                    start: 0,
                    total,
                }))
            }
            StatusCode::PARTIAL_CONTENT if have > 0 => self.resume(have, &content_range).map(Some),
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => self.range_end(have, &content_range),
            _ => Err(StoreError::HttpStatus {
                url: self.url.to_owned(),
                status: status.as_u16(),
            }),
        }
    }

    /// A `206` must continue at byte `have`; otherwise the partial file is dropped.
    fn resume(&self, have: u64, content_range: &str) -> Result<Body, StoreError> {
        let Some((start, total)) = parse_content_range(content_range).filter(|r| r.0 == have)
        else {
            self.discard_part()?;
            return Err(StoreError::BadRange {
                url: self.url.to_owned(),
                asked: have,
                got: content_range.to_owned(),
            });
        };
        self.check_limit(total.unwrap_or(0))?;
        let file = File::options()
            .append(true)
            .open(self.part)
            .map_err(StoreError::io("open", self.part))?;
        tracing::info!("resuming `{}` at byte {start}", self.url);
        Ok(Body { file, start, total })
    }

    /// A `416` with `bytes */N`: whole when N equals the partial size, else start again.
    fn range_end(&self, have: u64, content_range: &str) -> Result<Option<Body>, StoreError> {
        let total = content_range
            .strip_prefix("bytes */")
            .and_then(|t| t.trim().parse::<u64>().ok());
        if total == Some(have) {
            return Ok(None);
        }
        self.discard_part()?;
        Err(StoreError::BadRange {
            url: self.url.to_owned(),
            asked: have,
            got: content_range.to_owned(),
        })
    }

    fn discard_part(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(self.part) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove", self.part)(e)),
        }
    }

    fn check_limit(&self, size: u64) -> Result<(), StoreError> {
        if size > self.max_bytes {
            return Err(StoreError::DownloadTooLarge {
                url: self.url.to_owned(),
                size,
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Copies the body into the partial file, reporting progress; a short or broken body keeps
    /// what arrived (for the next attempt to resume) and is reported as retryable.
    fn stream(
        &self,
        mut response: Response,
        mut body: Body,
        progress: &dyn Progress,
    ) -> Result<(), StoreError> {
        let mut buf = vec![0; 64 * 1024];
        let mut received = body.start;
        loop {
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.flush(&mut body.file)?;
                    return Err(StoreError::Interrupted {
                        url: self.url.to_owned(),
                        received,
                        source,
                    });
                }
            };
            body.file
                .write_all(&buf[..n])
                .map_err(StoreError::io("write", self.part))?;
            received = received.saturating_add(n as u64);
            self.check_limit(received)?;
            progress.advance(n as u64);
        }
        self.flush(&mut body.file)?;
        match body.total {
            Some(expected) if received < expected => Err(StoreError::Truncated {
                url: self.url.to_owned(),
                received,
                expected,
            }),
            _ => Ok(()),
        }
    }

    fn flush(&self, file: &mut File) -> Result<(), StoreError> {
        file.flush()
            .and_then(|()| file.sync_data())
            .map_err(StoreError::io("write", self.part))
    }
}

/// `bytes START-END/TOTAL` (or `/*`) as (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_range_is_parsed() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
