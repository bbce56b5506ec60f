//! Output writers: turn a sample into file bytes (PNG, NPY; the medical formats slot in beside
//! them), write files atomically, and keep the provenance manifest.

mod atomic;
mod manifest;
mod npy;
mod png;

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayD;

pub use atomic::write_atomically;
pub use manifest::{MANIFEST_NAME, ManifestFile, ManifestHeader, ManifestWriter, manifest_name};
pub use npy::NpyWriter;
pub use png::PngWriter;

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
    /// An unknown format name.
    #[error("unknown output format `{name}`; expected one of: png, npy")]
    UnknownFormat {
        /// What was asked for.
        name: String,
    },
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The model id.
    pub model_id: String,
    /// The model version, if declared.
    pub model_version: Option<String>,
    /// sha256 of the model package.
    pub package_sha256: String,
    /// The run seed.
    pub run_seed: u64,
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
    /// NumPy `.npy`, float32 values unchanged.
    Npy,
}

impl Format {
    /// The writer of this format.
    pub fn writer(self) -> Box<dyn SampleWriter> {
        match self {
            Format::Png => Box::new(PngWriter),
            Format::Npy => Box::new(NpyWriter),
        }
    }

    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Npy => "npy",
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
            "npy" => Ok(Format::Npy),
            _ => Err(OutputError::UnknownFormat {
                name: s.to_string(),
            }),
        }
    }
}

/// The file name of a sample part: `00042.png`, `00042_mask.png`, with at least five digits.
pub fn file_name(index: u64, digits: usize, part: Part, extension: &str) -> String {
    let suffix = match part {
        Part::Image => "",
        Part::Mask => "_mask",
    };
    format!("{index:0digits$}{suffix}.{extension}")
}

/// Digits needed to number `count` samples (at least five).
pub fn index_digits(count: u64) -> usize {
    let largest = count.saturating_sub(1);
    largest.to_string().len().max(5)
}
