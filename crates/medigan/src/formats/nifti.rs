//! NIfTI-1 single files (`.nii`, or gzip-compressed `.nii.gz`): float32 values unchanged, 2D
//! samples as single-slice volumes, 3D samples as volumes.
//!
//! Axes: a sample `[1, H, W]` or `[1, D, H, W]` becomes the volume `(x, y, z) = (W, H, D)`
//! (`D = 1` in 2D), so voxel `(x, y, z)` holds the sample's value at `[0, z, y, x]`; the data is
//! the sample's own C-order bytes. The affine is the identity, or the diagonal of the spacing the
//! model declares (`spacing` of the output, in mm), in both the qform and the sform. The
//! provenance is in the 80-byte `descrip` field (shortened) and, in full, as JSON in a comment
//! header extension (code 6). The bytes depend only on the sample, so they are reproducible.
//!
//! Reading ([`read`]): every slice along the third axis is one image `[1, ny, nx]` (row `y`,
//! column `x`), values scaled by `scl_slope`/`scl_inter`. The range is `cal_min`..`cal_max` when
//! set (as the writer sets it), else `None` for float data (the caller's range applies), else
//! the type's range for integers. Offsets of the header fields are in `field`, used by both.

use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use ndarray::{Array3, ArrayD};

use super::{Encoding, OutputError, Part, SampleWriter};

/// Size of the NIfTI-1 header.
const HEADER_SIZE: usize = 348;
/// Largest NIfTI volume read (decompressed bytes).
pub(crate) const MAX_READ_BYTES: u64 = 2 << 30;

/// Byte offsets of the NIfTI-1 header fields this module reads or writes (`nifti1.h`).
mod field {
    pub const SIZEOF_HDR: usize = 0;
    pub const REGULAR: usize = 38;
    pub const DIM: usize = 40;
    pub const DATATYPE: usize = 70;
    pub const BITPIX: usize = 72;
    pub const PIXDIM: usize = 76;
    pub const VOX_OFFSET: usize = 108;
    pub const SCL_SLOPE: usize = 112;
    pub const SCL_INTER: usize = 116;
    pub const XYZT_UNITS: usize = 123;
    pub const CAL_MAX: usize = 124;
    pub const CAL_MIN: usize = 128;
    pub const DESCRIP: usize = 148;
    pub const QFORM_CODE: usize = 252;
    pub const SFORM_CODE: usize = 254;
    pub const SROW_X: usize = 280;
    pub const MAGIC: usize = 344;
}
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
    /// Appends the 348 little-endian header bytes.
    fn write(&self, out: &mut Vec<u8>) {
        let mut h = [0u8; HEADER_SIZE];
        let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
        put(field::SIZEOF_HDR, &(HEADER_SIZE as i32).to_le_bytes());
        put(field::REGULAR, b"r");
        let [nx, ny, nz] = self.dims.map(|d| d as i16);
        put(field::DIM, &i16s(&[3, nx, ny, nz, 1, 1, 1, 1]));
        put(field::DATATYPE, &i16s(&[DT_FLOAT32]));
        put(field::BITPIX, &i16s(&[32]));
        let [dx, dy, dz] = self.pixdim;
        put(field::PIXDIM, &f32s(&[1.0, dx, dy, dz])); // qfac 1
        put(field::VOX_OFFSET, &f32s(&[self.vox_offset])); // scl_slope 0: no scaling
        put(field::XYZT_UNITS, &[self.units]);
        put(field::CAL_MAX, &f32s(&[self.cal[1], self.cal[0]]));
        let descrip = self.descrip.as_bytes();
        put(field::DESCRIP, &descrip[..descrip.len().min(79)]);
        put(field::QFORM_CODE, &i16s(&[XFORM_ALIGNED_ANAT]));
        put(field::SFORM_CODE, &i16s(&[XFORM_ALIGNED_ANAT]));
        // quatern_b..d and qoffset_x..z stay 0: no rotation, origin 0.
        let srow = [dx, 0.0, 0.0, 0.0, 0.0, dy, 0.0, 0.0, 0.0, 0.0, dz, 0.0];
        put(field::SROW_X, &f32s(&srow));
        put(field::MAGIC, b"n+1\0");
        out.extend_from_slice(&h);
    }
}

