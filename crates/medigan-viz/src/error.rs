//! Errors of the visualiser.

/// What can go wrong when opening a model for exploration or answering a request.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// The model could not be opened (unknown id, package, graph).
    #[error(transparent)]
    Model(#[from] medigan::Error),
    /// The model cannot be explored with sliders.
    #[error("{model} cannot be explored: {reason}")]
    Unsupported {
        /// The model id.
        model: String,
        /// Why.
        reason: String,
    },
    /// A request was malformed (wrong latent length, unknown class, bad image); answered 400.
    #[error("{0}")]
    BadRequest(String),
    /// A newer request came in while this one was sampling, which stopped it; answered 204.
    #[error("superseded by a newer request")]
    Superseded,
    /// Generating or encoding a sample failed; answered 500.
    #[error("{0}")]
    Generate(String),
    /// The server could not start (port taken, no runtime).
    #[error("cannot serve on {address}: {cause}")]
    Serve {
        /// The address asked for.
        address: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// Writing a saved sample failed.
    #[error("cannot save to `{}`: {cause}", path.display())]
    Save {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
}

impl medigan::error::Hint for VizError {
    fn advice(&self) -> Option<medigan::error::Advice> {
        match self {
            VizError::Model(e) => e.advice(),
            VizError::Serve { cause, .. } => serve_hint(cause).map(medigan::error::Advice::from),
            _ => None,
        }
    }
}

/// What to do when the address cannot be used.
fn serve_hint(cause: &std::io::Error) -> Option<&'static str> {
    match cause.kind() {
        std::io::ErrorKind::AddrInUse => Some(
            "another program uses this port; pick another with `--port N`, or `--port 0` for any free one",
        ),
        std::io::ErrorKind::PermissionDenied => {
            Some("ports below 1024 need privileges; pick one above with `--port N`")
        }
        _ => None,
    }
}
