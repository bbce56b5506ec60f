//! The HTTP server of the visualiser: the embedded page, a JSON API, request limits, and
//! newest-request-wins so that frames follow a moving slider without piling up.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/model` | [`ModelInfo`](crate::ModelInfo) |
//! | `POST /api/sample` | a [`SampleQuery`] -> `{image, mask, latent, diffusion, ...}` (PNG data URLs; `diffusion`: the run's choices and its `trajectory` frames); `204` when a newer request superseded it (before it started, or between two diffusion steps) |
//! | `POST /api/save` | a [`SampleQuery`] -> `{files}` written into the save folder |
//!
//! Every request must name this machine's loopback address in `Host` (`127.0.0.1`, `localhost`
//! or `[::1]`, any port: an SSH tunnel may use another), and an `Origin`, when sent, must be the
//! page's own (`http://` + `Host`). So a web page reaching the port through DNS rebinding, or
//! posting from another site, gets `403` and cannot drive `/api/save` (issue #14, defect 6).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use tokio::sync::oneshot;

use medigan::generate::StepWatch;

use crate::VizError;
use crate::view::{RenderedRun, SampleQuery, View};

/// The page, with its script and style inline: nothing is loaded from the network.
const PAGE: &str = include_str!("../assets/index.html");

/// How long open requests may take to finish once the server is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Largest request body: room for an input image, not for abuse.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How to serve.
#[derive(Debug, Clone)]
pub struct VizOptions {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where the Save button writes samples and their latents.
    pub save_dir: PathBuf,
}

/// A running visualiser; stops when [`stop`](RunningViz::stop) is called or it is dropped.
#[derive(Debug)]
pub struct RunningViz {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningViz {
    /// The page's address, e.g. `http://127.0.0.1:8000/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Blocks until the server ends (Ctrl-C).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningViz {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

struct AppState {
    view: View,
    save_dir: PathBuf,
    /// The number of the newest sample request; older ones still waiting are dropped.
    newest: AtomicU64,
}

/// Serves `view` on 127.0.0.1 from a background thread until Ctrl-C or [`RunningViz::stop`].
pub fn start(view: View, options: VizOptions) -> Result<RunningViz, VizError> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
    let serve_error = |cause| VizError::Serve {
        address: address.to_string(),
        cause,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .map_err(serve_error)?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(serve_error)?;
    let url = format!("http://{}/", listener.local_addr().map_err(serve_error)?);
    let state = Arc::new(AppState {
        view,
        save_dir: options.save_dir,
        newest: AtomicU64::new(0),
    });
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime.block_on(serve(listener, state, stopped));
        // Connections still open (a half-sent request) and samples still rendering are
        // dropped, not waited for.
        runtime.shutdown_timeout(Duration::from_millis(100));
    });
    Ok(RunningViz {
        url,
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}

/// Serves until `stopped` or Ctrl-C, then lets open requests finish for at most
/// [`SHUTDOWN_GRACE`]: a graceful shutdown alone waits for every open connection, and a
/// client that sent half a request kept `visualize` running after Ctrl-C (issue 26,
/// finding 9).
async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    stopped: oneshot::Receiver<()>,
) {
    let (asked, stop_asked) = oneshot::channel::<()>();
    let until = async move {
        tokio::select! {
            _ = stopped => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = asked.send(());
    };
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(until);
    let cut_off = async move {
        if stop_asked.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => {
            if let Err(e) = served {
                tracing::error!("visualiser server: {e}");
            }
        }
        () = cut_off => tracing::debug!("visualiser: open connections dropped at shutdown"),
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/model", get(model_info))
        .route("/api/sample", post(sample))
        .route("/api/save", post(save))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(same_origin_only))
        .with_state(state)
}

/// Refuses (403) a request whose `Host` is not a loopback address or whose `Origin` is not the
/// page's own.
async fn same_origin_only(request: Request, next: Next) -> Response {
    match check_host_and_origin(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => error(StatusCode::FORBIDDEN, &reason),
    }
}

/// `Ok` when `Host` names the loopback address and `Origin` (if any) is `http://` + `Host`.
fn check_host_and_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<not text>"))
    };
    let host = text(header::HOST).unwrap_or("");
    if !is_loopback_authority(host) {
        return Err(format!(
            "refused: `Host: {}` is not this machine's loopback address (127.0.0.1, localhost or \
             [::1]); open the address `medigan visualize` printed",
            host.escape_debug()
        ));
    }
    match text(header::ORIGIN) {
        Some(origin) if origin != format!("http://{host}") => Err(format!(
            "refused: a request from `{}`; only the visualiser's own page (http://{host}) may \
             use this API",
            origin.escape_debug()
        )),
        _ => Ok(()),
    }
}