fn i16s(values: &[i16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
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

/// Whether the path names a NIfTI file (`.nii` or `.nii.gz`).
pub fn is_nifti(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// A NIfTI volume: its dimensions, scaled values (x fastest) and the range mapping them to [0, 1].
#[derive(Debug, Clone)]
pub struct NiftiVolume {
    /// `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// The values, x fastest, then y, then z.
    pub values: Vec<f32>,
    /// The range of its values for [0, 1] (see the module docs); `None` for float data without
    /// `cal_min`/`cal_max`, where the caller's range applies.
    pub range: Option<[f32; 2]>,
    /// Voxel spacing `(x, y, z)` from `pixdim[1..=3]` (absolute; 1 where unset).
    pub spacing: [f32; 3],
}

impl NiftiVolume {
    /// The number of slices (images) along the third axis.
    pub fn slices(&self) -> usize {
        self.dims[2]
    }

    /// Slice `k` as `[1, ny, nx]`.
    pub fn slice(&self, k: usize) -> Option<Array3<f32>> {
        let [nx, ny, nz] = self.dims;
        if k >= nz {
            return None;
        }
        let plane = self.values[k * nx * ny..(k + 1) * nx * ny].to_vec();
        Array3::from_shape_vec((1, ny, nx), plane).ok()
    }
}

/// The number of slices of a NIfTI file, from its header alone.
pub fn slice_count(path: &Path) -> Result<usize, super::FormatError> {
    let mut head = Vec::with_capacity(HEADER_SIZE);
    open(path)?
        .take(HEADER_SIZE as u64)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    let (dims, _) = dims(&head)?;
    Ok(dims[2])
}

/// Reads a NIfTI-1 file (`.nii`, or gzip-compressed `.nii.gz`), decompressing it once.
pub fn read(path: &Path) -> Result<NiftiVolume, super::FormatError> {
    let mut bytes = Vec::new();
    open(path)?
        .take(MAX_READ_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    decode(&bytes)
}

fn open(path: &Path) -> Result<Box<dyn Read>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    Ok(if super::extension(path) == "gz" {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// `[nx, ny, nz]` and the datatype code of a NIfTI-1 header.
fn dims(bytes: &[u8]) -> Result<([usize; 3], i16), String> {
    if bytes.len() < HEADER_SIZE || i32_at(bytes, field::SIZEOF_HDR) != HEADER_SIZE as i32 {
        return Err("not a little-endian NIfTI-1 file".into());
    }
    let i16_at = |at: usize| i16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let rank = i16_at(field::DIM);
    let dim = |i: usize| i16_at(field::DIM + 2 * i).max(1) as usize;
    if !(2..=4).contains(&rank) || (rank == 4 && dim(4) != 1) {
        return Err(format!(
            "a NIfTI of rank {rank} is not a 2D image or 3D volume"
        ));
    }
    Ok((
        [dim(1), dim(2), if rank >= 3 { dim(3) } else { 1 }],
        i16_at(field::DATATYPE),
    ))
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parses the bytes of a whole (decompressed) NIfTI-1 file.
pub fn decode(bytes: &[u8]) -> Result<NiftiVolume, super::FormatError> {
    let (dims, datatype) = dims(bytes)?;
    let f32_at = |at: usize| f32::from_bits(i32_at(bytes, at) as u32);
    let count = dims.iter().product::<usize>();
    let offset = f32_at(field::VOX_OFFSET).max(HEADER_SIZE as f32) as usize;
    let (slope, intercept) = (f32_at(field::SCL_SLOPE), f32_at(field::SCL_INTER));
    let (cal_max, cal_min) = (f32_at(field::CAL_MAX), f32_at(field::CAL_MIN));
    let (raw, type_range) = voxels(&bytes[offset.min(bytes.len())..], datatype, count)?;
    let scale = |v: f32| {
        // 0 (or NaN, as nibabel writes an unset slope) means no scaling.
        if slope == 0.0 || !slope.is_finite() {
            v
        } else {
            v * slope + intercept
        }
    };
    let values: Vec<f32> = raw.into_iter().map(scale).collect();
    let range = if cal_max > cal_min {
        Some([cal_min, cal_max])
    } else {
        type_range.map(|[lo, hi]| [scale(lo), scale(hi)])
    };
    let pixdim = |i: usize| {
        let v = f32_at(field::PIXDIM + 4 * i).abs();
        if v > 0.0 && v.is_finite() { v } else { 1.0 }
    };
    Ok(NiftiVolume {
        dims,
        values,
        range,
        spacing: [pixdim(1), pixdim(2), pixdim(3)],
    })
}

/// The voxels as f32 and, for integer types, the type's range.
fn voxels(
    data: &[u8],
    datatype: i16,
    count: usize,
) -> Result<(Vec<f32>, Option<[f32; 2]>), String> {
    let need = |width: usize| -> Result<&[u8], String> {
        count
            .checked_mul(width)
            .and_then(|n| data.get(..n))
            .ok_or_else(|| format!("the voxel data is shorter than {count} voxels"))
    };
    Ok(match datatype {
        2 => (
            need(1)?.iter().map(|&b| f32::from(b)).collect(),
            Some([0.0, 255.0]),
        ),
        4 => (
            need(2)?
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Some([-32768.0, 32767.0]),
        ),
        512 => (
            need(2)?
                .chunks_exact(2)
                .map(|c| f32::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Some([0.0, 65535.0]),
        ),
        DT_FLOAT32 => (
            need(4)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            None,
        ),
        64 => (
            need(8)?
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            None,
        ),
        other => return Err(format!("NIfTI datatype {other} is not supported")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Provenance;

    fn header(dims: [i16; 3], datatype: i16, cal: [f32; 2]) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_SIZE + 4];
        h[..4].copy_from_slice(&(HEADER_SIZE as i32).to_le_bytes());
        for (i, d) in [3, dims[0], dims[1], dims[2]].iter().enumerate() {
            h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&datatype.to_le_bytes());
        h[108..112].copy_from_slice(&352f32.to_le_bytes());
        h[124..128].copy_from_slice(&cal[1].to_le_bytes());
        h[128..132].copy_from_slice(&cal[0].to_le_bytes());
        h
    }

    #[test]
    fn slices_are_rows_by_columns_with_x_fastest() {
        let mut bytes = header([3, 2, 2], 2, [0.0, 0.0]);
        bytes.extend((0u8..12).collect::<Vec<_>>());
        let volume = decode(&bytes).unwrap();
        assert_eq!(volume.slices(), 2);
        assert_eq!(volume.range, Some([0.0, 255.0]));
        let second = volume.slice(1).unwrap();
        assert_eq!(second.shape(), &[1, 2, 3]);
        assert_eq!(second[[0, 1, 2]], 11.0);
        assert_eq!(second[[0, 0, 0]], 6.0);
        assert!(volume.slice(2).is_none());
    }

    #[test]
    fn cal_range_wins_and_bad_files_are_named() {
        let mut bytes = header([1, 1, 1], 16, [-1.0, 1.0]);
        bytes.extend(0.5f32.to_le_bytes());
        assert_eq!(decode(&bytes).unwrap().range, Some([-1.0, 1.0]));
        assert!(decode(b"nope").is_err());
        let short = header([4, 4, 1], 16, [0.0, 0.0]);
        assert!(decode(&short).unwrap_err().to_string().contains("shorter"));
    }

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
