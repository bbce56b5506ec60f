//! Errors of radiomics extraction.

/// Why features could not be computed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RadiomicsError {
    /// The mask selects nothing usable (empty, too few dimensions, wrong grid).
    #[error("mask: {0}")]
    Mask(String),
    /// The image cannot be processed (wrong shape, too large, not finite).
    #[error("image: {0}")]
    Image(String),
    /// A setting is out of range.
    #[error("setting `{name}`: {reason}")]
    Setting {
        /// The pyradiomics name of the setting (`binWidth`, `resampledPixelSpacing`, ...).
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
