//! A small HTTP/1.1 server on `127.0.0.1` for tests: static routes, `Range` requests, injected
//! failures (error statuses, truncated bodies, delays) and a log of every request.
//!
//! It speaks just enough HTTP/1.1 over `std::net` and answers every request with
//! `Connection: close`. It is not built on `tiny_http` on purpose: `tiny_http` keeps a socket open
//! for the next request whatever the response says, so it cannot send a body shorter than its
//! `Content-Length` and then hang up, which is exactly the failure a download test needs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head (request line and headers) the server reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body the server reads.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// What the server answers on one method and path, and which failures it injects first.
///
/// Requests to a route are counted: the first [`failing_first`](Route::failing_first) requests
/// get the failure status, the next [`truncated_first`](Route::truncated_first) requests get a
/// cut body, and every later request gets the full response.
#[derive(Debug, Clone)]
pub struct Route {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ranges: bool,
    fail_first: u32,
    fail_status: u16,
    truncate_first: u32,
    truncate_keep: usize,
    delay: Duration,
}

impl Route {
    /// A `200 OK` route with this body; `Range: bytes=N-` requests are answered with `206`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            ranges: true,
            fail_first: 0,
            fail_status: 500,
            truncate_first: 0,
            truncate_keep: 0,
            delay: Duration::ZERO,
        }
    }

    /// A route that always answers `status` with an empty body (e.g. `404`, `500`).
    pub fn status(status: u16) -> Route {
        Route::ok(Vec::new()).with_status(status)
    }

    /// Answers with `status` instead of `200` (ranges are only served for `200` routes).
    pub fn with_status(mut self, status: u16) -> Route {
        self.status = status;
        self
    }

    /// Adds a response header; a `Content-Length` given here replaces the computed one.
    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Ignores `Range` headers: always answers the whole body with `200`.
    pub fn without_ranges(mut self) -> Route {
        self.ranges = false;
        self
    }

    /// The first `n` requests get `status` (e.g. `500`) with a short body.
    pub fn failing_first(mut self, n: u32, status: u16) -> Route {
        self.fail_first = n;
        self.fail_status = status;
        self
    }

    /// After the injected failures, the next `n` requests announce the full `Content-Length` but
    /// send only the first `keep` bytes of their body, then close the connection.
    pub fn truncated_first(mut self, n: u32, keep: usize) -> Route {
        self.truncate_first = n;
        self.truncate_keep = keep;
        self
    }

    /// Waits `delay` before answering each request.
    pub fn delayed(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent, query string included, e.g. `/pkg.zip?x=1`.
    pub path: String,
    /// The headers in the order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` or chunked), empty when there was none.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }
}

#[derive(Debug)]
struct RouteState {
    route: Route,
    served: u32,
}

#[derive(Debug, Default)]
struct Shared {
    routes: Mutex<HashMap<(String, String), RouteState>>,
    log: Mutex<Vec<RecordedRequest>>,
    stop: AtomicBool,
}

/// A test HTTP server on `127.0.0.1` with a random port, served from a background thread and
/// stopped when dropped (the port then refuses connections).
///
/// ```no_run
/// use medigan_testkit::{Route, TestServer};
/// let server = TestServer::start();
/// server.route("GET", "/model.zip", Route::ok(b"zip bytes".to_vec()).failing_first(2, 500));
/// let url = server.url("/model.zip");
/// // ... download `url`, then:
/// assert_eq!(server.requests_to("/model.zip").len(), 3);
/// ```
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and starts serving. Panics when no port can be bound (a test setup
    /// failure, not a result to handle).
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("test server: local address");
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || accept_loop(&listener, &accept_shared));
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` on this server, e.g. `http://127.0.0.1:41234/model.zip`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Registers (or replaces) the answer to `method` on `path` (matched without query string);
    /// its request counter starts again from zero. Unregistered paths answer `404`.
    pub fn route(&self, method: &str, path: &str, route: Route) {
        let key = (method.to_ascii_uppercase(), path.to_owned());
        lock(&self.shared.routes).insert(key, RouteState { route, served: 0 });
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// The requests received for `path` (compared without query string), oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.path_only() == path)
            .cloned()
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        std::thread::spawn(move || serve_connection(stream, &shared));
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some(request) = read_request(&mut reader) else {
        let _ = write_head(&stream, 400, &[], 0);
        return;
    };
    lock(&shared.log).push(request.clone());
    let planned = plan(shared, &request);
    if !planned.delay.is_zero() {
        std::thread::sleep(planned.delay);
    }
    let _ = send(&stream, &request, &planned);
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_request(reader: &mut impl BufRead) -> Option<RecordedRequest> {
    let mut head_bytes = 0;
    let request_line = read_line(reader, &mut head_bytes)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut head_bytes)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = RecordedRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    request.body = read_body(reader, &request)?;
    Some(request)
}

