//! DICOM in a build without the cargo feature `dicom` (no dicom-rs): `.dcm` files are still
//! recognised, so that writing or reading one says that this build has no DICOM support
//! instead of treating it as an unknown format.

use std::path::Path;

use ndarray::ArrayD;

use super::{Encoding, OutputError, SampleWriter};

/// What is missing, as [`OutputError::NotBuilt`] and [`read`] say it.
const CAPABILITY: &str = "DICOM support";

/// The cargo feature that adds DICOM.
const FEATURE: &str = "dicom";

/// The DICOM writer of this build: it refuses every sample before any is generated.
#[derive(Debug, Clone, Default)]
pub struct DicomWriter;

impl DicomWriter {
    /// A writer that refuses to write.
    pub fn new() -> Self {
        DicomWriter
    }
}

impl SampleWriter for DicomWriter {
    fn extension(&self) -> &'static str {
        "dcm"
    }

    fn check(&self, _shape: &[usize]) -> Result<(), OutputError> {
        Err(not_built())
    }

    fn encode(
        &self,
        _array: &ArrayD<f32>,
        _encoding: &Encoding<'_>,
    ) -> Result<Vec<u8>, OutputError> {
        Err(not_built())
    }
}

/// Whether the path names a DICOM file (`.dcm`).
pub fn is_dicom(path: &Path) -> bool {
    super::extension(path) == "dcm"
}

/// Fails: reading DICOM is not part of this build.
pub fn read(_path: &Path) -> Result<(ArrayD<f32>, [f32; 2]), super::FormatError> {
    Err(super::FormatError::Invalid(not_built().to_string()))
}

/// Fails: reading DICOM is not part of this build.
pub fn decode(_bytes: &[u8]) -> Result<(ArrayD<f32>, [f32; 2]), super::FormatError> {
    Err(super::FormatError::Invalid(not_built().to_string()))
}

/// The error of every DICOM request in this build.
pub(crate) fn not_built() -> OutputError {
    OutputError::NotBuilt {
        capability: CAPABILITY,
        feature: FEATURE,
    }
}
