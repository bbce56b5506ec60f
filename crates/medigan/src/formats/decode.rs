//! The one question callers ask `formats`: "what is in this file?". [`ImageKind::of`] tells
//! which codec reads a path (by its extension), [`is_image`] whether any does, [`decode`] and
//! [`decode_bytes`] return the array and the range of its values, and [`to_chw`] puts an
//! array's channels first. Evaluation's image sets, image-to-image inputs, the legacy bridge
//! and `convert`'s verification ask here instead of choosing a reader themselves.

use std::io::Read;
use std::path::Path;

use ndarray::{ArrayD, Axis, IxDyn};

use super::error::FormatError;
use super::{dicom, nifti, npy, png};

/// Extensions read as images (lower case; `.nii.gz` is a `.nii` compressed).
pub const IMAGE_EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "tif", "tiff", "bmp", "npy", "dcm", "nii",
];

/// Which codec reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG, JPEG, TIFF or BMP (the `image` crate; the format is guessed from the content).
    Raster,
    /// `.npy` ([`npy`]).
    Npy,
    /// `.dcm` ([`dicom`]).
    Dicom,
    /// `.nii`, or `.nii.gz` when `gz` ([`nifti`]): a volume, each slice an image.
    Nifti {
        /// gzip-compressed.
        gz: bool,
    },
}

impl ImageKind {
    /// The codec of `path`, by its extension; `None` for a file no codec reads.
    pub fn of(path: &Path) -> Option<ImageKind> {
        if nifti::is_nifti(path) {
            return Some(ImageKind::Nifti {
                gz: super::extension(path) == "gz",
            });
        }
        match super::extension(path).as_str() {
            "png" | "jpg" | "jpeg" | "tif" | "tiff" | "bmp" => Some(ImageKind::Raster),
            "npy" => Some(ImageKind::Npy),
            "dcm" => Some(ImageKind::Dicom),
            _ => None,
        }
    }
}

/// Whether a codec reads `path` (by its extension: [`IMAGE_EXTENSIONS`], and `.nii.gz`).
pub fn is_image(path: &Path) -> bool {
    ImageKind::of(path).is_some()
}

/// A decoded file: its values as stored and the range they span.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The values: `[C, H, W]` levels for a raster image; the stored shape for `.npy` and
    /// DICOM; `[1, H, W]` (the first slice) for NIfTI.
    pub array: ArrayD<f32>,
    /// The range the values are read in: `[0, top level]` for a raster image (255, 65535, or
    /// 1 for float files), the type's range for `.npy`, the stored bits' range for DICOM, the
    /// calibration (else `[0, 1]`) for NIfTI.
    pub range: [f32; 2],
}

/// Reads and decodes the file at `path`: a regular file (a link to one followed) of at most
/// [`crate::limits::max_sample_bytes`] bytes, checked before a byte is read. A file of no
/// known extension is read as a raster image (its format guessed from the content).
pub fn decode(path: &Path) -> Result<Decoded, FormatError> {
    let bytes = crate::fs::read_regular(
        path,
        crate::fs::Links::Follow,
        crate::limits::max_sample_bytes(),
    )
    .map_err(FormatError::Read)?;
    decode_bytes(&bytes, ImageKind::of(path).unwrap_or(ImageKind::Raster))
}

/// Decodes the bytes of a file of the given kind.
pub fn decode_bytes(bytes: &[u8], kind: ImageKind) -> Result<Decoded, FormatError> {
    let (array, range) = match kind {
        ImageKind::Raster => {
            let raster = png::raster(&png::decode(bytes)?);
            (raster.levels.into_dyn(), [0.0, raster.top])
        }
        ImageKind::Npy => npy::decode(bytes)?,
        ImageKind::Dicom => dicom::decode(bytes)?,
        ImageKind::Nifti { gz } => {
            let volume = if gz {
                let mut raw = Vec::new();
                flate2::read::GzDecoder::new(bytes)
                    .take(nifti::MAX_READ_BYTES)
                    .read_to_end(&mut raw)
                    .map_err(|e| FormatError::Invalid(e.to_string()))?;
                nifti::decode(&raw)?
            } else {
                nifti::decode(bytes)?
            };
            let slice = volume
                .slice(0)
                .ok_or_else(|| FormatError::Invalid("the volume has no slice".into()))?;
            (slice.into_dyn(), volume.range.unwrap_or([0.0, 1.0]))
        }
    };
    Ok(Decoded { array, range })
}