fn read_line(reader: &mut impl BufRead, total: &mut usize) -> Option<String> {
    let mut line = Vec::new();
    let limit = MAX_HEAD_BYTES.saturating_sub(*total) as u64;
    let n = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', &mut line)
        .ok()?;
    *total += n;
    if n == 0 || line.last() != Some(&b'\n') {
        return None;
    }
    let text = String::from_utf8(line).ok()?;
    Some(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_body(reader: &mut impl BufRead, request: &RecordedRequest) -> Option<Vec<u8>> {
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(reader);
    }
    let length: usize = match request.header("content-length") {
        Some(v) => v.parse().ok()?,
        None => 0,
    };
    if length > MAX_BODY_BYTES {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut ignored = 0;
        let size_line = read_line(reader, &mut ignored)?;
        let size_hex = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader, &mut ignored)?.is_empty() {}
            return Some(body);
        }
        if body.len().checked_add(size)? > MAX_BODY_BYTES {
            return None;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        read_line(reader, &mut ignored)?;
    }
}

/// The answer chosen for one request.
struct Planned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep: Option<usize>,
    delay: Duration,
}

fn plan(shared: &Shared, request: &RecordedRequest) -> Planned {
    let key = (
        request.method.to_ascii_uppercase(),
        request.path_only().to_owned(),
    );
    let mut routes = lock(&shared.routes);
    let Some(state) = routes.get_mut(&key) else {
        return simple(404, b"no route".to_vec());
    };
    let n = state.served;
    state.served = state.served.saturating_add(1);
    let route = &state.route;
    let mut planned = if n < route.fail_first {
        simple(route.fail_status, b"injected failure".to_vec())
    } else {
        answer(route, request)
    };
    if n >= route.fail_first && n - route.fail_first < route.truncate_first {
        planned.keep = Some(route.truncate_keep);
    }
    planned.delay = route.delay;
    planned
}

fn simple(status: u16, body: Vec<u8>) -> Planned {
    Planned {
        status,
        headers: Vec::new(),
        body,
        keep: None,
        delay: Duration::ZERO,
    }
}

/// The full answer of `route`, honouring a `Range: bytes=N-` or `bytes=N-M` request.
fn answer(route: &Route, request: &RecordedRequest) -> Planned {
    let mut planned = simple(route.status, route.body.clone());
    planned.headers.clone_from(&route.headers);
    if !route.ranges || route.status != 200 {
        return planned;
    }
    planned
        .headers
        .push(("Accept-Ranges".to_owned(), "bytes".to_owned()));
    let len = route.body.len();
    let Some((start, end)) = request.header("range").and_then(|r| parse_range(r, len)) else {
        return planned;
    };
    if start >= len {
        planned.status = 416;
        planned.body = Vec::new();
        planned
            .headers
            .push(("Content-Range".to_owned(), format!("bytes */{len}")));
        return planned;
    }
    planned.status = 206;
    planned.body = route.body[start..=end].to_vec();
    planned.headers.push((
        "Content-Range".to_owned(),
        format!("bytes {start}-{end}/{len}"),
    ));
    planned
}

/// `bytes=N-` or `bytes=N-M` as an inclusive range clamped to `len` (start may be past the end).
fn parse_range(header: &str, len: usize) -> Option<(usize, usize)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start: usize = start.trim().parse().ok()?;
    let last = len.saturating_sub(1);
    let end = match end.trim() {
        "" => last,
        e => e.parse::<usize>().ok()?.min(last),
    };
    if start < len && end < start {
        return None;
    }
    Some((start, end))
}

fn send(
    mut stream: &TcpStream,
    request: &RecordedRequest,
    planned: &Planned,
) -> std::io::Result<()> {
    write_head(stream, planned.status, &planned.headers, planned.body.len())?;
    if request.method.eq_ignore_ascii_case("HEAD") {
        return stream.flush();
    }
    let keep = planned.keep.unwrap_or(usize::MAX).min(planned.body.len());
    stream.write_all(&planned.body[..keep])?;
    stream.flush()
}

fn write_head(
    mut stream: &TcpStream,
    status: u16,
    headers: &[(String, String)],
    length: usize,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_parsed_and_clamped() {
        assert_eq!(parse_range("bytes=10-", 100), Some((10, 99)));
        assert_eq!(parse_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(parse_range("bytes=90-500", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), Some((100, 99)));
        assert_eq!(parse_range("bytes=20-10", 100), None);
        assert_eq!(parse_range("lines=1-", 100), None);
    }
}
