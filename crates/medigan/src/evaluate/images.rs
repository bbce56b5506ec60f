//! Image sets for evaluation: a folder of PNG, JPEG, NumPy, DICOM and NIfTI files (every slice
//! of a volume is an image), or samples held in memory, each image as `[C, H, W]` float32 in
//! [0, 1]. The files are decoded by [`crate::formats`]; this module lists them and maps their
//! values to [0, 1]:
//!
//! - PNG and JPEG: levels divided by the top level of their depth (255, or 65535 for 16-bit);
//!   gray stays 1 channel, color becomes RGB (alpha dropped).
//! - `.npy`: `[H, W]`, `[C, H, W]` or `[H, W, C]` with C = 1, 3 or 4. Values are mapped from a
//!   range to [0, 1] and clamped; the range is given ([`ReadOptions::npy_range`]) or follows
//!   the type ([`crate::formats::npy`]).
//! - DICOM: stored values mapped from the range their bits can hold ([`crate::formats::dicom`]).
//! - NIfTI: each slice, mapped from `cal_min`..`cal_max`, else the caller's range for float
//!   data, else [0, 1] for floats and the type's range for integers. A volume is decompressed
//!   once while its slices are read ([`VolumeFile`]), not once per slice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{Array3, ArrayD};
use sha2::{Digest, Sha256};

use super::error::EvaluateError;
use crate::formats::nifti::{self, NiftiVolume};
use crate::formats::{self, Decoded, ImageKind};
use crate::{fs, limits, walk};

/// File extensions read as images (lower case): [`crate::formats::IMAGE_EXTENSIONS`].
pub const IMAGE_EXTENSIONS: [&str; 9] = formats::IMAGE_EXTENSIONS;

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
        /// The `.nii` / `.nii.gz` file, shared by its slices.
        volume: Arc<VolumeFile>,
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
            ImageSource::Slice { volume, index } => volume.slice(*index, options),
        }
    }
}

/// A NIfTI file whose slices are images of a set. The volume is decompressed when one of its
/// slices is first read and kept until every slice has been read once, so a pass over the set
/// decompresses it once; memory holds only the volumes whose slices are being read.
#[derive(Debug)]
pub struct VolumeFile {
    path: PathBuf,
    slices: usize,
    state: Mutex<VolumeState>,
    decodes: AtomicUsize,
    digest: OnceLock<[u8; 32]>,
}

#[derive(Debug, Default)]
struct VolumeState {
    volume: Option<Arc<NiftiVolume>>,
    unread: usize,
}

