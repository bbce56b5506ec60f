//! SIGINT and SIGTERM during long work: the first one asks the work to stop between batches
//! (so files, journal and temporary files are left clean and the run can be resumed); a
//! second one ends the process at once (the journal stays usable, as after a kill).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
