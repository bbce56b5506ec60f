//! Long calls without the GIL that Ctrl-C can stop.
//!
//! The work runs on its own thread; the calling thread waits for it without the GIL and checks
//! for signals every [`POLL`]. On a signal (`KeyboardInterrupt`) it raises the cancel flag, which
//! the work checks between batches ([`medigan::progress::Progress::is_cancelled`]), waits for
//! the work to stop, and raises the signal's exception.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use medigan::progress::Progress;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How often the waiting thread checks for signals.
const POLL: Duration = Duration::from_millis(50);

/// Runs `work` on another thread with the GIL released; Ctrl-C sets the flag it is given.
pub fn run_interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&AtomicBool) -> T + Send,
{
    let cancel = AtomicBool::new(false);
    let (tx, rx) = channel::<T>();
    let rx = Mutex::new(rx);
    std::thread::scope(|scope| {
        let cancel = &cancel;
        scope.spawn(move || {
            let _ = tx.send(work(cancel));
        });
        loop {
            let received = py.detach(|| match rx.lock() {
                Ok(rx) => rx.recv_timeout(POLL),
                Err(_) => Err(RecvTimeoutError::Disconnected),
            });
            match received {
                Ok(value) => return Ok(value),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err(
                        "the medigan worker thread stopped unexpectedly (a bug; please report it)",
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Err(signal) = py.check_signals() {
                cancel.store(true, Ordering::Relaxed);
                // The work stops at its next batch boundary; the scope joins it.
                py.detach(|| {
                    if let Ok(rx) = rx.lock() {
                        let _ = rx.recv();
                    }
                });
                return Err(signal);
            }
        }
    })
}

/// A [`Progress`] that shows nothing and reports the cancel flag.
pub struct Cancellable<'a>(pub &'a AtomicBool);

impl Progress for Cancellable<'_> {
    fn begin(&self, _what: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