impl VolumeFile {
    /// The volume at `path`, its slices counted from its header.
    pub fn open(path: &Path) -> Result<VolumeFile, EvaluateError> {
        check_file(path)?;
        let slices = nifti::slice_count(path).map_err(|e| image_error(path, e.to_string()))?;
        Ok(VolumeFile {
            path: path.to_path_buf(),
            slices,
            state: Mutex::default(),
            decodes: AtomicUsize::new(0),
            digest: OnceLock::new(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of slices.
    pub fn slices(&self) -> usize {
        self.slices
    }

    /// How many times the file has been decompressed and decoded.
    pub fn decodes(&self) -> usize {
        self.decodes.load(Ordering::Relaxed)
    }

    /// sha256 of the file's bytes, read once.
    pub fn sha256(&self) -> Result<[u8; 32], EvaluateError> {
        if let Some(digest) = self.digest.get() {
            return Ok(*digest);
        }
        let (mut file, _) = fs::open_regular(
            &self.path,
            fs::Links::Follow,
            Some(limits::max_sample_bytes()),
        )
        .map_err(EvaluateError::io("read", &self.path))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(EvaluateError::io("read", &self.path))?;
        let digest: [u8; 32] = hasher.finalize().into();
        Ok(*self.digest.get_or_init(|| digest))
    }

    /// Slice `index` as `[1, H, W]` in [0, 1].
    fn slice(&self, index: usize, options: &ReadOptions) -> Result<Array3<f32>, EvaluateError> {
        let volume = self.volume()?;
        let slice = volume.slice(index).ok_or_else(|| {
            image_error(
                &self.path,
                format!("has {} slices, slice {index} asked for", volume.slices()),
            )
        })?;
        let range = volume.range.or(options.npy_range).unwrap_or([0.0, 1.0]);
        to_unit_chw(&self.path, slice.into_dyn(), range)
    }

    /// The decoded volume: decoded now if no slice of this pass has been read yet, released
    /// once every slice has been.
    fn volume(&self) -> Result<Arc<NiftiVolume>, EvaluateError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let volume = match &state.volume {
            Some(volume) => Arc::clone(volume),
            None => {
                check_file(&self.path)?;
                let volume =
                    nifti::read(&self.path).map_err(|e| image_error(&self.path, e.to_string()))?;
                self.decodes.fetch_add(1, Ordering::Relaxed);
                let volume = Arc::new(volume);
                state.volume = Some(Arc::clone(&volume));
                state.unread = self.slices;
                volume
            }
        };
        state.unread = state.unread.saturating_sub(1);
        if state.unread == 0 {
            state.volume = None;
        }
        Ok(volume)
    }
}

/// The images below `dir`: one per image file, one per slice of a NIfTI volume, in path order.
pub fn list_sources(dir: &Path) -> Result<Vec<ImageSource>, EvaluateError> {
    let mut sources = Vec::new();
    for path in list_images(dir)? {
        if nifti::is_nifti(&path) {
            let volume = Arc::new(VolumeFile::open(&path)?);
            sources.extend((0..volume.slices()).map(|index| ImageSource::Slice {
                volume: Arc::clone(&volume),
                index,
            }));
        } else {
            sources.push(ImageSource::File(path));
        }
    }
    Ok(sources)
}

/// How deep below an image folder images are looked for.
pub const MAX_IMAGE_DEPTH: usize = 32;

/// The image files below `dir`, sorted by path: recursively (to [`MAX_IMAGE_DEPTH`]), hidden
/// entries skipped, symlinks followed without cycles and each file once, regular files only
/// (see [`crate::walk`]); what was skipped is logged as a warning.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    let select = |path: &Path| is_image_file(path);
    let listing = walk::walk(
        dir,
        &walk::Walk {
            links: walk::Links::Follow,
            max_depth: MAX_IMAGE_DEPTH,
            skip_hidden: true,
            select: &select,
        },
    )
    .map_err(EvaluateError::io("read the folder", dir))?;
    listing.warn_skipped(10);
    if listing.files.is_empty() {
        return Err(EvaluateError::NoImages { dir: dir.into() });
    }
    Ok(listing.files.into_iter().map(|found| found.path).collect())
}

/// Reads an image file medigan did not write: a regular file (not a FIFO or device) of at most
/// [`crate::limits::max_sample_bytes`], checked before a byte is read.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, EvaluateError> {
    fs::read_regular(path, fs::Links::Follow, limits::max_sample_bytes())
        .map_err(EvaluateError::io("read", path))
}

/// Checks that a file can be read as [`read_file`] would, without reading it.
fn check_file(path: &Path) -> Result<(), EvaluateError> {
    fs::open_regular(path, fs::Links::Follow, Some(limits::max_sample_bytes()))
        .map(drop)
        .map_err(EvaluateError::io("read", path))
}

/// Whether the file name has an extension read as an image ([`crate::formats::is_image`]).
pub fn is_image_file(path: &Path) -> bool {
    formats::is_image(path)
}

/// Reads one image file as `[C, H, W]` in [0, 1] (a NIfTI file: its first slice). The codec
/// and the value range come from [`crate::formats::decode_bytes`].
pub fn read_image(path: &Path, options: &ReadOptions) -> Result<Array3<f32>, EvaluateError> {
    let kind = ImageKind::of(path).unwrap_or(ImageKind::Raster);
    if let ImageKind::Nifti { .. } = kind {
        return VolumeFile::open(path)?.slice(0, options);
    }
    let bytes = read_file(path)?;
    let Decoded { array, range } =
        formats::decode_bytes(&bytes, kind).map_err(|e| image_error(path, e.to_string()))?;
    match kind {
        // Levels over the top level, as the raster reader has always given them.
        ImageKind::Raster => to_unit_chw(path, array.mapv(|v| v / range[1]), [0.0, 1.0]),
        ImageKind::Npy => to_unit_chw(path, array, options.npy_range.unwrap_or(range)),
        _ => to_unit_chw(path, array, range),
    }
}

fn image_error(path: &Path, reason: impl Into<String>) -> EvaluateError {
    EvaluateError::Image {
        path: path.into(),
        reason: reason.into(),
    }
}

/// `[H, W]`, `[C, H, W]` or `[H, W, C]` mapped from `range` to [0, 1] and clamped.
fn to_unit_chw(
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
    let chw = formats::to_chw(array).map_err(|e| image_error(path, e.to_string()))?;
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::formats::png;
    use ndarray::IxDyn;

    fn png(path: &Path) {
        let bytes = png::encode_u8(&ArrayD::zeros(IxDyn(&[1, 2, 2])), [0.0, 1.0]).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    /// Issue 26, finding 2: one `again -> .` link counted every image 41 times (two made the
    /// walk endless); finding 5: a FIFO named `*.png` hung `fid`/`metrics`/`audit`.
    #[test]
    fn regression_26_links_are_walked_without_cycles_and_special_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        png(&dir.path().join("a.png"));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        png(&dir.path().join("sub/b.png"));
        std::os::unix::fs::symlink(".", dir.path().join("again")).unwrap();
        mkfifo(&dir.path().join("fifo.png"));
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.npy")).unwrap();
        let files = list_images(dir.path()).unwrap();
        assert_eq!(
            files,
            [dir.path().join("a.png"), dir.path().join("sub/b.png")]
        );
        assert_eq!(list_sources(dir.path()).unwrap().len(), 2);
        // Readers refuse them too, at once, when asked for them by path.
        for special in ["fifo.png", "zero.npy"] {
            let error = read_image(&dir.path().join(special), &ReadOptions::default()).unwrap_err();
            let cause = std::error::Error::source(&error).map(ToString::to_string);
            assert!(
                cause
                    .as_deref()
                    .is_some_and(|c| c.contains("not a regular file")),
                "{error}: {cause:?}"
            );
        }
        std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
        assert_eq!(list_images(dir.path()).unwrap().len(), 2);
    }
}
