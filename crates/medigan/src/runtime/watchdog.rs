//! A time limit and a panic barrier around any [`Session`]: the session lives on a thread of
//! its own, each batch is handed to it, and the caller waits at most the time limit
//! (`MEDIGAN_INFERENCE_TIMEOUT`, see [`crate::limits`]).
//!
//! Neither backend can be stopped from outside in the middle of a graph (tract runs in this
//! process; onnxruntime's `terminate` is not reached by every operator), so a batch that runs
//! past the limit is abandoned: the caller gets [`RuntimeError::InferenceTimeout`] at once, the
//! session is retired (every later call fails the same way), and its thread runs on until the
//! graph ends or the process exits, whichever comes first. A panic inside a backend (tract on
//! an allocation it refuses, for one) becomes [`RuntimeError::BackendPanicked`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use super::error::RuntimeError;
use super::session::{BackendKind, NamedOutput, NamedTensor, Session};

/// The name of the threads that run inference (the CLI's panic hook stays quiet for them: their
/// panics come back as errors).
pub const INFERENCE_THREAD: &str = "medigan-inference";

type Answer = Result<Vec<NamedOutput>, RuntimeError>;

/// A session on its own thread, with a time limit per batch.
pub struct GuardedSession {
    graph: PathBuf,
    backend: BackendKind,
    timeout: Option<Duration>,
    requests: Option<Sender<Vec<NamedTensor>>>,
    answers: Receiver<Answer>,
    /// Set once a batch ran past the limit: the session thread is still busy with it.
    timed_out: Option<u64>,
}

impl GuardedSession {
    /// Moves `session` onto its own thread.
    pub fn new(
        session: Box<dyn Session>,
        graph: PathBuf,
        timeout: Option<Duration>,
    ) -> Result<Self, RuntimeError> {
        let backend = session.backend();
        let (requests, inbox) = channel::<Vec<NamedTensor>>();
        let (outbox, answers) = channel::<Answer>();
        let thread_graph = graph.clone();
        std::thread::Builder::new()
            .name(INFERENCE_THREAD.into())
            .spawn(move || serve(session, &thread_graph, &inbox, &outbox))
            .map_err(|e| RuntimeError::BackendPanicked {
                graph: graph.clone(),
                backend,
                message: format!("cannot start an inference thread: {e}"),
            })?;
        Ok(GuardedSession {
            graph,
            backend,
            timeout,
            requests: Some(requests),
            answers,
            timed_out: None,
        })
    }

    fn timeout_error(&self, seconds: u64) -> RuntimeError {
        RuntimeError::InferenceTimeout {
            graph: self.graph.clone(),
            backend: self.backend,
            seconds,
        }
    }

    fn stopped(&self) -> RuntimeError {
        RuntimeError::BackendPanicked {
            graph: self.graph.clone(),
            backend: self.backend,
            message: "the inference thread stopped".into(),
        }
    }
}

/// The session thread: runs each batch it is sent, until the sender is dropped.
fn serve(
    mut session: Box<dyn Session>,
    graph: &std::path::Path,
    inbox: &Receiver<Vec<NamedTensor>>,
    outbox: &Sender<Answer>,
) {
    let backend = session.backend();
    for inputs in inbox {
        let answer =
            catch_unwind(AssertUnwindSafe(|| session.run(&inputs))).unwrap_or_else(|panic| {
                Err(RuntimeError::BackendPanicked {
                    graph: graph.to_path_buf(),
                    backend,
                    message: panic_message(panic.as_ref()),
                })
            });
        if outbox.send(answer).is_err() {
            break;
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

impl Session for GuardedSession {
    fn run(&mut self, inputs: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError> {
        if let Some(seconds) = self.timed_out {
            return Err(self.timeout_error(seconds));
        }
        let Some(requests) = &self.requests else {
            return Err(self.stopped());
        };
        if requests.send(inputs.to_vec()).is_err() {
            return Err(self.stopped());
        }
        match self.timeout {
            None => self.answers.recv().unwrap_or_else(|_| Err(self.stopped())),
            Some(limit) => match self.answers.recv_timeout(limit) {
                Ok(answer) => answer,
                Err(RecvTimeoutError::Timeout) => {
                    self.timed_out = Some(limit.as_secs());
                    self.requests = None; // the thread ends after its current batch
                    Err(self.timeout_error(limit.as_secs()))
                }
                Err(RecvTimeoutError::Disconnected) => Err(self.stopped()),
            },
        }
    }

    fn backend(&self) -> BackendKind {
        self.backend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session that sleeps, or panics, instead of running a graph.
    struct Fake {
        sleep: Duration,
        panic: bool,
    }

    impl Session for Fake {
        fn run(&mut self, _: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError> {
            std::thread::sleep(self.sleep);
            assert!(!self.panic, "capacity overflow");
            Ok(Vec::new())
        }

        fn backend(&self) -> BackendKind {
            BackendKind::Tract
        }
    }

    fn guarded(sleep_ms: u64, panic: bool, timeout_ms: u64) -> GuardedSession {
        let fake = Fake {
            sleep: Duration::from_millis(sleep_ms),
            panic,
        };
        let timeout = Some(Duration::from_millis(timeout_ms));
        GuardedSession::new(Box::new(fake), "g.onnx".into(), timeout).unwrap()
    }

    #[test]
    fn defect_07_a_batch_past_the_limit_is_an_error_not_a_hang() {
        let mut session = guarded(5_000, false, 50);
        let started = std::time::Instant::now();
        let error = session.run(&[]).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            matches!(error, RuntimeError::InferenceTimeout { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("MEDIGAN_INFERENCE_TIMEOUT"),
            "{error}"
        );
        assert!(session.run(&[]).is_err(), "a timed-out session is retired");
    }

    #[test]
    fn quick_batches_pass_through() {
        let mut session = guarded(0, false, 5_000);
        assert!(session.run(&[]).unwrap().is_empty());
        assert!(session.run(&[]).unwrap().is_empty());
    }

    #[test]
    fn defect_09_a_backend_panic_becomes_an_error() {
        let mut session = guarded(0, true, 5_000);
        let error = session.run(&[]).unwrap_err();
        assert!(error.to_string().contains("capacity overflow"), "{error}");
    }
}
