//! NIfTI-1 single files (`.nii`, or gzip-compressed `.nii.gz`): float32 values unchanged, 2D
//! samples as single-slice volumes, 3D samples as volumes.
//!
//! Axes: a sample `[1, H, W]` or `[1, D, H, W]` becomes the volume `(x, y, z) = (W, H, D)`
//! (`D = 1` in 2D), so voxel `(x, y, z)` holds the sample's value at `[0, z, y, x]`; the data is
//! the sample's own C-order bytes. The affine is the identity, or the diagonal of the spacing the
//! model declares (`spacing` of the output, in mm), in both the qform and the sform. The
//! provenance is in the 80-byte `descrip` field (shortened) and, in full, as JSON in a comment
//! header extension (code 6). The bytes depend only on the sample, so they are reproducible.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use ndarray::ArrayD;

use super::{Encoding, OutputError, Part, SampleWriter};

/// Size of the NIfTI-1 header.
const HEADER_SIZE: usize = 348;
/// `NIFTI_TYPE_FLOAT32`.
const DT_FLOAT32: i16 = 16;
/// `NIFTI_ECODE_COMMENT`.
const ECODE_COMMENT: i32 = 6;
/// `NIFTI_XFORM_ALIGNED_ANAT`: the code nibabel gives an affine it is handed.
const XFORM_ALIGNED_ANAT: i16 = 2;
/// `NIFTI_UNITS_MM`.
const UNITS_MM: u8 = 2;

/// Writes single-channel samples as NIfTI-1, plain or gzip-compressed.
#[derive(Debug, Default, Clone, Copy)]
pub struct NiftiWriter {
    /// Compress with gzip and name the files `.nii.gz`.
    pub gzip: bool,
}

impl SampleWriter for NiftiWriter {
    fn extension(&self) -> &'static str {
        if self.gzip { "nii.gz" } else { "nii" }
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        let format = if self.gzip { "nifti-gz" } else { "nifti" };
        let unsupported = |what: String, hint| OutputError::Unsupported { format, what, hint };
        let fits = |dims: &[usize]| dims.iter().all(|&d| d <= i16::MAX as usize);
        match shape {
            [1, rest @ ..] if matches!(rest.len(), 2 | 3) && fits(rest) => Ok(()),
            [1, rest @ ..] if matches!(rest.len(), 2 | 3) => Err(unsupported(
                format!("a dimension over {} in {shape:?}", i16::MAX),
                "use --format npy",
            )),
            [c, rest @ ..] if matches!(rest.len(), 2 | 3) => Err(unsupported(
                format!("{c}-channel (RGB) samples"),
                "NIfTI is written here for single-channel images and volumes; use --format png \
                 or npy",
            )),
            other => Err(unsupported(
                format!("arrays of shape {other:?}"),
                "use --format npy",
            )),
        }
    }

    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError> {
        self.check(array.shape())?;
        let spatial = &array.shape()[1..];
        let (depth, height, width) = match *spatial {
            [h, w] => (1, h, w),
            [d, h, w] => (d, h, w),
            _ => unreachable!("checked to be 2D or 3D"),
        };
        // Declared spacing follows the shape's axes ([row, column] or [slice, row, column]).
        let (dz, dy, dx) = match encoding.provenance.spacing.as_deref() {
            Some(&[dy, dx]) if spatial.len() == 2 => (1.0, dy, dx),
            Some(&[dz, dy, dx]) if spatial.len() == 3 => (dz, dy, dx),
            _ => (1.0, 1.0, 1.0),
        };
        let has_spacing = encoding.provenance.spacing.is_some();
        let extension = comment_extension(encoding);
        let vox_offset = HEADER_SIZE + 4 + extension.len();
        let mut out = Vec::with_capacity(vox_offset + array.len() * 4);
        let header = Header {
            dims: [width, height, depth],
            pixdim: [dx as f32, dy as f32, dz as f32],
            units: if has_spacing { UNITS_MM } else { 0 },
            vox_offset: vox_offset as f32,
            cal: [encoding.range[0] as f32, encoding.range[1] as f32],
            descrip: descrip(encoding),
        };
        header.write(&mut out);
        out.extend_from_slice(&[1, 0, 0, 0]);
        out.extend_from_slice(&extension);
        for value in array.iter() {
            out.extend_from_slice(&value.to_le_bytes());
        }
        if !self.gzip {
            return Ok(out);
        }
        let mut gz = GzEncoder::new(Vec::with_capacity(out.len() / 2), Compression::default());
        gz.write_all(&out)
            .and_then(|()| gz.finish())
            .map_err(|e| OutputError::Encode {
                format: "nifti-gz",
                index: encoding.index,
                reason: e.to_string(),
            })
    }
}

/// The header fields this writer sets; the others are zero.
struct Header {
    dims: [usize; 3],
    pixdim: [f32; 3],
    units: u8,
    vox_offset: f32,
    cal: [f32; 2],
    descrip: String,
}

