//! Progress reporting for long work (downloads, generation), decoupled from any terminal.
//!
//! The library reports through [`Progress`]; the CLI draws it with `indicatif`, the Python
//! bindings ignore it, and [`NoProgress`] discards it.

/// Receives progress of one long task.
pub trait Progress: Send + Sync {
    /// A task starts: `what` describes it, `total` is the number of units if known.
    fn begin(&self, what: &str, total: Option<u64>);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The task ended (successfully or not).
    fn finish(&self);
    /// Whether the user asked to stop (Ctrl-C in the Python bindings). Long work checks it
    /// between batches and stops with [`crate::generate::GenerateError::Cancelled`]; the
    /// default never cancels.
    fn is_cancelled(&self) -> bool {
        false
    }
    /// Step `done` of `total` of the batch being generated finished (diffusion models take
    /// many denoiser steps per batch); shown beside the sample count. Default: nothing.
    fn step(&self, done: usize, total: usize) {
        let _ = (done, total);
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _what: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}
