//! SIGINT and SIGTERM during long work: the first one asks the work to stop between batches
//! (so files, journal and temporary files are left clean and the run can be resumed); a
//! second one ends the process at once (the journal stays usable, as after a kill).
//!
//! The first one always stops the process within [`GRACE`]: when the work is in the middle of
//! something that does not look at the flag (a download, a long batch, a blocked open, a wait
//! on a child), a watchdog ends the process then, as a second signal would (issue 26, finding
//! 8). Children started through `medigan::child` die with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How long the work has to stop by itself after the first signal.
pub const GRACE: Duration = Duration::from_millis(1500);

/// Which signal arrived, once installed.
#[derive(Debug, Clone)]
pub struct Interrupt {
    which: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Installs the handlers for SIGINT and SIGTERM (elsewhere than Unix: none).
    pub fn install() -> anyhow::Result<Interrupt> {
        let which = Arc::new(AtomicUsize::new(0));
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            use signal_hook::flag;
            let stopping = Arc::new(AtomicBool::new(false));
            for number in [SIGINT, SIGTERM] {
                let failed =
                    |e| anyhow::anyhow!("cannot install a handler for signal {number}: {e}");
                // Handlers run in the order they are registered: this one sees `stopping` as
                // it was before this signal, so only a second signal exits (128 + number).
                flag::register_conditional_shutdown(number, 128 + number, Arc::clone(&stopping))
                    .map_err(failed)?;
                flag::register(number, Arc::clone(&stopping)).map_err(failed)?;
                flag::register_usize(number, Arc::clone(&which), number as usize)
                    .map_err(failed)?;
            }
            let watched = Arc::clone(&which);
            std::thread::Builder::new()
                .name("signal-watchdog".into())
                .spawn(move || watchdog(&watched))
                .map_err(|e| anyhow::anyhow!("cannot start the signal watchdog: {e}"))?;
        }
        #[cfg(not(unix))]
        let _ = (AtomicBool::new(false), Ordering::SeqCst);
        Ok(Interrupt { which })
    }

    /// The signal that asked to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.which.load(Ordering::SeqCst) {
            0 => None,
            number => i32::try_from(number).ok(),
        }
    }
}

/// Waits for the first signal, then gives the work [`GRACE`] to stop by itself before ending
/// the process with 128 + the signal's number.
#[cfg(unix)]
fn watchdog(which: &AtomicUsize) {
    let number = loop {
        match which.load(Ordering::SeqCst) {
            0 => std::thread::sleep(Duration::from_millis(50)),
            number => break number,
        }
    };
    std::thread::sleep(GRACE);
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "stopping now (signal {number}): the work did not reach a point where it could stop \
         cleanly within {} s; a run into a folder continues with `--resume`",
        GRACE.as_secs_f32()
    );
    std::process::exit(128 + i32::try_from(number).unwrap_or(0));
}
