//! The model visualiser (paper, section 3.6): a local web page with one slider per group of
//! latent dimensions, a Seed and a Reset button, a class selector, an input image picker, and
//! the image shown beside its mask; for a diffusion model, steps, scheduler and guidance instead
//! of sliders, and the denoising trajectory (the predicted clean image at evenly spaced steps)
//! under the image. It serves on `127.0.0.1` only, so that on a remote GPU
//! server it is reached through an SSH tunnel; its page and script are embedded in the binary
//! and load nothing from the network.
//!
//! | module | job |
//! |---|---|
//! | `view` | one model opened for exploration: latents from seed and sliders, samples, PNGs |
//! | `server` | the HTTP server: routes, request limits, newest-request-wins ([`start`]) |
//! | `error` | [`VizError`] |

mod error;
mod server;
mod view;

pub use error::VizError;
pub use server::{RunningViz, VizOptions, start};
pub use view::{
    DEFAULT_TRAJECTORY_FRAMES, DiffusionInfo, MAX_TRAJECTORY_FRAMES, ModelInfo, Rendered,
    RenderedFrame, RenderedRun, SampleQuery, View,
};
