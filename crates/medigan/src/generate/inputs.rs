//! Input images for image-to-image models: read ([`crate::formats::png`], at the file's own bit
//! depth: a 16-bit image keeps its 16 bits), convert, resize, scale to the model's range.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use ndarray::ArrayD;

use super::GenerateError;
use crate::formats::png;

/// Expands files and folders into the sorted list of image files they name.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, GenerateError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| input_error(path, e.to_string()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(input_error(
                    path,
                    "the folder holds no png, jpg, tif or bmp image".into(),
                ));
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(input_error(path, "no such file or folder".into()));
        }
    }
    Ok(files)
}

/// Whether an input is read: a raster image (PNG, JPEG, TIFF, BMP), the kind
/// [`load_input_image`] resizes.
fn is_image(path: &Path) -> bool {
    crate::formats::ImageKind::of(path) == Some(crate::formats::ImageKind::Raster)
}

/// Reads an image as `[channels, height, width]`, resized to the declared size if needed and
/// scaled from its levels (0..255, or 0..65535 for 16-bit files) to `range`.
pub fn load_input_image(
    path: &Path,
    shape: &[usize],
    range: [f64; 2],
) -> Result<ArrayD<f32>, GenerateError> {
    let [channels, height, width] = shape else {
        return Err(input_error(
            path,
            format!(
                "the model declares input shape {shape:?}; only [C, H, W] images are supported"
            ),
        ));
    };
    let decoded = png::open(path).map_err(|e| input_error(path, e.to_string()))?;
    let resized = if decoded.width() as usize != *width || decoded.height() as usize != *height {
        decoded.resize_exact(*width as u32, *height as u32, FilterType::Triangle)
    } else {
        decoded
    };
    if !matches!(channels, 1 | 3 | 4) {
        return Err(input_error(
            path,
            format!("the model takes {channels} channels; only 1, 3 or 4 are supported"),
        ));
    }
    let raster = png::with_channels(&resized, *channels);
    Ok(raster.to_range(range).into_dyn())
}

fn input_error(path: &Path, reason: String) -> GenerateError {
    GenerateError::Input {
        path: path.to_path_buf(),
        reason,
    }
}
