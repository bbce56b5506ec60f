//! A feature cache: a set embedded once is found again by its content and extractor.
//!
//! ```text
//! <cache dir>/
//! ├── <key>.npy    the features, float32 N x D (plain .npy: numpy.load reads it)
//! └── <key>.json   what the key stands for: extractor, input size, normalisation, image count
//! ```
//! `<key>` is the sha256 of a text naming the format version, the extractor and the sha256 of
//! its weights (so two weight files never share an entry, whatever the extractor's name), its
//! input size and normalisation, the min-max option, the npy range, and the set's digest: the
//! sha256 over every image's sha256 in set order. A changed image, option, extractor or weights
//! file gives another key; nothing is ever stale.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Ix2};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::EvaluateError;
use super::extractor::ExtractorSource;
use super::features::FeatureOptions;
use super::images::ImageSource;
use crate::formats::npy;
use crate::fs::write_atomically;

/// The digest of a set: sha256 over the sha256 of each image (file bytes, or the array's
/// shape and float32 values), in set order.
pub fn set_digest(images: &[ImageSource]) -> Result<String, EvaluateError> {
    let mut all = Sha256::new();
    for image in images {
        let digest = match image {
            ImageSource::File(path) => {
                let bytes = std::fs::read(path).map_err(EvaluateError::io("read", path))?;
                Sha256::digest(&bytes)
            }
            ImageSource::Slice { volume, index } => {
                let mut h = Sha256::new();
                h.update(volume.sha256()?);
                h.update((*index as u64).to_le_bytes());
                h.finalize()
            }
            ImageSource::Array(array) => {
                let mut h = Sha256::new();
                for d in array.shape() {
                    h.update((*d as u64).to_le_bytes());
                }
                for v in array.iter() {
                    h.update(v.to_le_bytes());
                }
                h.finalize()
            }
        };
        all.update(digest);
    }
    Ok(hex::encode(all.finalize()))
}

/// The cache key of a set embedded by `source` with `options`.
pub fn cache_key(digest: &str, source: &dyn ExtractorSource, options: &FeatureOptions) -> String {
    let [h, w] = source.input_size();
    let text = format!(
        "medigan-features-v2\nextractor={}\nweights={}\nsize={h}x{w}\n{}\nmin_max={}\nnpy_range={:?}\nset={digest}\n",
        source.name(),
        source.sha256().as_deref().unwrap_or("-"),
        source.normalization().describe(),
        options.min_max,
        options.read.npy_range,
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A directory of cached feature sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCache {
    dir: PathBuf,
}

impl FeatureCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> FeatureCache {
        FeatureCache { dir: dir.into() }
    }

    /// The `.npy` file of a key.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.npy"))
    }

    /// The cached features of `key`, if there are any for `count` images of `dims` features.
    /// A damaged entry (unreadable, not a 2-D array of that shape, larger than such an array,
    /// not a regular file) is warned about and reads as absent: the features are computed
    /// again and [`FeatureCache::put`] replaces it.
    pub fn get(
        &self,
        key: &str,
        count: usize,
        dims: usize,
    ) -> Result<Option<Array2<f32>>, EvaluateError> {
        let path = self.path(key);
        match self.read(&path, count, dims) {
            Ok(found) => Ok(found),
            Err(error) => {
                tracing::warn!("{error}; computing the features again");
                Ok(None)
            }
        }
    }

    fn read(
        &self,
        path: &Path,
        count: usize,
        dims: usize,
    ) -> Result<Option<Array2<f32>>, EvaluateError> {
        let damaged = |reason: String| EvaluateError::Cache {
            path: path.to_path_buf(),
            reason,
        };
        // The array, and a header of at most 64 KiB.
        let max_bytes = (count as u64)
            .saturating_mul(dims as u64)
            .saturating_mul(4)
            .saturating_add(64 << 10);
        let bytes = match crate::fs::read_regular(path, crate::fs::Links::Refuse, max_bytes) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(damaged(e.to_string())),
        };
        let (array, _) = npy::decode(&bytes).map_err(|e| damaged(e.to_string()))?;
        let array = array
            .into_dimensionality::<Ix2>()
            .map_err(|_| damaged("not a 2-D array".into()))?;
        if array.dim() != (count, dims) {
            return Err(damaged(format!(
                "holds {}x{} features, expected {count}x{dims}",
                array.nrows(),
                array.ncols()
            )));
        }
        Ok(Some(array))
    }

    /// Stores features under `key` (atomically: a temporary file renamed into place), with a
    /// JSON description beside them.
    pub fn put(
        &self,
        key: &str,
        features: &Array2<f32>,
        source: &dyn ExtractorSource,
        options: &FeatureOptions,
        label: &str,
    ) -> Result<PathBuf, EvaluateError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(EvaluateError::io("create the folder", &self.dir))?;
        let path = self.path(key);
        let bytes = npy::encode(features).map_err(|reason| EvaluateError::Cache {
            path: path.clone(),
            reason,
        })?;
        write_atomic(&path, &bytes)?;
        let [h, w] = source.input_size();
        let description = json!({
            "set": label,
            "images": features.nrows(),
            "feature_dims": features.ncols(),
            "extractor": source.name(),
            "weights_sha256": source.sha256(),
            "input_size": [h, w],
            "normalization": source.normalization().describe(),
            "min_max": options.min_max,
            "npy_range": options.read.npy_range,
            "tool": concat!("medigan-rs ", env!("CARGO_PKG_VERSION")),
        });
        let text = serde_json::to_vec_pretty(&description).unwrap_or_default();
        write_atomic(&path.with_extension("json"), &text)?;
        Ok(path)
    }
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), EvaluateError> {
    write_atomically(path, bytes).map_err(EvaluateError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 26, finding 14: a damaged `--cache-features` entry was a hard error instead of
    /// being computed again.
    #[test]
    fn regression_26_a_damaged_entry_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        std::fs::write(cache.path("k"), b"\x93NUMPY damaged").unwrap();
        assert!(cache.get("k", 2, 3).unwrap().is_none());
        let good = npy::encode(&Array2::<f32>::zeros((2, 3))).unwrap();
        std::fs::write(cache.path("k"), &good).unwrap();
        assert!(cache.get("k", 2, 4).unwrap().is_none(), "another shape");
        assert_eq!(cache.get("k", 2, 3).unwrap().unwrap().dim(), (2, 3));
        assert!(cache.get("absent", 2, 3).unwrap().is_none());
    }
}
