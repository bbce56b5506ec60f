//! `dataset merge`: one `dataset-manifest.json` for a verified dataset, with the root digest
//! that lets two sites compare whole datasets by one hash.

use std::path::{Path, PathBuf};

use super::DatasetError;
use super::dataset_manifest::{
    DATASET_MANIFEST_NAME, DATASET_MANIFEST_VERSION, DatasetManifest, ROOT_DIGEST_DEFINITION,
};
use super::verify::verify_with;
use crate::fs::write_atomically;

/// What [`merge`] wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The dataset manifest's path.
    pub path: PathBuf,
    /// What it holds.
    pub manifest: DatasetManifest,
}

/// Verifies the dataset in `dir` and writes its `dataset-manifest.json` (atomically, replacing
/// an older one). A dataset with any problem gets none: the error carries the verification.
pub fn merge(dir: &Path) -> Result<Merged, DatasetError> {
    let verification = verify_with(dir, false)?;
    let (Some(header), Some(root)) = (&verification.header, &verification.root_sha256) else {
        return Err(DatasetError::NotVerified(Box::new(verification)));
    };
    if !verification.is_ok() {
        return Err(DatasetError::NotVerified(Box::new(verification)));
    }
    let manifest = DatasetManifest {
        dataset_manifest: DATASET_MANIFEST_VERSION,
        tool: concat!("medigan-rs ", env!("CARGO_PKG_VERSION")).to_string(),
        model_id: header.model_id.clone(),
        model_version: header.model_version.clone(),
        package_sha256: header.package_sha256.clone(),
        seed: header.seed,
        num_samples: header.num_samples,
        format: header.format.clone(),
        value_mapping: header.value_mapping.clone(),
        arguments: header.output_arguments(),
        files: verification.manifests.iter().map(|m| m.files).sum(),
        shards: verification.manifests.clone(),
        root_sha256: root.clone(),
        root_sha256_of: ROOT_DIGEST_DEFINITION.to_string(),
    };
    let path = dir.join(DATASET_MANIFEST_NAME);
    let mut bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| DatasetError::Write {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomically(&path, &bytes).map_err(|e| DatasetError::Write {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(Merged { path, manifest })
}
