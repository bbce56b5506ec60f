//! Errors of `convert`.

use std::path::{Path, PathBuf};

/// Why a legacy package was not converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The model is a native package already.
    #[error("`{model}` is a native package already (execution.runtime `onnx`): nothing to convert")]
    AlreadyNative {
        /// The model.
        model: String,
    },
    /// The package cannot be expressed as a native package.
    #[error("`{model}` cannot be converted ({kind}): {reason}")]
    Refused {
        /// The model.
        model: String,
        /// A short name of the reason (`no_latent`, `control_flow`, `unsupported_op`, ...).
        kind: String,
        /// The reason, in words.
        reason: String,
    },
    /// The converted package does not give the legacy package's images.
    #[error(
        "`{model}`: the converted package differs from the legacy package beyond the tolerance; nothing was written:\n{details}"
    )]
    Differs {
        /// The model.
        model: String,
        /// What differs, per output.
        details: String,
    },
    /// The converted diffusion package does not give the source pipeline's samples.
    #[error(
        "`{model}`: the converted package differs from the {source_kind} pipeline's own loop beyond the tolerance; nothing was written:\n{details}"
    )]
    DiffersFromSource {
        /// The model.
        model: String,
        /// `diffusers`.
        source_kind: String,
        /// What differs, per run.
        details: String,
    },
    /// Converting a source folder needs consent to make the converter's Python environment.
    #[error(
        "converting a {source_kind} folder runs its pipeline once in a Python environment with {} (`{}`), which needs your consent",
        dependencies.join(", "), env.display()
    )]
    ConsentNeeded {
        /// `diffusers`.
        source_kind: String,
        /// What pip installs (the environment sees the system's site packages).
        dependencies: Vec<String>,
        /// The environment's folder.
        env: PathBuf,
    },
    /// The output folder is taken.
    #[error("`{}` exists and is not empty", dir.display())]
    OutExists {
        /// The folder.
        dir: PathBuf,
    },
    /// The export script failed.
    #[error("converting `{model}`: {what}{}", if stderr.is_empty() { String::new() } else { format!("\n{stderr}") })]
    Export {
        /// The model.
        model: String,
        /// What went wrong.
        what: String,
        /// The end of the script's error output.
        stderr: String,
    },
    /// A bad option.
    #[error("{0}")]
    BadOption(String),
    /// A file could not be read or written.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl ConvertError {
    /// A refusal of `model` for `kind`.
    pub fn refused(model: &str, kind: &str, reason: &str) -> ConvertError {
        ConvertError::Refused {
            model: model.to_string(),
            kind: kind.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A closure making an I/O error for `action` on `path`.
    pub fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ConvertError {
        let path = path.to_path_buf();
        move |source| ConvertError::Io {
            action,
            path,
            source,
        }
    }
}

use crate::error::{Advice, Suggestion};

impl crate::error::Hint for ConvertError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            ConvertError::Differs { .. } | ConvertError::DiffersFromSource { .. } => Some(
                "give --accept-differences to write the package anyway (its card records the \
                 measured error), or a larger --tolerance"
                    .into(),
            ),
            ConvertError::ConsentNeeded { .. } => Some(
                Advice::text("if you trust the folder's weights (torch loads them), rerun with ")
                    .then(Suggestion::Consent),
            ),
            ConvertError::OutExists { .. } => {
                Some("choose another folder with -o, or remove this one".into())
            }
            ConvertError::Refused { kind, .. }
                if matches!(
                    kind.as_str(),
                    "unsupported_pipeline"
                        | "custom_code"
                        | "custom_scheduler"
                        | "unsupported_network"
                        | "unsupported_decoder"
                ) =>
            {
                Some(
                    "`medigan convert PATH --dry-run` says what a folder would give; the \
                     pipeline still runs in diffusers as it is"
                        .into(),
                )
            }
            ConvertError::Refused { model, .. } => Some(
                format!(
                    "the legacy package still runs as it is: `medigan generate {model} \
                 --install-dependencies`"
                )
                .into(),
            ),
            _ => None,
        }
    }
}
