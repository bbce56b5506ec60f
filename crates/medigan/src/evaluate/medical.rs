//! Medical image files as FID inputs: DICOM images and the slices of NIfTI volumes, each read
//! as `[C, H, W]` values plus the range that maps them to [0, 1].
//!
//! - DICOM (uncompressed: implicit or explicit VR little endian): MONOCHROME1/2 or RGB, 8 or 16
//!   bits, one frame. Stored values are mapped from the range their bits can hold
//!   (`[0, 2^BitsStored - 1]`, or the signed range), so the 16-bit images `medigan generate
//!   --format dicom` writes come back as the model's range mapped onto [0, 1]. MONOCHROME1 is
//!   inverted.
//! - NIfTI-1 (`.nii`, `.nii.gz`): every slice along the third axis is one image `[1, ny, nx]`
//!   (row `y`, column `x`), values scaled by `scl_slope`/`scl_inter`. The range is `cal_min`..
//!   `cal_max` when set (as `medigan generate --format nifti` writes it), else the range the
//!   caller gives for float data ([`super::ReadOptions::npy_range`]), else [0, 1] for floats and the
//!   type's range for integers.

use std::io::Read;
use std::path::Path;

use dicom_dictionary_std::tags;
use ndarray::{Array3, ArrayD, IxDyn};

/// Uncompressed little-endian transfer syntaxes: implicit and explicit VR.
const NATIVE_SYNTAXES: [&str; 2] = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"];
/// Size of a NIfTI-1 header.
const NIFTI_HEADER: usize = 348;
/// Largest NIfTI volume read (decompressed bytes).
const MAX_NIFTI_BYTES: u64 = 2 << 30;

/// Whether the path names a NIfTI file (`.nii` or `.nii.gz`).
pub fn is_nifti(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// Whether the path names a DICOM file (`.dcm`).
pub fn is_dicom(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm"))
}

/// A DICOM image as `[C, H, W]` stored values (after MONOCHROME1 inversion) and their range.
pub fn read_dicom(path: &Path) -> Result<(ArrayD<f32>, [f32; 2]), String> {
    let object = dicom_object::open_file(path).map_err(|e| e.to_string())?;
    let syntax = object.meta().transfer_syntax().trim_end_matches('\0');
    if !NATIVE_SYNTAXES.contains(&syntax) {
        return Err(format!(
            "compressed or big-endian DICOM (transfer syntax {syntax}) is not supported; \
             decompress it first (e.g. `gdcmconv --raw`)"
        ));
    }
    let int = |tag, name: &str| -> Result<u32, String> {
        object
            .element(tag)
            .map_err(|_| format!("no {name}"))?
            .to_int::<u32>()
            .map_err(|e| format!("{name}: {e}"))
    };
    let optional = |tag, default: u32| {
        object
            .element(tag)
            .ok()
            .and_then(|e| e.to_int::<u32>().ok())
            .unwrap_or(default)
    };
    let (rows, columns) = (int(tags::ROWS, "Rows")?, int(tags::COLUMNS, "Columns")?);
    let samples = optional(tags::SAMPLES_PER_PIXEL, 1);
    let bits = int(tags::BITS_ALLOCATED, "Bits Allocated")?;
    let stored = optional(tags::BITS_STORED, bits).clamp(1, bits);
    let signed = optional(tags::PIXEL_REPRESENTATION, 0) == 1;
    if optional(tags::NUMBER_OF_FRAMES, 1) != 1 {
        return Err("multi-frame DICOM is not supported".into());
    }
    let photometric = object
        .element(tags::PHOTOMETRIC_INTERPRETATION)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "MONOCHROME2".into());
    let pixels = object
        .element(tags::PIXEL_DATA)
        .map_err(|_| "no Pixel Data".to_string())?
        .to_bytes()
        .map_err(|e| format!("Pixel Data: {e}"))?;
    let count = (rows * columns * samples) as usize;
    let values = decode_samples(&pixels, count, bits, signed)?;
    let range = if signed {
        [
            -(2f32.powi(stored as i32 - 1)),
            2f32.powi(stored as i32 - 1) - 1.0,
        ]
    } else {
        [0.0, 2f32.powi(stored as i32) - 1.0]
    };
    let values = match photometric.as_str() {
        "MONOCHROME1" => values.iter().map(|v| range[1] + range[0] - v).collect(),
        "MONOCHROME2" | "RGB" => values,
        other => {
            return Err(format!(
                "photometric interpretation {other} is not supported"
            ));
        }
    };
    let (h, w, c) = (rows as usize, columns as usize, samples as usize);
    // Color-by-pixel ([H, W, C]) is what Planar Configuration 0 (the default) stores.
    let array = ArrayD::from_shape_vec(IxDyn(&[h, w, c]), values)
        .map_err(|e| e.to_string())?
        .permuted_axes(IxDyn(&[2, 0, 1]))
        .as_standard_layout()
        .to_owned();
    Ok((array, range))
}

