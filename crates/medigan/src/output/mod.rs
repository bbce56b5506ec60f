//! A run's files: their names, the provenance manifest's writer, and deterministic tar files
//! (`tar_writer.rs`). The writer trait, [`Format`] and the encoders live with their decoders in
//! [`crate::formats`] (re-exported here); files are written with
//! [`crate::fs::write_atomically`].

mod manifest;
mod tar_writer;

pub use crate::dataset::manifest::{MANIFEST_NAME, ManifestHeader, ManifestLine, manifest_name};
pub use crate::formats::dicom::DicomWriter;
#[cfg(feature = "dicom")]
pub use crate::formats::dicom::{
    DEFAULT_MODALITY, IMPLEMENTATION_CLASS_UID, SYNTHETIC_PATIENT, SYNTHETIC_PATIENT_NAME,
};
pub use crate::formats::nifti::NiftiWriter;
pub use crate::formats::npy::NpyWriter;
pub use crate::formats::png::{Png16Writer, PngWriter};
pub(crate) use crate::formats::utc_date_time;
pub use crate::formats::{
    Encoding, Format, OutputError, Part, Provenance, SampleWriter, fresh_uid, is_valid_uid,
};
pub use crate::fs::{TEMPORARY_PREFIX, open_no_follow, temporary_file};
pub use manifest::ManifestWriter;
pub use tar_writer::{MEMBER_MODE, TarPackWriter, member_header};

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
