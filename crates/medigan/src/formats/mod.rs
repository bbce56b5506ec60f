//! File formats, each read and written in one module: the header layout and the value
//! convention of a format exist once, whoever reads or writes it (`medigan generate`'s writers,
//! `medigan fid`'s image sets, image-to-image inputs, the files a legacy package writes).
//!
//! | module | writes | reads |
//! |---|---|---|
//! | [`png`] | 8-bit PNG (gray, RGB, RGBA), 16-bit gray PNG | PNG, JPEG, TIFF, BMP at their bit depth |
//! | [`npy`] | float32 `.npy` (ndarray-npy) | `.npy` of float, unsigned and signed types |
//! | [`dicom`] | Secondary Capture, 16-bit gray or 8-bit RGB (dicom-rs) | uncompressed little-endian images, element lengths checked first ([`dicom_scan`]) |
//! | [`nifti`] | NIfTI-1 `.nii` / `.nii.gz`, float32 | NIfTI-1 volumes, once per file |
//! | [`quantize`] | model values to 8/16-bit levels | levels back to values |
//!
//! Readers return a [`FormatError`]. "Which codec reads this file, and what does it hold" is one
//! question with one answer: [`ImageKind::of`], [`is_image`], [`decode`] / [`decode_bytes`]
//! (the array and its value range) and [`to_chw`] (channels first), in `decode.rs`.
//!
//! Without the cargo feature `dicom`, [`dicom`] is a stand-in (`dicom_disabled.rs`) whose writer
//! and reader say that this build has no DICOM support.
//!
//! The writers implement [`SampleWriter`] and [`Format`] picks one (`writer.rs`); DICOM's UIDs
//! and dates are made in `uid.rs` and `clock.rs`.

mod clock;
mod decode;
#[cfg(feature = "dicom")]
pub mod dicom;
#[cfg(not(feature = "dicom"))]
#[path = "dicom_disabled.rs"]
pub mod dicom;
#[cfg(feature = "dicom")]
pub mod dicom_scan;
mod error;
pub mod nifti;
pub mod npy;
pub mod png;
pub mod quantize;
mod uid;
mod writer;

use std::path::Path;

pub(crate) use clock::utc_date_time;
pub use decode::{Decoded, IMAGE_EXTENSIONS, ImageKind, decode, decode_bytes, is_image, to_chw};
pub use error::FormatError;
pub use uid::{fresh_uid, is_valid_uid};
pub use writer::{Encoding, Format, OutputError, Part, Provenance, SampleWriter};

/// The extension of `path` in lower case (`"gz"` for `x.nii.gz`), or `""`.
fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}