/// The array with its channels first, `[C, H, W]`: leading axes of size one beyond three are
/// dropped, `[H, W]` becomes `[1, H, W]`, `[C, H, W]` with C of 1, 3 or 4 stays, and
/// `[H, W, C]` with C of 1, 3 or 4 is transposed. Any other shape is not an image.
pub fn to_chw(mut array: ArrayD<f32>) -> Result<ArrayD<f32>, FormatError> {
    while array.ndim() > 3 && array.shape()[0] == 1 {
        array = array.index_axis_move(Axis(0), 0);
    }
    let shape = array.shape().to_vec();
    match shape.as_slice() {
        [_, _] => Ok(array.insert_axis(Axis(0))),
        [1 | 3 | 4, _, _] => Ok(array),
        [_, _, 1 | 3 | 4] => Ok(array
            .permuted_axes(IxDyn(&[2, 0, 1]))
            .as_standard_layout()
            .into_owned()),
        _ => Err(FormatError::NotAnImage { shape }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_becomes_channels_first_and_others_are_refused() {
        let zeros = |shape: &[usize]| ArrayD::<f32>::zeros(IxDyn(shape));
        assert_eq!(to_chw(zeros(&[8, 6])).unwrap().shape(), &[1, 8, 6]);
        assert_eq!(to_chw(zeros(&[8, 6, 3])).unwrap().shape(), &[3, 8, 6]);
        assert_eq!(to_chw(zeros(&[1, 8, 6])).unwrap().shape(), &[1, 8, 6]);
        assert_eq!(to_chw(zeros(&[1, 1, 8, 6])).unwrap().shape(), &[1, 8, 6]);
        let hwc = ArrayD::from_shape_vec(IxDyn(&[1, 2, 3]), (0..6).map(|v| v as f32).collect());
        let chw = to_chw(hwc.unwrap().permuted_axes(IxDyn(&[1, 2, 0]))).unwrap();
        assert_eq!(
            chw.iter().copied().collect::<Vec<_>>(),
            [0., 1., 2., 3., 4., 5.]
        );
        for shape in [&[8, 6, 5][..], &[2, 8, 6, 3], &[7]] {
            let error = to_chw(zeros(shape)).unwrap_err();
            assert!(error.to_string().contains("is not an image"), "{error}");
        }
    }

    #[test]
    fn the_extension_picks_the_codec() {
        let kind = |name: &str| ImageKind::of(Path::new(name));
        assert_eq!(kind("a.PNG"), Some(ImageKind::Raster));
        assert_eq!(kind("a.tiff"), Some(ImageKind::Raster));
        assert_eq!(kind("a.npy"), Some(ImageKind::Npy));
        assert_eq!(kind("a.dcm"), Some(ImageKind::Dicom));
        assert_eq!(kind("a.nii.gz"), Some(ImageKind::Nifti { gz: true }));
        assert_eq!(kind("a.nii"), Some(ImageKind::Nifti { gz: false }));
        assert_eq!(kind("notes.txt"), None);
        assert!(!is_image(Path::new("a.gz")));
    }

    #[test]
    fn a_png_decodes_to_its_levels_and_their_range() {
        let array = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2]), vec![0.0, 1.0]).unwrap();
        let bytes = png::encode_u8(&array, [0.0, 1.0]).unwrap();
        let decoded = decode_bytes(&bytes, ImageKind::Raster).unwrap();
        assert_eq!(decoded.range, [0.0, 255.0]);
        assert_eq!(decoded.array.shape(), &[1, 1, 2]);
        assert_eq!(
            decoded.array.iter().copied().collect::<Vec<_>>(),
            [0.0, 255.0]
        );
        let error = decode_bytes(b"not a png", ImageKind::Raster).unwrap_err();
        assert!(matches!(error, FormatError::Invalid(_)), "{error:?}");
    }
}