impl Header {
    /// Appends the 348 little-endian header bytes (field offsets as in `nifti1.h`).
    fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let i16s = |out: &mut Vec<u8>, values: &[i16]| {
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()))
        };
        let f32s = |out: &mut Vec<u8>, values: &[f32]| {
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()))
        };
        let text = |out: &mut Vec<u8>, value: &str, size: usize| {
            let mut field = value.as_bytes()[..value.len().min(size - 1)].to_vec();
            field.resize(size, 0);
            out.extend_from_slice(&field);
        };
        out.extend_from_slice(&(HEADER_SIZE as i32).to_le_bytes()); // sizeof_hdr
        out.extend_from_slice(&[0; 10 + 18 + 4 + 2]); // data_type, db_name, extents, session_error
        out.extend_from_slice(&[b'r', 0]); // regular, dim_info
        let [nx, ny, nz] = self.dims.map(|d| d as i16);
        i16s(out, &[3, nx, ny, nz, 1, 1, 1, 1]); // dim
        f32s(out, &[0.0, 0.0, 0.0]); // intent_p1..3
        i16s(out, &[0, DT_FLOAT32, 32, 0]); // intent_code, datatype, bitpix, slice_start
        let [dx, dy, dz] = self.pixdim;
        f32s(out, &[1.0, dx, dy, dz, 0.0, 0.0, 0.0, 0.0]); // pixdim (qfac 1)
        f32s(out, &[self.vox_offset, 0.0, 0.0]); // vox_offset, scl_slope (0: none), scl_inter
        i16s(out, &[0]); // slice_end
        out.extend_from_slice(&[0, self.units]); // slice_code, xyzt_units
        f32s(out, &[self.cal[1], self.cal[0], 0.0, 0.0]); // cal_max, cal_min, slice_duration, toffset
        out.extend_from_slice(&[0; 8]); // glmax, glmin
        text(out, &self.descrip, 80);
        text(out, "", 24); // aux_file
        i16s(out, &[XFORM_ALIGNED_ANAT, XFORM_ALIGNED_ANAT]); // qform_code, sform_code
        f32s(out, &[0.0; 6]); // quatern_b..d, qoffset_x..z: no rotation, origin 0
        f32s(out, &[dx, 0.0, 0.0, 0.0]); // srow_x
        f32s(out, &[0.0, dy, 0.0, 0.0]); // srow_y
        f32s(out, &[0.0, 0.0, dz, 0.0]); // srow_z
        text(out, "", 16); // intent_name
        out.extend_from_slice(b"n+1\0"); // magic
        debug_assert_eq!(out.len() - start, HEADER_SIZE);
    }
}

/// The shortened provenance for the 80-byte `descrip` field (79 characters and a NUL).
fn descrip(encoding: &Encoding<'_>) -> String {
    let p = encoding.provenance;
    let mask = if encoding.part == Part::Mask {
        " mask"
    } else {
        ""
    };
    let sha: String = p.package_sha256.chars().take(12).collect();
    let text = format!(
        "SYNTHETIC{mask} {} v{} sha256:{sha} seed {} sample {}",
        p.model_id,
        p.model_version.as_deref().unwrap_or("-"),
        p.run_seed,
        encoding.index
    );
    text.chars().filter(char::is_ascii).take(79).collect()
}

/// A comment extension (code 6) holding the full provenance as JSON, padded to 16 bytes.
fn comment_extension(encoding: &Encoding<'_>) -> Vec<u8> {
    let p = encoding.provenance;
    let json = serde_json::json!({
        "synthetic": true,
        "tool": concat!("medigan-rs ", env!("CARGO_PKG_VERSION")),
        "model_id": p.model_id,
        "model_version": p.model_version,
        "package_sha256": p.package_sha256,
        "run_seed": p.run_seed,
        "sample_index": encoding.index,
        "part": if encoding.part == Part::Mask { "mask" } else { "image" },
    })
    .to_string();
    let size = (8 + json.len() + 1).div_ceil(16) * 16;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(size as i32).to_le_bytes());
    out.extend_from_slice(&ECODE_COMMENT.to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.resize(size, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Provenance;

    #[test]
    fn header_is_348_bytes_and_data_starts_at_vox_offset() {
        let provenance = Provenance::default();
        let encoding = Encoding {
            index: 3,
            part: Part::Image,
            range: [-1.0, 1.0],
            provenance: &provenance,
        };
        let array = ArrayD::from_shape_vec(vec![1, 2, 3], vec![0.5f32; 6]).expect("shape");
        let bytes = NiftiWriter { gzip: false }
            .encode(&array, &encoding)
            .expect("encode");
        assert_eq!(&bytes[344..348], b"n+1\0");
        let vox_offset = f32::from_le_bytes(bytes[108..112].try_into().expect("4 bytes"));
        assert_eq!(vox_offset as usize % 16, 0);
        assert_eq!(bytes.len(), vox_offset as usize + 6 * 4);
        let dim: Vec<i16> = bytes[40..56]
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(dim, [3, 3, 2, 1, 1, 1, 1, 1]);
    }
}
