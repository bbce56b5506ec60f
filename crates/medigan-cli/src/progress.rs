//! Progress bars on stderr (indicatif), hidden when stderr is not a terminal or with `-q`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use medigan::progress::Progress;

use crate::signals::Interrupt;

/// A [`Progress`] drawn as an indicatif bar; cancelled when its [`Interrupt`] saw a signal.
pub struct Bar {
    bar: ProgressBar,
    interrupt: Option<Interrupt>,
}

impl Bar {
    /// A bar on stderr, hidden when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::hidden();
        if !quiet {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bar {
            bar,
            interrupt: None,
        }
    }

    /// The same bar, reporting a SIGINT or SIGTERM as a cancellation (long work then stops
    /// between batches, and so [cooperates](Interrupt::cooperate)).
    pub fn interruptible(mut self, interrupt: &Interrupt) -> Self {
        interrupt.cooperate();
        self.interrupt = Some(interrupt.clone());
        self
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, total: Option<u64>) {
        let template = if what.starts_with("download") {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_position(0);
        self.bar.set_message(what.to_string());
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn step(&self, done: usize, total: usize) {
        if total > 1 {
            let what = self.bar.message();
            let base = what.split(" (step ").next().unwrap_or_default().to_string();
            self.bar
                .set_message(format!("{base} (step {done}/{total})"));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|interrupt| interrupt.signal().is_some())
    }
}
