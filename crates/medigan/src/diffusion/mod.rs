//! The sampler of diffusion packages: a denoiser graph run step by step over a scheduler of
//! [`medigan_diffusion`], with classifier-free guidance and an optional latent decoder.
//!
//! | file | job |
//! |---|---|
//! | `setup` | a package's diffusion declaration made ready: scheduler config read, the graphs' port declarations ([`DiffusionSetup`]); a run's choices checked ([`DiffusionRun`]) |
//! | `noise` | the initial noise and the per-step noise of each sample, from its own seed |
//! | `sampler` | [`DiffusionGenerator`]: one batch from noise to samples |
//! | `sliding_window` | a latent decoded in overlapping windows blended as MONAI's `SlidingWindowInferer` does ([`WindowPlan`]) |
//! | `trajectory` | one sample with its predicted clean image at chosen steps ([`Trajectory`]); the schedulers a package can take ([`SchedulerChoice`]) |
//!
//! A sample is a pure function of (package, seed, index, steps, scheduler, guidance): its noise
//! comes from its own seed, every scheduler rule is elementwise, and guidance pairs each sample
//! with its own unconditional half, so batch, shard, threads and resume change nothing.

mod noise;
mod sampler;
mod setup;
pub mod sliding_window;
mod trajectory;

pub use medigan_diffusion::{Scheduler, SchedulerConfig, SchedulerError, make_scheduler};
pub use sampler::DiffusionGenerator;
pub use setup::{DiffusionRun, DiffusionSetup, PromptEmbeddings};
pub use sliding_window::WindowPlan;
pub use trajectory::{SchedulerChoice, Trajectory, TrajectoryFrame, X0Source, evenly_spaced};
