//! Reading image sets: a folder of PNG, JPEG, NumPy, DICOM and NIfTI files (every slice of a
//! volume is an image; see [`super::medical`]), or samples held in memory, each image as
//! `[C, H, W]` float32 in [0, 1].
//!
//! - PNG and JPEG: 8-bit values are divided by 255, 16-bit by 65535; gray stays 1 channel,
//!   color becomes RGB (alpha dropped).
//! - `.npy` (little-endian `f4`, `f8`, `u1`, `u2`, `i2`, `i4`, C order): `[H, W]`, `[C, H, W]` or
//!   `[H, W, C]` with C = 1, 3 or 4. Values are mapped from a range to [0, 1] and clamped; the
//!   range is given ([`ReadOptions::npy_range`]) or follows the type: [0, 1] for floats, [0, 255]
//!   for `u1`, [0, 65535] for `u2`, the type's range for other integers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array3, ArrayD, Axis, IxDyn};

use super::error::EvaluateError;
use super::medical;

/// File extensions read as images (lower case).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "npy", "dcm", "nii"];

/// How image files are read.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReadOptions {
    /// The value range of `.npy` images, mapped to [0, 1]; `None` follows the type.
    pub npy_range: Option<[f32; 2]>,
}

/// One image of a set.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// An image file, read when needed.
    File(PathBuf),
    /// An image in memory, `[C, H, W]` in [0, 1].
    Array(Arc<Array3<f32>>),
    /// Slice `index` (along the third axis) of a NIfTI volume.
    Slice {
        /// The `.nii` / `.nii.gz` file.
        path: PathBuf,
        /// The slice.
        index: usize,
    },
}

impl ImageSource {
    /// The image as `[C, H, W]` in [0, 1].
    pub fn load(&self, options: &ReadOptions) -> Result<Array3<f32>, EvaluateError> {
        match self {
            ImageSource::File(path) => read_image(path, options),
            ImageSource::Array(array) => Ok(array.as_ref().clone()),
            ImageSource::Slice { path, index } => read_nifti_slice(path, *index, options),
        }
    }
}

/// The images below `dir`: one per image file, one per slice of a NIfTI volume, in path order.
pub fn list_sources(dir: &Path) -> Result<Vec<ImageSource>, EvaluateError> {
    let mut sources = Vec::new();
    for path in list_images(dir)? {
        if medical::is_nifti(&path) {
            let slices =
                medical::nifti_slice_count(&path).map_err(|reason| image_error(&path, reason))?;
            sources.extend((0..slices).map(|index| ImageSource::Slice {
                path: path.clone(),
                index,
            }));
        } else {
            sources.push(ImageSource::File(path));
        }
    }
    Ok(sources)
}

/// The image files below `dir` (recursively, hidden entries skipped), sorted by path.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    if !dir.is_dir() {
        return Err(EvaluateError::Io {
            action: "read the folder",
            path: dir.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
        });
    }
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries =
            std::fs::read_dir(&current).map_err(EvaluateError::io("list", current.clone()))?;
        for entry in entries {
            let entry = entry.map_err(EvaluateError::io("list", current.clone()))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if is_image_file(&path) {
                found.push(path);
            }
        }
    }
    if found.is_empty() {
        return Err(EvaluateError::NoImages { dir: dir.into() });
    }
    found.sort();
    Ok(found)
}

