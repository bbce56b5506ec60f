//! Errors of a generation run.

use crate::error::{Advice, Hint, OptionName};
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
    #[error("{}", Hint::message(self).unwrap_or_default())]
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
    /// A malformed `--shard` (a [`crate::sample::BadShard`]).
    #[error(
        "invalid shard `{value}`: expected K/N with 1 <= K <= N <= {}, e.g. 1/4",
        super::shard_env::MAX_SHARDS
    )]
    BadShard {
        /// What was given.
        value: String,
    },
    /// The shard `auto` found no usable shard in the scheduler's environment.
    #[error("{}", Hint::message(self).unwrap_or_default())]
    ShardEnvironment {
        /// What was found (or not).
        reason: Advice,
        /// What to do instead.
        hint: Advice,
    },
    /// A number of shards given without the shard `auto` (with a shard K/N, which already
    /// says N, or with no shard at all).
    #[error("{}", Hint::message(self).unwrap_or_default())]
    ShardsWithoutAuto {
        /// The number of shards given.
        shards: u64,
        /// The shard given as K/N, if any.
        shard: Option<super::Shard>,
    },
    /// A diffusion run's choice that the model cannot take (steps, scheduler, guidance, noise).
    #[error("{}", Hint::message(self).unwrap_or_default())]
    Diffusion {
        /// The model.
        model: String,
        /// Which choice (steps, scheduler, guidance, initial noise; two where either may be
        /// the cause).
        what: &'static [OptionName],
        /// Why, and what would be right.
        reason: String,
    },
    /// A diffusion package that cannot be sampled as declared.
    #[error("diffusion package `{model}`: {reason}")]
    DiffusionPackage {
        /// The model.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// A malformed request value.
    #[error("invalid {what}: {reason}")]
    BadRequest {
        /// Which value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A request value that cannot be used, named as an option of the request.
    #[error("{}", Hint::message(self).unwrap_or_default())]
    BadOption {
        /// The option.
        option: OptionName,
        /// Why.
        reason: Advice,
    },
    /// `--set` options given to a native model.
    #[error("{}", Hint::message(self).unwrap_or_default())]
    UnknownOption {
        /// The model.
        model: String,
        /// The option.
        key: String,
    },
    /// More threads than may be used.
    #[error("{}", Hint::message(self).unwrap_or_default())]
    TooManyThreads {
        /// Threads asked for.
        threads: usize,
        /// The most that may be used (4 per core).
        max: usize,
        /// Cores this process may use.
        cores: usize,
    },
    /// A latent given for a model without a latent input.
    #[error("{}", Hint::message(self).unwrap_or_default())]
    NoLatentInput {
        /// The model.
        model: String,
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
    /// The model layer failed in a way of its own (a package in the original medigan format:
    /// `legacy::LegacyError`); its message is the error's, and the hint walk
    /// ([`crate::error::advice_of`]) and [`GenerateError::model_error`] find it.
    #[error(transparent)]
    Model(Box<dyn std::error::Error + Send + Sync>),
    /// A worker thread panicked (a bug).
    #[error("a generation worker stopped unexpectedly: {0}")]
    Worker(String),
    /// The run was stopped by the caller ([`crate::progress::Progress::is_cancelled`]).
    #[error("generation cancelled")]
    Cancelled,
    /// Another process runs the same shard into the same folder.
    #[error(
        "output folder `{}` is in use by another medigan run writing `{manifest}` ({holder})",
        dir.display()
    )]
    OutputInUse {
        /// The output folder.
        dir: PathBuf,
        /// The manifest the other run writes (names the shard).
        manifest: String,
        /// Who holds it: pid, host, start time (as the lock file says).
        holder: String,
    },
    /// The folder holds an earlier run of this shard, and neither resume nor overwrite was asked.
    #[error(
        "output folder `{}` holds an earlier {state} run (`{record}`, {samples} samples done); \
         refusing to overwrite its files",
        dir.display()
    )]
    EarlierRun {
        /// The output folder.
        dir: PathBuf,
        /// The manifest or journal found.
        record: String,
        /// `finished` or `interrupted`.
        state: &'static str,
        /// Samples it records.
        samples: u64,
    },
    /// The folder holds a file this run would write, which no run recorded there accounts for.
    #[error(
        "output folder `{}` already holds `{file}`, which this run would overwrite and no run \
         recorded there accounts for",
        dir.display()
    )]
    ExistingFile {
        /// The output folder.
        dir: PathBuf,
        /// The file.
        file: String,
    },
    /// Another run recorded in the folder covers some of this run's sample indices.
    #[error(
        "output folder `{}` holds `{other}`, a run of samples {theirs}, which overlaps this \
         run's samples {ours}",
        dir.display()
    )]
    OverlappingRun {
        /// The output folder.
        dir: PathBuf,
        /// The other run's manifest or journal.
        other: String,
        /// Its sample indices.
        theirs: String,
        /// This run's sample indices.
        ours: String,
    },
    /// `--resume` of a folder whose run had other arguments.
    #[error(
        "cannot resume from `{}`: it records another run ({field} was {was}, now {now})",
        record.display()
    )]
    ResumeMismatch {
        /// The journal or manifest.
        record: PathBuf,
        /// The first differing field of the manifest header, e.g. `seed`.
        field: String,
        /// Its value in the record.
        was: String,
        /// Its value now.
        now: String,
    },
    /// A format whose files depend on the run as a whole cannot be resumed.
    #[error(
        "cannot resume a {format} run: its files share study and series UIDs drawn when the run \
         starts, so a resumed run would mix two series"
    )]
    ResumeUnsupported {
        /// The format.
        format: String,
    },
    /// A journal or manifest that cannot be read as one.
    #[error("run record `{}` is damaged at line {line}: {reason}", path.display())]
    Journal {
        /// The journal or manifest.
        path: PathBuf,
        /// The line (1-based).
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The lock or journal of a run could not be used.
    #[error("cannot {action} `{}`: {cause}", path.display())]
    RunFile {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
}

impl Hint for GenerateError {
    fn message(&self) -> Option<Advice> {
        let text = Advice::text;
        Some(match self {
            GenerateError::Runtime(e) => return e.message(),
            GenerateError::MissingInput { model } => text(format!(
                "model `{model}` translates images: give input images with "
            ))
            .then_option(OptionName::Input, Some("PATH"))
            .then_text(" (files or folders)"),
            GenerateError::ShardEnvironment { reason, .. } => Advice::default()
                .then_option(OptionName::Shard, Some("auto"))
                .then_text(": ")
                .then_advice(reason.clone()),
            GenerateError::ShardsWithoutAuto { shards, shard } => {
                let advice = Advice::default()
                    .then_option(OptionName::Shards, Some(&shards.to_string()))
                    .then_text(" goes with ")
                    .then_option(OptionName::Shard, Some("auto"));
                match shard {
                    Some(shard) => advice
                        .then_text("; ")
                        .then_option(OptionName::Shard, Some(&shard.to_string()))
                        .then_text(" already says N"),
                    None => advice,
                }
            }
            GenerateError::UnknownOption { model, key } => text(format!(
                "model `{model}` takes no option `{key}`: native models are steered by "
            ))
            .then_option(OptionName::Seed, None)
            .then_text(", ")
            .then_option(OptionName::Label, None)
            .then_text(" and ")
            .then_option(OptionName::Input, None),
            GenerateError::TooManyThreads {
                threads,
                max,
                cores,
            } => text(format!(
                "invalid thread count: {threads} is more than {max} (4 per core of the {cores} \
                 this process may use); leave "
            ))
            .then_option(OptionName::Threads, None)
            .then_text(" out to use every core"),
            GenerateError::Diffusion {
                model,
                what,
                reason,
            } => {
                let mut advice = text(format!("{model}: invalid "));
                for (i, option) in what.iter().enumerate() {
                    if i > 0 {
                        advice = advice.then_text(" or ");
                    }
                    advice = advice.then_option(*option, None);
                }
                advice.then_text(format!(": {reason}"))
            }
            GenerateError::BadOption { option, reason } => Advice::text("invalid ")
                .then_option(*option, None)
                .then_text(": ")
                .then_advice(reason.clone()),
            GenerateError::NoLatentInput { model } => text(format!(
                "invalid latent: model `{model}` has no latent input, so it takes no "
            ))
            .then_option(OptionName::Latent, None),
            _ => return None,
        })
    }

    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            GenerateError::Runtime(e) => e.advice(),
            GenerateError::Model(e) => crate::error::own_advice(e.as_ref()),
            GenerateError::Output(e) => e.advice(),
            GenerateError::OutputDir { .. } => {
                Some("choose another output folder with -o DIR, or make this one writable".into())
            }
            GenerateError::ShardEnvironment { hint, .. } => Some(hint.clone()),
            GenerateError::ShardsWithoutAuto { .. } => Some(
                Advice::text("give ")
                    .then_option(OptionName::Shard, Some("K/N"))
                    .then_text(" alone, or ")
                    .then_option(OptionName::Shard, Some("auto"))
                    .then_text(" with ")
                    .then_option(OptionName::Shards, Some("N")),
            ),
            GenerateError::Diffusion { model, .. } => Some(
                format!("`medigan info {model}` shows the model's steps, scheduler and classes")
                    .into(),
            ),
            GenerateError::TooLargeForMemory { .. } => Some(
                "write them to a folder (`save_images=True`, `medigan generate -o DIR`) or \
                 stream them (`Generators::stream`, the torch DataLoader)"
                    .into(),
            ),
            GenerateError::OutputInUse { .. } => Some(
                Advice::text(
                    "wait for it to finish, or write to another folder; different shards of one \
                     run (",
                )
                .then_option(OptionName::Shard, Some("K/N"))
                .then_text(") may share a folder"),
            ),
            GenerateError::EarlierRun { .. } => Some(
                Advice::text("pass ")
                    .then_option(OptionName::Resume, None)
                    .then_text(" to keep its files and generate only the rest, or ")
                    .then_option(OptionName::Overwrite, None)
                    .then_text(" to start again"),
            ),
            GenerateError::ExistingFile { .. } => Some(
                Advice::text("pass ")
                    .then_option(OptionName::Overwrite, None)
                    .then_text(" to replace it, or write to another folder"),
            ),
            GenerateError::OverlappingRun { other, .. } => Some(
                format!(
                    "shards with the same N never overlap; write this run to another folder, or \
                 remove `{other}` and the files it lists"
                )
                .into(),
            ),
            GenerateError::ResumeMismatch { .. } => Some(
                Advice::text("resume with the same arguments as the earlier run, or pass ")
                    .then_option(OptionName::Overwrite, None)
                    .then_text(" to replace it"),
            ),
            GenerateError::ResumeUnsupported { .. } | GenerateError::Journal { .. } => Some(
                Advice::text("pass ")
                    .then_option(OptionName::Overwrite, None)
                    .then_text(" to start the run again"),
            ),
            _ => None,
        }
    }
}

impl GenerateError {
    /// The model layer's own error of type `E` that this error carries ([`GenerateError::Model`]),
    /// e.g. a `legacy::LegacyError`.
    pub fn model_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            GenerateError::Model(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// Wraps an I/O error on a run's lock or journal.
    pub(crate) fn run_file<'a>(
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> GenerateError + 'a {
        move |cause| GenerateError::RunFile {
            action,
            path: path.to_path_buf(),
            cause,
        }
    }
}

impl From<crate::sample::BadShard> for GenerateError {
    fn from(bad: crate::sample::BadShard) -> Self {
        GenerateError::BadShard { value: bad.value }
    }
}
