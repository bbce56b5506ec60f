//! The writer side of the codecs: the [`SampleWriter`] trait every encoder implements, what it
//! is told about the array ([`Encoding`], [`Provenance`]), its error ([`OutputError`]) and the
//! [`Format`] that picks one. Here, below the run (`crate::generate`) and its files
//! (`crate::output`), so that the encoders never import from above.

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayD;

use super::dicom::DicomWriter;
use super::nifti::NiftiWriter;
use super::npy::NpyWriter;
use super::png::{Png16Writer, PngWriter};

/// Errors of the output writers.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The format cannot hold this kind of sample.
    #[error("format `{format}` cannot hold {what}; {hint}")]
    Unsupported {
        /// The format.
        format: &'static str,
        /// What it cannot hold.
        what: String,
        /// What to use instead.
        hint: &'static str,
    },
    /// Encoding failed.
    #[error("cannot encode sample {index} as {format}: {reason}")]
    Encode {
        /// The format.
        format: &'static str,
        /// The sample index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write `{}`: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The model's metadata declares something a writer cannot use.
    #[error("model metadata: {field} {reason}")]
    Metadata {
        /// The field, e.g. `execution.onnx.outputs[0].spacing`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The format is not part of this build (a cargo feature left out).
    #[error("this build of medigan has no {capability} (cargo feature `{feature}`)")]
    NotBuilt {
        /// What is missing, e.g. `DICOM support`.
        capability: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// An unknown format name.
    #[error("unknown output format `{name}`; expected one of: {}", Format::NAMES.join(", "))]
    UnknownFormat {
        /// What was asked for.
        name: String,
    },
}

impl crate::error::Hint for OutputError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            OutputError::Io { cause, .. }
                if cause.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Some("write to a folder you may write to (`-o DIR`)".into())
            }
            OutputError::NotBuilt { feature, .. } => Some(
                format!(
                    "choose another format, or use a build with the cargo feature `{feature}` (the \
                 default build of the medigan command line has it, and so does the Python wheel)"
                )
                .into(),
            ),
            _ => None,
        }
    }
}

/// Which part of a sample a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The image.
    Image,
    /// The mask.
    Mask,
}

/// What a writer knows about the array it encodes.
#[derive(Debug, Clone, Copy)]
pub struct Encoding<'a> {
    /// Index of the sample in its run.
    pub index: u64,
    /// The part of the sample.
    pub part: Part,
    /// The value range the model declares for this output (`[-1, 1]`, `[0, 1]`, ...).
    pub range: [f64; 2],
    /// Provenance to embed where the format has room for it.
    pub provenance: &'a Provenance,
}

/// Facts about a run that formats with metadata (DICOM, NIfTI) embed in every file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The model id.
    pub model_id: String,
    /// The model version, if declared.
    pub model_version: Option<String>,
    /// sha256 of the model package.
    pub package_sha256: String,
    /// The run seed.
    pub run_seed: u64,
    /// DICOM modality code (`MG`, `CT`, `MR`, ...) from the model's metadata, if it names one
    /// ([`crate::catalog::dicom_modality`]); DICOM writes `OT` (other) without it.
    pub modality: Option<String>,
    /// Voxel spacing in mm that the model declares for its image output, in the order of the
    /// sample's spatial axes: `[row, column]` in 2D, `[slice, row, column]` in 3D
    /// ([`crate::catalog::declared_spacing`]). DICOM writes it as Pixel Spacing, NIfTI in its affine.
    pub spacing: Option<Vec<f64>>,
}

/// Encodes one array of a sample into the bytes of one file.
pub trait SampleWriter: Send + Sync {
    /// The file extension, without the dot.
    fn extension(&self) -> &'static str;
    /// Fails before any sample is generated when the format cannot hold the model's output
    /// (`shape` is one sample's `[C, H, W]` or `[C, D, H, W]`).
    fn check(&self, shape: &[usize]) -> Result<(), OutputError>;
    /// The bytes of the file holding `array`.
    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError>;
    /// A note for the manifest on how values were mapped, if they were.
    fn value_mapping(&self, range: [f64; 2]) -> Option<String> {
        let _ = range;
        None
    }
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// 8-bit PNG (grayscale, RGB or RGBA), values mapped from the model's range to 0..255.
    #[default]
    Png,
    /// 16-bit grayscale PNG, values mapped from the model's range to 0..65535.
    Png16,
    /// NumPy `.npy`, float32 values unchanged.
    Npy,
    /// DICOM Secondary Capture, one file per 2D sample, marked as synthetic.
    Dicom,
    /// NIfTI-1 `.nii`, float32 values unchanged; 2D samples as single-slice volumes.
    Nifti,
    /// NIfTI-1 compressed with gzip, `.nii.gz`.
    NiftiGz,
}

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Format; 6] = [
        Format::Png,
        Format::Png16,
        Format::Npy,
        Format::Dicom,
        Format::Nifti,
        Format::NiftiGz,
    ];

    /// The names of [`Format::ALL`], as `--format` takes them.
    pub const NAMES: [&'static str; 6] = ["png", "png16", "npy", "dicom", "nifti", "nifti-gz"];

    /// The writer of this format, for one run (a DICOM writer draws the run's study and series
    /// UIDs when it is made).
    pub fn writer(self) -> Box<dyn SampleWriter> {
        match self {
            Format::Png => Box::new(PngWriter),
            Format::Png16 => Box::new(Png16Writer),
            Format::Npy => Box::new(NpyWriter),
            Format::Dicom => Box::new(DicomWriter::new()),
            Format::Nifti => Box::new(NiftiWriter { gzip: false }),
            Format::NiftiGz => Box::new(NiftiWriter { gzip: true }),
        }
    }

    /// Fails when this build leaves the format out (DICOM without the cargo feature `dicom`),
    /// so that a run asking for it stops before its model is loaded.
    pub fn check_built(self) -> Result<(), OutputError> {
        #[cfg(not(feature = "dicom"))]
        if self == Format::Dicom {
            return Err(crate::formats::dicom::not_built());
        }
        Ok(())
    }

    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Png16 => "png16",
            Format::Npy => "npy",
            Format::Dicom => "dicom",
            Format::Nifti => "nifti",
            Format::NiftiGz => "nifti-gz",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = OutputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "png16" => Ok(Format::Png16),
            "npy" => Ok(Format::Npy),
            "dicom" | "dcm" => Ok(Format::Dicom),
            "nifti" | "nii" => Ok(Format::Nifti),
            "nifti-gz" | "nii.gz" => Ok(Format::NiftiGz),
            _ => Err(OutputError::UnknownFormat {
                name: s.to_string(),
            }),
        }
    }
}