/// Whether the file name has an extension read as an image.
pub fn is_image_file(path: &Path) -> bool {
    medical::is_nifti(path)
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads one image file as `[C, H, W]` in [0, 1].
pub fn read_image(path: &Path, options: &ReadOptions) -> Result<Array3<f32>, EvaluateError> {
    let is_npy = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if medical::is_dicom(path) {
        let (array, range) =
            medical::read_dicom(path).map_err(|reason| image_error(path, reason))?;
        return npy_to_chw(path, array, range);
    }
    if medical::is_nifti(path) {
        return read_nifti_slice(path, 0, options);
    }
    if is_npy {
        let bytes = std::fs::read(path).map_err(EvaluateError::io("read", path))?;
        let (array, default_range) =
            parse_npy(&bytes).map_err(|reason| image_error(path, reason))?;
        let range = options.npy_range.unwrap_or(default_range);
        return npy_to_chw(path, array, range);
    }
    let decoded = image::ImageReader::open(path)
        .map_err(EvaluateError::io("open", path))?
        .with_guessed_format()
        .map_err(EvaluateError::io("read", path))?
        .decode()
        .map_err(|e| image_error(path, e.to_string()))?;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    if decoded.color().has_color() {
        let rgb = decoded.to_rgb32f().into_raw();
        let hwc = Array3::from_shape_vec((height, width, 3), rgb)
            .map_err(|e| image_error(path, e.to_string()))?;
        Ok(hwc.permuted_axes([2, 0, 1]).as_standard_layout().to_owned())
    } else {
        let gray = decoded.to_luma32f().into_raw();
        Array3::from_shape_vec((1, height, width), gray)
            .map_err(|e| image_error(path, e.to_string()))
    }
}

/// Slice `index` of a NIfTI volume, mapped to [0, 1] (range: the file's `cal_min`..`cal_max`,
/// else the caller's, else [0, 1] for floats and the type's range for integers).
fn read_nifti_slice(
    path: &Path,
    index: usize,
    options: &ReadOptions,
) -> Result<Array3<f32>, EvaluateError> {
    let volume = medical::read_nifti(path).map_err(|reason| image_error(path, reason))?;
    let slice = volume.slice(index).ok_or_else(|| {
        image_error(
            path,
            format!("has {} slices, slice {index} asked for", volume.slices()),
        )
    })?;
    let range = volume.range.or(options.npy_range).unwrap_or([0.0, 1.0]);
    npy_to_chw(path, slice.into_dyn(), range)
}

fn image_error(path: &Path, reason: impl Into<String>) -> EvaluateError {
    EvaluateError::Image {
        path: path.into(),
        reason: reason.into(),
    }
}

/// `[H, W]`, `[C, H, W]` or `[H, W, C]` mapped from `range` to [0, 1] and clamped.
fn npy_to_chw(
    path: &Path,
    array: ArrayD<f32>,
    range: [f32; 2],
) -> Result<Array3<f32>, EvaluateError> {
    if range[1] <= range[0] {
        return Err(EvaluateError::InvalidOption {
            option: "npy range".into(),
            value: format!("{},{}", range[0], range[1]),
            reason: "the maximum must be above the minimum".into(),
        });
    }
    let shape = array.shape().to_vec();
    let chw = match shape.as_slice() {
        [_, _] => array.insert_axis(Axis(0)),
        [1 | 3 | 4, _, _] => array,
        [_, _, 1 | 3 | 4] => array.permuted_axes(IxDyn(&[2, 0, 1])),
        _ => {
            return Err(image_error(
                path,
                format!(
                    "array of shape {shape:?} is not an image; expected [H, W], [C, H, W] or \
                     [H, W, C] with C = 1, 3 or 4"
                ),
            ));
        }
    };
    if chw.iter().any(|v| !v.is_finite()) {
        return Err(image_error(path, "it holds NaN or infinite values"));
    }
    let scale = 1.0 / (range[1] - range[0]);
    let mapped = chw.mapv(|v| ((v - range[0]) * scale).clamp(0.0, 1.0));
    mapped
        .as_standard_layout()
        .to_owned()
        .into_dimensionality()
        .map_err(|e| image_error(path, e.to_string()))
}

/// Parses a `.npy` file: the values as f32 and the default range of its type.
pub fn parse_npy(bytes: &[u8]) -> Result<(ArrayD<f32>, [f32; 2]), String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file".into());
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let descr = header_value(header, "descr")
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
        .ok_or("header has no descr")?;
    if header_value(header, "fortran_order").is_some_and(|v| v.trim() == "True") {
        return Err("Fortran-order arrays are not supported; save with C order".into());
    }
    let shape = parse_shape(header).ok_or("header has no readable shape")?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape too large")?;
    let data = &bytes[end..];
    let (width, range): (usize, [f32; 2]) = match descr.as_str() {
        "<f4" => (4, [0.0, 1.0]),
        "<f8" => (8, [0.0, 1.0]),
        "|u1" | "<u1" => (1, [0.0, 255.0]),
        "<u2" => (2, [0.0, 65535.0]),
        "<i2" => (2, [-32768.0, 32767.0]),
        "<i4" => (4, [i32::MIN as f32, i32::MAX as f32]),
        other => {
            return Err(format!(
                "data type `{other}` is not supported (float32/64, uint8/16, int16/32, little-endian)"
            ));
        }
    };
    if data.len() < count.saturating_mul(width) {
        return Err(format!(
            "data truncated: {} bytes for {count} values of {width} bytes",
            data.len()
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(width)
        .take(count)
        .map(|c| match descr.as_str() {
            "<f4" => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            "<f8" => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32,
            "<u2" => f32::from(u16::from_le_bytes([c[0], c[1]])),
            "<i2" => f32::from(i16::from_le_bytes([c[0], c[1]])),
            "<i4" => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32,
            _ => f32::from(c[0]),
        })
        .collect();
    let array = ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| e.to_string())?;
    Ok((array, range))
}

/// The text after `'key':` up to the next top-level comma (good enough for npy headers).
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?;
    let end = rest.find(',').unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let at = header.find("'shape'")?;
    let rest = &header[at..];
    let open = rest.find('(')?;
    let close = rest[open..].find(')')? + open;
    rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_are_parsed() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(header_value(header, "descr"), Some("'<f4'"));
        assert_eq!(parse_shape(header), Some(vec![2, 3]));
        assert_eq!(
            parse_shape("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"),
            Some(vec![5])
        );
    }

    #[test]
    fn garbage_is_not_an_npy() {
        assert!(parse_npy(b"hello world").is_err());
        assert!(parse_npy(b"\x93NUMPY\x01\x00\xff\xff").is_err());
    }
}
