//! Errors of the legacy (original medigan format) runtime.

use crate::error::{Advice, Hint, Suggestion};
use std::path::PathBuf;

/// Errors of running a package in the original medigan format.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// Installing dependencies and running the package's code needs the user's consent.
    #[error(
        "model `{model}` is a Python package in the original medigan format: running it means \
         running its code and installing its dependencies ({}) into `{}`, which needs your consent",
        if dependencies.is_empty() { "none".to_string() } else { dependencies.join(", ") },
        env.display()
    )]
    ConsentNeeded {
        /// The model.
        model: String,
        /// What would be installed with pip.
        dependencies: Vec<String>,
        /// The virtual environment that would be created.
        env: PathBuf,
    },
    /// The package differs from the one recorded at its first download.
    #[error(
        "the package of model `{model}` at `{link}` changed since its first download: `{}` \
         recorded sha256 {recorded}, the download has sha256 {actual}",
        lock_file.display()
    )]
    PackageChanged {
        /// The model.
        model: String,
        /// The package link.
        link: String,
        /// The hash recorded at the first download.
        recorded: String,
        /// The hash of what was downloaded now.
        actual: String,
        /// The lock file holding the recorded hash.
        lock_file: PathBuf,
    },
    /// The lock file of package hashes cannot be read or written.
    #[error("cannot use the legacy package lock `{}`: {reason}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No Python interpreter to create the environment with.
    #[error("cannot run `{python}` to create the environment of model `{model}`: {cause}")]
    PythonMissing {
        /// The model.
        model: String,
        /// The interpreter that was tried.
        python: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// Creating the virtual environment or installing its dependencies failed.
    #[error("setting up the environment `{}` of model `{model}` failed: {step} gave:\n{output}", env.display())]
    EnvSetup {
        /// The model.
        model: String,
        /// The environment.
        env: PathBuf,
        /// The failed step, e.g. `pip install numpy`.
        step: String,
        /// The last lines of its output.
        output: String,
    },
    /// The package lacks its weights file.
    #[error("the package of model `{model}` has no weights file `{file}` (execution.model_name + execution.extension); looked in `{}`", dir.display())]
    WeightsMissing {
        /// The model.
        model: String,
        /// The file name.
        file: String,
        /// The unpacked package.
        dir: PathBuf,
    },
    /// The package's module lacks the generate function.
    #[error(
        "the package of model `{model}` has no generate function `{function}` in module `{module}` (execution.generate_method.name)"
    )]
    MissingFunction {
        /// The model.
        model: String,
        /// The function name.
        function: String,
        /// The module searched.
        module: String,
    },
    /// Importing the package failed.
    #[error("model `{model}`: importing its package `{module}` failed: {message}\n{traceback}")]
    Import {
        /// The model.
        model: String,
        /// The module.
        module: String,
        /// The exception.
        message: String,
        /// The last lines of the traceback.
        traceback: String,
    },
    /// The generate function raised an exception.
    #[error("model `{model}` failed in its generate function `{function}`: {message}\n{traceback}")]
    ModelFailed {
        /// The model.
        model: String,
        /// The function.
        function: String,
        /// The exception (type and message).
        message: String,
        /// The last lines of the traceback.
        traceback: String,
    },
    /// The Python process stopped, timed out or answered something unreadable.
    #[error("the Python process of model `{model}` {what}{}", if stderr.is_empty() { String::new() } else { format!("; its last output:\n{stderr}") })]
    Bridge {
        /// The model.
        model: String,
        /// What happened.
        what: String,
        /// The last lines it wrote to stderr.
        stderr: String,
    },
    /// The samples the package gave back cannot be used.
    #[error("model `{model}` returned an unusable sample: {reason}")]
    BadSample {
        /// The model.
        model: String,
        /// Why.
        reason: String,
    },
    /// A run option cannot be passed to a legacy package.
    #[error("model `{model}`: {reason}")]
    BadOption {
        /// The model.
        model: String,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("{action} `{}`: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
}

impl Hint for LegacyError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            LegacyError::ConsentNeeded { .. } => Some(
                Advice::text("if you trust this model's code, rerun with ")
                    .then(Suggestion::Consent),
            ),
            LegacyError::PackageChanged {
                link, lock_file, ..
            } => Some(
                format!(
                    "if the new package is expected, remove the line of `{link}` from `{}`",
                    lock_file.display()
                )
                .into(),
            ),
            LegacyError::PythonMissing { .. } => {
                Some("install Python 3 or point MEDIGAN_PYTHON to an interpreter".into())
            }
            LegacyError::EnvSetup { env, .. } => Some(
                format!(
                    "pip's own arguments can be given with MEDIGAN_PIP_ARGS; the environment is \
                 `{}` (created again on the next run)",
                    env.display()
                )
                .into(),
            ),
            LegacyError::Bridge { .. } => Some(
                "the time limit per batch is MEDIGAN_LEGACY_TIMEOUT (seconds); \
                 `RUST_LOG=medigan=info` shows the model's output"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl LegacyError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> LegacyError + use<> {
        let path = path.to_path_buf();
        move |cause| LegacyError::Io {
            action,
            path,
            cause,
        }
    }
}