/// Whether `authority` (`host[:port]`) names the loopback interface.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    )
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn model_info(State(state): State<Arc<AppState>>) -> Response {
    Json(state.view.info().clone()).into_response()
}

async fn sample(
    State(state): State<Arc<AppState>>,
    query: Result<Json<SampleQuery>, JsonRejection>,
) -> Response {
    let query = match query {
        Ok(Json(query)) => query,
        Err(rejection) => return rejected(rejection),
    };
    let ticket = state.newest.fetch_add(1, Ordering::SeqCst) + 1;
    let task = tokio::task::spawn_blocking(move || {
        if state.newest.load(Ordering::SeqCst) != ticket {
            return None; // a newer request came in while this one waited
        }
        let start = std::time::Instant::now();
        let watch = NewestOnly {
            state: &state,
            ticket,
        };
        Some(
            state
                .view
                .render_watched(&query, &watch)
                .map(|r| (r, start.elapsed())),
        )
    });
    match task.await {
        Ok(None) | Ok(Some(Err(VizError::Superseded))) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(Ok((rendered, took)))) => Json(json!({
            "image": data_url(&rendered.image_png),
            "mask": rendered.mask_png.as_deref().map(data_url),
            "label": rendered.label,
            "sample_seed": rendered.sample_seed.to_string(),
            "latent": rendered.latent,
            "diffusion": rendered.diffusion.as_ref().map(run_json),
            "milliseconds": took.as_secs_f64() * 1000.0,
        }))
        .into_response(),
        Ok(Some(Err(e))) => failure(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn save(
    State(state): State<Arc<AppState>>,
    query: Result<Json<SampleQuery>, JsonRejection>,
) -> Response {
    let query = match query {
        Ok(Json(query)) => query,
        Err(rejection) => return rejected(rejection),
    };
    let task = tokio::task::spawn_blocking(move || state.view.save(&query, &state.save_dir));
    match task.await {
        Ok(Ok(files)) => Json(json!({ "files": files })).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Stops a diffusion request between steps once a newer request came in.
struct NewestOnly<'a> {
    state: &'a AppState,
    ticket: u64,
}

impl StepWatch for NewestOnly<'_> {
    fn step(&self, _done: usize, _total: usize) {}

    fn should_stop(&self) -> bool {
        self.state.newest.load(Ordering::SeqCst) != self.ticket
    }
}

/// A diffusion run's choices and its trajectory frames (PNG data URLs).
fn run_json(run: &RenderedRun) -> serde_json::Value {
    let mut value = serde_json::to_value(run).unwrap_or_default();
    let frames: Vec<_> = run
        .trajectory
        .iter()
        .map(|frame| {
            json!({
                "step": frame.step,
                "timestep": frame.timestep,
                "source": frame.source,
                "image": data_url(&frame.png),
            })
        })
        .collect();
    value["trajectory"] = json!(frames);
    value
}

fn data_url(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

fn failure(e: &VizError) -> Response {
    let status = match e {
        VizError::BadRequest(_) => StatusCode::BAD_REQUEST,
        VizError::Superseded => StatusCode::NO_CONTENT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.to_string())
}

/// A malformed body: its status (400, 413 for too large, 415 without JSON) and axum's message.
fn rejected(rejection: JsonRejection) -> Response {
    error(rejection.status(), &rejection.body_text())
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn loopback_hosts_and_own_origins_pass() {
        for host in ["127.0.0.1:8000", "localhost:9", "LOCALHOST", "[::1]:8765"] {
            let own = format!("http://{host}");
            let ok = headers(&[(header::HOST, host), (header::ORIGIN, &own)]);
            assert_eq!(check_host_and_origin(&ok), Ok(()), "{host}");
        }
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused() {
        for host in [
            "evil.example:8000",
            "127.0.0.1.evil.example",
            "",
            "localhost:80:1",
        ] {
            let error = check_host_and_origin(&headers(&[(header::HOST, host)])).unwrap_err();
            assert!(error.contains("loopback"), "{host}: {error}");
        }
        let cross = headers(&[
            (header::HOST, "127.0.0.1:8000"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(
            check_host_and_origin(&cross)
                .unwrap_err()
                .contains("evil.example")
        );
    }
}
