//! The image sets of an FRD as frd-score reads them: the files of a folder (not recursive,
//! sorted by name), each read as SimpleITK reads it with `Float32` output (colour as ITK's
//! luminance), a mask from a matching folder or the whole image, and the 2D/3D decision from
//! the first file.

use std::path::{Path, PathBuf};

use medigan_radiomics::{Geometry, Volume};
use ndarray::Array3;

use super::super::error::EvaluateError;
use crate::formats::nifti;

/// The extensions frd-score lists (`IMAGE_EXTENSIONS`) that this build reads, and `.nii`.
const EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "nii", "nii.gz"];

/// The images of `dir` frd-score would take: files directly in it with a listed extension,
/// sorted by path.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| EvaluateError::Image {
        path: dir.into(),
        reason: format!("cannot list the folder: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && has_extension(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(EvaluateError::NoImages { dir: dir.into() });
    }
    Ok(files)
}

fn has_extension(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    EXTENSIONS
        .iter()
        .any(|ext| name.ends_with(&format!(".{ext}")))
}

/// Reads an image as SimpleITK does with `sitkFloat32` output: PNG/JPEG as a 2D image
/// (grey levels as they are, colour as `0.2125 R + 0.7154 G + 0.0721 B`, alpha ignored),
/// NIfTI as a 3D volume with its voxel spacing.
pub fn read(path: &Path) -> Result<Volume<f64>, EvaluateError> {
    let bad = |reason: String| EvaluateError::Image {
        path: path.into(),
        reason,
    };
    if nifti::is_nifti(path) {
        let volume = nifti::read(path).map_err(|e| bad(e.to_string()))?;
        let [nx, ny, nz] = volume.dims;
        let data = Array3::from_shape_vec((nz, ny, nx), volume.values)
            .map_err(|e| bad(e.to_string()))?
            .mapv(f64::from);
        let mut geometry = Geometry::unit(3);
        geometry.spacing = volume.spacing.map(f64::from);
        return Ok(Volume { data, geometry });
    }
    let decoded = image::open(path).map_err(|e| bad(e.to_string()))?;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let values: Vec<f64> = if decoded.color().has_color() {
        let rgb = decoded.to_rgb32f();
        let scale = if decoded.color().bytes_per_pixel() / decoded.color().channel_count() == 2 {
            65535.0
        } else {
            255.0
        };
        rgb.pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(|c| f64::from((c * scale).round()));
                f64::from((0.2125 * r + 0.7154 * g + 0.0721 * b) as f32)
            })
            .collect()
    } else if decoded.color().bytes_per_pixel() / decoded.color().channel_count() == 2 {
        decoded
            .to_luma16()
            .pixels()
            .map(|p| f64::from(p.0[0]))
            .collect()
    } else {
        decoded
            .to_luma8()
            .pixels()
            .map(|p| f64::from(p.0[0]))
            .collect()
    };
    let data =
        Array3::from_shape_vec((1, height, width), values).map_err(|e| bad(e.to_string()))?;
    Ok(Volume {
        data,
        geometry: Geometry::unit(2),
    })
}

/// Whether frd-score treats the set as 2D: its first image is 2D or a single-slice volume.
pub fn is_2d(first: &Volume<f64>) -> bool {
    first.geometry.dims == 2 || first.data.shape()[0] == 1
}

/// The mask of an image: read from `mask_path` (labels as they are; a mask whose maximum is 255
/// scaled to [0, 1], as frd-score does, so label 1 is 255) or, without one, the whole image
/// (with its first voxel left out when `skip_corner`, frd-score v1's workaround of a
/// pyradiomics bug). The mask takes the image's geometry.
pub fn mask_for(
    image: &Volume<f64>,
    mask_path: Option<&Path>,
    label: u8,
    skip_corner: bool,
) -> Result<Volume<bool>, EvaluateError> {
    let Some(path) = mask_path else {
        let mut data = Array3::from_elem(image.data.raw_dim(), true);
        if skip_corner {
            data[[0, 0, 0]] = false;
        }
        return Ok(Volume {
            data,
            geometry: image.geometry.clone(),
        });
    };
    let read_mask = read(path)?;
    if read_mask.data.shape() != image.data.shape() {
        return Err(EvaluateError::Image {
            path: path.into(),
            reason: format!(
                "the mask is {:?} but its image is {:?} ([z, y, x])",
                read_mask.data.shape(),
                image.data.shape()
            ),
        });
    }
    let max = read_mask
        .data
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let scale = if max == 255.0 { 255.0 } else { 1.0 };
    let data = read_mask.data.mapv(|v| v / scale == f64::from(label));
    Ok(Volume {
        data,
        geometry: image.geometry.clone(),
    })
}

/// frd-score v1 gives a 2D image to pyradiomics as a `(1, H, W)` volume with z spacing 1.
pub fn as_volume(image: Volume<bool>) -> Volume<bool> {
    lift(image)
}

/// As [`as_volume`], for an image.
pub fn image_as_volume(image: Volume<f64>) -> Volume<f64> {
    lift(image)
}

fn lift<T>(mut volume: Volume<T>) -> Volume<T> {
    if volume.geometry.dims == 2 {
        volume.geometry.dims = 3;
        volume.geometry.spacing[2] = 1.0;
        volume.geometry.origin = [0.0; 3];
    }
    volume
}
