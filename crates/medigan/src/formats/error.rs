//! The one error of the codecs' readers: every `formats` reader returns [`FormatError`], and
//! each caller wraps it in its own error (with the file's path) instead of a bare `String`.

/// Why a file could not be read as an image or array.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be read (missing, not a regular file, larger than
    /// `MEDIGAN_MAX_SAMPLE_BYTES`).
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// The bytes are not a valid file of the format, or use a variant medigan does not read;
    /// the reason names the field or value.
    #[error("{0}")]
    Invalid(String),
    /// The array is not an image.
    #[error(
        "array of shape {shape:?} is not an image; expected [H, W], [C, H, W] or [H, W, C] \
         with C = 1, 3 or 4"
    )]
    NotAnImage {
        /// Its shape.
        shape: Vec<usize>,
    },
}

impl From<String> for FormatError {
    fn from(reason: String) -> Self {
        FormatError::Invalid(reason)
    }
}

impl From<&str> for FormatError {
    fn from(reason: &str) -> Self {
        FormatError::Invalid(reason.to_string())
    }
}
