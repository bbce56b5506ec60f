//! A streaming iterator over a run's samples, one batch at a time (for training loops).

use std::collections::VecDeque;
use std::ops::Range;

use super::{GenerateError, Generator, SampleRequest};
use crate::sample::Sample;

/// The samples of a run made in memory ([`crate::Generators::generate_samples`]) with what
/// the run had to tell the user (how its session was opened, NaN values seen, a package
/// ignoring the latent, ...), each note once.
#[derive(Debug)]
pub struct GeneratedSamples {
    /// The samples, in the order of their indices.
    pub samples: Vec<crate::sample::Sample>,
    /// The run's notes.
    pub notes: Vec<String>,
}

/// Yields the samples of a run in index order, generating a batch whenever its buffer is empty;
/// memory holds one batch at most.
pub struct SampleStream<'a> {
    generator: Box<dyn Generator + 'a>,
    make_request: Box<dyn Fn(u64) -> SampleRequest + 'a>,
    indices: Range<u64>,
    batch_size: usize,
    buffer: VecDeque<Sample>,
    failed: bool,
}

impl<'a> SampleStream<'a> {
    /// A stream over `indices`, with `make_request` giving each sample's request.
    pub fn new(
        generator: Box<dyn Generator + 'a>,
        make_request: Box<dyn Fn(u64) -> SampleRequest + 'a>,
        indices: Range<u64>,
        batch_size: usize,
    ) -> Self {
        SampleStream {
            generator,
            make_request,
            indices,
            batch_size: batch_size.max(1),
            buffer: VecDeque::new(),
            failed: false,
        }
    }

    /// What the generator has to tell the user so far (how its session was opened, NaN
    /// values seen, ...), each note once (see [`super::Generator::take_notes`]).
    pub fn take_notes(&mut self) -> Vec<String> {
        self.generator.take_notes()
    }

    fn refill(&mut self) -> Result<(), GenerateError> {
        let end = self
            .indices
            .end
            .min(self.indices.start + self.batch_size as u64);
        let batch: Vec<SampleRequest> = (self.indices.start..end)
            .map(|i| (self.make_request)(i))
            .collect();
        self.indices.start = end;
        self.buffer.extend(self.generator.generate(&batch)?);
        Ok(())
    }
}

impl Iterator for SampleStream<'_> {
    type Item = Result<Sample, GenerateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.buffer.is_empty()
            && !self.indices.is_empty()
            && let Err(error) = self.refill()
        {
            self.failed = true;
            return Some(Err(error));
        }
        self.buffer.pop_front().map(Ok)
    }
}
