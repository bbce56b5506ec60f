//! A feature cache: a set embedded once is found again by its content and extractor.
//!
//! ```text
//! <cache dir>/
//! ├── <key>.npy    the features, float32 N x D (plain .npy: numpy.load reads it)
//! └── <key>.json   what the key stands for: extractor, input size, normalisation, image count
//! ```
//! `<key>` is the sha256 of a text naming the format version, the extractor (its name holds
//! the hash of its weights), its input size and normalisation, the min-max option, the npy
//! range, and the set's digest: the sha256 over every image's sha256 in set order. A changed
//! image, option or extractor gives another key; nothing is ever stale.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Ix2};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::EvaluateError;
use super::extractor::ExtractorSource;
use super::features::FeatureOptions;
use super::images::{ImageSource, parse_npy};

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
            ImageSource::Slice { path, index } => {
                let bytes = std::fs::read(path).map_err(EvaluateError::io("read", path))?;
                let mut h = Sha256::new();
                h.update(Sha256::digest(&bytes));
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
        "medigan-features-v1\nextractor={}\nsize={h}x{w}\n{}\nmin_max={}\nnpy_range={:?}\nset={digest}\n",
        source.name(),
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
    pub fn get(
        &self,
        key: &str,
        count: usize,
        dims: usize,
    ) -> Result<Option<Array2<f32>>, EvaluateError> {
        let path = self.path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EvaluateError::io("read", &path)(e)),
        };
        let damaged = |reason: String| EvaluateError::Cache {
            path: path.clone(),
            reason,
        };
        let (array, _) = parse_npy(&bytes).map_err(damaged)?;
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
        write_atomic(&self.dir, &path, &npy_bytes(features))?;
        let [h, w] = source.input_size();
        let description = json!({
            "set": label,
            "images": features.nrows(),
            "feature_dims": features.ncols(),
            "extractor": source.name(),
            "input_size": [h, w],
            "normalization": source.normalization().describe(),
            "min_max": options.min_max,
            "npy_range": options.read.npy_range,
            "tool": concat!("medigan-rs ", env!("CARGO_PKG_VERSION")),
        });
        let text = serde_json::to_vec_pretty(&description).unwrap_or_default();
        write_atomic(&self.dir, &path.with_extension("json"), &text)?;
        Ok(path)
    }
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), EvaluateError> {
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(EvaluateError::io("create a file in", dir))?;
    tmp.write_all(bytes)
        .map_err(EvaluateError::io("write", tmp.path().to_path_buf()))?;
    tmp.persist(path)
        .map_err(|e| EvaluateError::io("write", path)(e.error))?;
    Ok(())
}

/// A float32 C-order `.npy` (format 1.0) of a 2-D array.
pub fn npy_bytes(array: &Array2<f32>) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        array.nrows(),
        array.ncols()
    );
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.reserve(array.len() * 4);
    for v in array.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
