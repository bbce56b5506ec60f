//! Errors of the contribution workflow: each says which step failed, what is left behind, and
//! (through [`ContributeError::hint`]) what to do next. No message ever holds a token.

use crate::error::{Advice, Hint, OptionName};
use std::path::PathBuf;

/// What went wrong while preparing or publishing a contribution.
#[derive(Debug, thiserror::Error)]
pub enum ContributeError {
    /// `init-model` was pointed at a folder that already holds files.
    #[error("`{}` is not empty: `init-model` writes a new package into a new or empty folder", dir.display())]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
    },
    /// A file could not be read or written.
    #[error("cannot {action} `{}`: {cause}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The model id does not look like a catalogue id.
    #[error("model id `{id}` is malformed: {reason}")]
    MalformedId {
        /// The id given.
        id: String,
        /// Why it is refused.
        reason: String,
    },
    /// The model id (or its number) is already used by a catalogue in effect.
    #[error("model id `{id}` is taken: `{taken_by}` is in catalogue `{source_name}`")]
    IdTaken {
        /// The id given.
        id: String,
        /// The catalogue entry with the same id or number.
        taken_by: String,
        /// Where that entry comes from.
        source_name: String,
    },
    /// The package's `medigan.json` cannot be read as a one-entry catalogue.
    #[error("`{}` is not a one-entry catalogue: {reason}", path.display())]
    BadMetadata {
        /// The `medigan.json` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The package lacks files or metadata; every problem is listed.
    #[error("package `{}` is not ready to contribute:\n{}", dir.display(), bullet(problems))]
    NotReady {
        /// The package folder.
        dir: PathBuf,
        /// Each problem, naming the file or field.
        problems: Vec<String>,
    },
    /// The model did not pass the end-to-end test.
    #[error("model `{id}` failed its end-to-end test: {reason}")]
    TestFailed {
        /// The model id.
        id: String,
        /// The first failing check.
        reason: String,
    },
    /// A token needed for publishing was not given.
    #[error("{}", Hint::message(self).unwrap_or_default())]
    MissingToken {
        /// `Zenodo` or `GitHub`.
        service: &'static str,
        /// The option that gives it (a flag on the command line, a keyword in Python).
        option: OptionName,
        /// The environment variable.
        env: &'static str,
    },
    /// A contribution to the Hugging Face Hub without a token.
    #[error("no Hugging Face Hub token: give --hf-token or set HF_TOKEN")]
    MissingHubToken,
    /// A service answered 401 or 403 to a token.
    #[error("the {service} token was refused (HTTP {status}) while {step}: {why}{aftermath}")]
    TokenRefused {
        /// `Zenodo` or `GitHub`.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// What was being done.
        step: String,
        /// The likely reasons.
        why: String,
        /// What happened to an already created draft (empty when nothing was created).
        aftermath: String,
    },
    /// A request to a service failed.
    #[error("{service}: {step} failed: {reason}{aftermath}")]
    Service {
        /// `Zenodo` or `GitHub`.
        service: &'static str,
        /// What was being done.
        step: String,
        /// The HTTP status and the service's message, or the network error.
        reason: String,
        /// What happened to an already created draft (empty when nothing was created).
        aftermath: String,
    },
    /// The catalogues in effect could not be read (needed to check the id).
    #[error("cannot read the catalogues to check the id: {0}")]
    Catalog(String),
    /// Building the HTTP client failed.
    #[error("cannot set up HTTP: {0}")]
    Http(String),
}

impl Hint for ContributeError {
    fn message(&self) -> Option<Advice> {
        match self {
            ContributeError::MissingToken {
                service,
                option,
                env,
            } => Some(
                Advice::text(format!("no {service} token: give "))
                    .then_option(*option, None)
                    .then_text(format!(" or set {env}")),
            ),
            _ => None,
        }
    }

    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            ContributeError::NotEmpty { .. } => {
                Some("give a new folder name, e.g. `medigan init-model my-model`".into())
            }
            ContributeError::MalformedId { .. } => Some(
                "ids are five digits, an underscore and an UPPER_SNAKE name, e.g. `00100_DCGAN_MMG_MASS_128`"
                    .into(),
            ),
            ContributeError::IdTaken { .. } => Some(
                "choose an unused number; `medigan list` shows the ids in use (run `medigan catalog update` first to see the upstream ones)"
                    .into(),
            ),
            ContributeError::NotReady { .. } => Some(
                "fill the fields in medigan.json (METADATA.md from `medigan init-model` explains each one) and export the graph; run in a terminal to be asked for missing fields"
                    .into(),
            ),
            ContributeError::TestFailed { .. } => Some(
                "`medigan --catalog DIR/medigan.json test ID` (ID as in that file) shows every check; fix the graph or its declaration in execution.onnx"
                    .into(),
            ),
            ContributeError::MissingToken { service: "Zenodo", .. }
            | ContributeError::TokenRefused { service: "Zenodo", .. } => Some(
                "create a token at https://zenodo.org/account/settings/applications/tokens/new/ (or sandbox.zenodo.org for --sandbox) with the deposit:write and deposit:actions scopes"
                    .into(),
            ),
            ContributeError::MissingHubToken
            | ContributeError::TokenRefused {
                service: "Hugging Face Hub",
                ..
            } => Some(
                "create a token with write access at https://huggingface.co/settings/tokens (and create the model repository first, on the Hub's page or with `huggingface-cli repo create`)"
                    .into(),
            ),
            ContributeError::MissingToken { .. } | ContributeError::TokenRefused { .. } => Some(
                "create a token at https://github.com/settings/tokens with permission to open issues (fine-grained: Issues read and write; classic: public_repo)"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn bullet(problems: &[String]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    lines.join("\n")
}
