//! SIGINT and SIGTERM, for every command: installed once by `main` before any command runs.
//!
//! Work that looks at the flag (`generate`'s batch loop, through [`Interrupt::cooperate`]) is
//! asked to stop between batches (so files, journal and temporary files are left clean and the
//! run can be resumed), and has [`GRACE`] to do so; any other command (a download, `fid` over
//! a folder, a wait on pip or the export script, `visualize` serving) is ended at once by the
//! watchdog. Either way the first signal stops the process within [`GRACE`] (issue 26,
//! findings 8 and 9), with 128 + the signal's number; a second one ends it at once (the
//! journal stays usable, as after a kill). Before the watchdog ends the process it kills the
//! process groups of the children started through `medigan::child` (pip, the bridge, the
//! export script and whatever they forked); a child left after a second signal or a SIGKILL
//! gets SIGKILL from the kernel (`PR_SET_PDEATHSIG`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long the work has to stop by itself after the first signal.
pub const GRACE: Duration = Duration::from_millis(1500);

/// Which signal arrived, once installed.
#[derive(Debug, Clone)]
pub struct Interrupt {
    which: Arc<AtomicUsize>,
    /// Whether the work looks at [`Interrupt::signal`] (then it has [`GRACE`] to stop).
    cooperative: Arc<AtomicBool>,
}

/// The process's one [`Interrupt`].
static INSTALLED: OnceLock<Interrupt> = OnceLock::new();

impl Interrupt {
    /// The process's handlers for SIGINT and SIGTERM, installed by the first call (elsewhere
    /// than Unix: none); later calls return the same [`Interrupt`].
    pub fn install() -> anyhow::Result<Interrupt> {
        if let Some(installed) = INSTALLED.get() {
            return Ok(installed.clone());
        }
        let interrupt = Interrupt::start()?;
        Ok(INSTALLED.get_or_init(|| interrupt).clone())
    }

    /// Says that the work now looks at [`Interrupt::signal`] and stops by itself: the first
    /// signal then gives it [`GRACE`] instead of ending the process at once.
    pub fn cooperate(&self) {
        self.cooperative.store(true, Ordering::SeqCst);
    }

    fn start() -> anyhow::Result<Interrupt> {
        let which = Arc::new(AtomicUsize::new(0));
        let cooperative = Arc::new(AtomicBool::new(false));
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
            let waits = Arc::clone(&cooperative);
            std::thread::Builder::new()
                .name("signal-watchdog".into())
                .spawn(move || watchdog(&watched, &waits))
                .map_err(|e| anyhow::anyhow!("cannot start the signal watchdog: {e}"))?;
        }
        #[cfg(not(unix))]
        let _ = (AtomicBool::new(false), Ordering::SeqCst);
        Ok(Interrupt { which, cooperative })
    }

    /// The signal that asked to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.which.load(Ordering::SeqCst) {
            0 => None,
            number => i32::try_from(number).ok(),
        }
    }
}

/// Waits for the first signal; ends the process with 128 + the signal's number at once when
/// the work does not cooperate, else after [`GRACE`] if it has not stopped by itself. The
/// process groups of contained children are killed first.
#[cfg(unix)]
fn watchdog(which: &AtomicUsize, cooperative: &AtomicBool) {
    let number = loop {
        match which.load(Ordering::SeqCst) {
            0 => std::thread::sleep(Duration::from_millis(50)),
            number => break number,
        }
    };
    let waited = cooperative.load(Ordering::SeqCst);
    if waited {
        std::thread::sleep(GRACE);
    }
    medigan::child::kill_all_groups();
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = if waited {
        writeln!(
            err,
            "stopping now (signal {number}): the work did not reach a point where it could \
             stop cleanly within {} s; a run into a folder continues with `--resume`",
            GRACE.as_secs_f32()
        )
    } else {
        writeln!(err, "stopped by signal {number}")
    };
    drop(err);
    std::process::exit(128 + i32::try_from(number).unwrap_or(0));
}