fn decode_samples(bytes: &[u8], count: usize, bits: u32, signed: bool) -> Result<Vec<f32>, String> {
    let width = match bits {
        8 => 1,
        16 => 2,
        other => return Err(format!("{other}-bit pixels are not supported (8 or 16)")),
    };
    if bytes.len() < count * width {
        return Err(format!(
            "Pixel Data holds {} bytes, the image needs {}",
            bytes.len(),
            count * width
        ));
    }
    Ok(match (width, signed) {
        (1, false) => bytes[..count].iter().map(|&b| f32::from(b)).collect(),
        (1, true) => bytes[..count].iter().map(|&b| f32::from(b as i8)).collect(),
        (_, false) => bytes
            .chunks_exact(2)
            .take(count)
            .map(|c| f32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        (_, true) => bytes
            .chunks_exact(2)
            .take(count)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
    })
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
pub fn nifti_slice_count(path: &Path) -> Result<usize, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let gz = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut head = Vec::with_capacity(NIFTI_HEADER);
    reader
        .take(NIFTI_HEADER as u64)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    let (dims, _) = nifti_dims(&head)?;
    Ok(dims[2])
}

/// Reads a NIfTI-1 file (`.nii`, or gzip-compressed `.nii.gz`).
pub fn read_nifti(path: &Path) -> Result<NiftiVolume, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let gz = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    reader
        .take(MAX_NIFTI_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    parse_nifti(&bytes)
}

/// `[nx, ny, nz]` and the datatype code of a NIfTI-1 header.
fn nifti_dims(bytes: &[u8]) -> Result<([usize; 3], i16), String> {
    if bytes.len() < NIFTI_HEADER
        || i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) != NIFTI_HEADER as i32
    {
        return Err("not a little-endian NIfTI-1 file".into());
    }
    let i16_at = |at: usize| i16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let rank = i16_at(40);
    let dim = |i: usize| i16_at(40 + 2 * i).max(1) as usize;
    if !(2..=4).contains(&rank) || (rank == 4 && dim(4) != 1) {
        return Err(format!(
            "a NIfTI of rank {rank} is not a 2D image or 3D volume"
        ));
    }
    Ok((
        [dim(1), dim(2), if rank >= 3 { dim(3) } else { 1 }],
        i16_at(70),
    ))
}

fn parse_nifti(bytes: &[u8]) -> Result<NiftiVolume, String> {
    let (dims, datatype) = nifti_dims(bytes)?;
    let f32_at =
        |at: usize| f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let count = dims.iter().product::<usize>();
    let offset = f32_at(108).max(NIFTI_HEADER as f32) as usize;
    let (slope, intercept) = (f32_at(112), f32_at(116));
    let (cal_max, cal_min) = (f32_at(124), f32_at(128));
    let (raw, type_range) = nifti_values(&bytes[offset.min(bytes.len())..], datatype, count)?;
    let scale = |v: f32| {
        if slope == 0.0 {
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
    Ok(NiftiVolume {
        dims,
        values,
        range,
    })
}

/// The voxels as f32 and, for integer types, the type's range.
fn nifti_values(
    data: &[u8],
    datatype: i16,
    count: usize,
) -> Result<(Vec<f32>, Option<[f32; 2]>), String> {
    let need = |width: usize| -> Result<&[u8], String> {
        data.get(..count * width)
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
        16 => (
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

    fn header(dims: [i16; 3], datatype: i16, cal: [f32; 2]) -> Vec<u8> {
        let mut h = vec![0u8; NIFTI_HEADER + 4];
        h[..4].copy_from_slice(&(NIFTI_HEADER as i32).to_le_bytes());
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
        let volume = parse_nifti(&bytes).unwrap();
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
        assert_eq!(parse_nifti(&bytes).unwrap().range, Some([-1.0, 1.0]));
        assert!(parse_nifti(b"nope").is_err());
        let short = header([4, 4, 1], 16, [0.0, 0.0]);
        assert!(parse_nifti(&short).unwrap_err().contains("shorter"));
    }
}
