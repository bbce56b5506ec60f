//! Errors of a generation run.

use std::path::PathBuf;

use crate::output::OutputError;
use crate::runtime::RuntimeError;

/// Errors of generation.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// `--label` names no class of the model.
    #[error("unknown label `{label}` for model `{model}`; its classes are: {}", classes.join(", "))]
    UnknownLabel {
        /// The model.
        model: String,
        /// What was asked for.
        label: String,
        /// The model's classes.
        classes: Vec<String>,
    },
    /// `--label` given for a model without classes.
    #[error("model `{model}` is not conditional: it takes no label (got `{label}`)")]
    NotConditional {
        /// The model.
        model: String,
        /// The label given.
        label: String,
    },
    /// An image-to-image model got no input image.
    #[error(
        "model `{model}` translates images: give input images with --input PATH (files or folders)"
    )]
    MissingInput {
        /// The model.
        model: String,
    },
    /// Input images given to a model that takes none.
    #[error("model `{model}` takes no input images")]
    UnexpectedInput {
        /// The model.
        model: String,
    },
    /// An input image could not be used.
    #[error("cannot use input image `{}`: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A malformed `--shard`.
    #[error("invalid shard `{value}`: expected K/N with 1 <= K <= N, e.g. 1/4")]
    BadShard {
        /// What was given.
        value: String,
    },
    /// `--shard auto` found no usable shard in the scheduler's environment.
    #[error("--shard auto: {reason}")]
    ShardEnvironment {
        /// What was found (or not).
        reason: String,
        /// What to do instead.
        hint: String,
    },
    /// A malformed request value.
    #[error("invalid {what}: {reason}")]
    BadRequest {
        /// Which value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// `--set` options given to a native model.
    #[error(
        "model `{model}` takes no option `{key}`: native models are steered by --seed, --label and --input"
    )]
    UnknownOption {
        /// The model.
        model: String,
        /// The option.
        key: String,
    },
    /// The graph gave something other than its declaration.
    #[error(
        "model `{model}`: output `{output}` has shape {got:?}, but {expected:?} per sample was declared"
    )]
    OutputShape {
        /// The model.
        model: String,
        /// The output.
        output: String,
        /// Its shape.
        got: Vec<usize>,
        /// The declared per-sample shape.
        expected: Vec<usize>,
    },
    /// Samples asked for in memory would not fit (see [`crate::limits::max_in_memory_bytes`]).
    #[error(
        "{samples} samples of `{model}` would need {bytes} bytes of memory, more than the {limit} \
         that may be used (MEDIGAN_MAX_IN_MEMORY_BYTES, default: the memory available)"
    )]
    TooLargeForMemory {
        /// The model.
        model: String,
        /// Samples asked for.
        samples: u64,
        /// Bytes they would need.
        bytes: u64,
        /// Bytes allowed.
        limit: u64,
    },
    /// One declared sample is larger than allowed (see [`crate::limits::max_sample_bytes`]).
    #[error(
        "one sample of `{model}` declares {bytes} bytes, more than the {limit} allowed per sample \
         (MEDIGAN_MAX_SAMPLE_BYTES)"
    )]
    SampleTooLarge {
        /// The model.
        model: String,
        /// Bytes one sample declares (image and mask, float32).
        bytes: u64,
        /// Bytes allowed.
        limit: u64,
    },
    /// The output directory cannot be used.
    #[error("output directory `{}` is not writable: {cause}", path.display())]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Running the model failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Writing a sample failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A package in the original medigan format failed (see [`crate::legacy`]).
    #[error(transparent)]
    Legacy(Box<crate::legacy::LegacyError>),
    /// A worker thread panicked (a bug).
    #[error("a generation worker stopped unexpectedly: {0}")]
    Worker(String),
    /// The run was stopped by the caller ([`crate::progress::Progress::is_cancelled`]).
    #[error("generation cancelled")]
    Cancelled,
}

impl GenerateError {
    /// A line telling the user what to do next, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            GenerateError::Runtime(e) => e.hint(),
            GenerateError::Legacy(e) => e.hint(),
            GenerateError::ShardEnvironment { hint, .. } => Some(hint.clone()),
            GenerateError::TooLargeForMemory { .. } => Some(
                "write them to a folder (`save_images=True`, `medigan generate -o DIR`) or \
                 stream them (`Generators::stream`, the torch DataLoader)"
                    .into(),
            ),
            _ => None,
        }
    }
}
