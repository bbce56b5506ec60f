//! Each sample's noise, from its own seed: the initial noise (the stream the seed starts, as a
//! latent is drawn for one-pass models) and the noise stochastic schedulers add at each step
//! (a second stream per sample, advanced in step order).

use medigan_diffusion::NoiseSource;

use crate::catalog::Distribution;
use crate::generate::SampleRequest;
use crate::sample::SampleRng;

/// Mixed into a sample's seed for the stream of its per-step noise.
const STEP_NOISE_KEY: u64 = 0x5EED_D1FF_0510_0A1E;

/// The initial noise of a batch, `batch * len` values: each sample's given noise (`latent` of
/// its request) or standard normal draws from its seed.
pub fn initial_noise(batch: &[SampleRequest], len: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(batch.len() * len);
    for request in batch {
        match &request.latent {
            Some(given) => values.extend_from_slice(given),
            None => {
                values.extend(SampleRng::new(request.seed).draw(len, Distribution::Normal, None))
            }
        }
    }
    values
}

/// The per-step noise of a batch: one stream per sample.
pub struct StepNoise {
    streams: Vec<SampleRng>,
}

impl StepNoise {
    /// The streams of the samples of `batch`.
    pub fn new(batch: &[SampleRequest]) -> Self {
        StepNoise {
            streams: batch
                .iter()
                .map(|r| SampleRng::new(r.seed ^ STEP_NOISE_KEY))
                .collect(),
        }
    }
}

impl NoiseSource for StepNoise {
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        let len = out.len() / self.streams.len().max(1);
        for (chunk, stream) in out.chunks_mut(len.max(1)).zip(&mut self.streams) {
            chunk.copy_from_slice(&stream.draw(chunk.len(), Distribution::Normal, None));
        }
    }
}
