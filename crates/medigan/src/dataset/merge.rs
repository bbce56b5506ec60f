//! `dataset merge`: one `dataset-manifest.json` for a verified dataset, with the root digest
//! that lets two sites compare whole datasets by one hash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DatasetError;
use super::verify::{ManifestSummary, verify_with};
use crate::files::write_atomically;

/// File name of the merged dataset manifest, in the dataset folder.
pub const DATASET_MANIFEST_NAME: &str = "dataset-manifest.json";
/// Version of the `dataset-manifest.json` format.
pub const DATASET_MANIFEST_VERSION: u32 = 1;
/// What the root digest is, as written in the dataset manifest beside it.
pub const ROOT_DIGEST_DEFINITION: &str = "sha256 of the lines `INDEX<TAB>FILE<TAB>SHA256<LF>` of \
    every file of every manifest (FILE as the manifest names it, SHA256 in lower-case hex), \
    sorted by sample index, then file name";

/// The merged manifest of a dataset (`dataset-manifest.json`). The per-file lines stay in the
/// run's manifests, each pinned here by its sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// [`DATASET_MANIFEST_VERSION`].
    pub dataset_manifest: u32,
    /// The tool that merged it.
    pub tool: String,
    /// The model id.
    pub model_id: String,
    /// The model version, if declared.
    pub model_version: Option<String>,
    /// sha256 of the model package.
    pub package_sha256: String,
    /// The run seed.
    pub seed: u64,
    /// Samples in the dataset.
    pub num_samples: u64,
    /// File format.
    pub format: String,
    /// How values were mapped to the file type.
    pub value_mapping: Option<String>,
    /// The run's arguments that decide the files (all but the batch size).
    pub arguments: Value,
    /// Files in the dataset (images and masks).
    pub files: u64,
    /// The run's manifests, in the order of their samples.
    pub shards: Vec<ManifestSummary>,
    /// The root digest: [`ROOT_DIGEST_DEFINITION`].
    pub root_sha256: String,
    /// [`ROOT_DIGEST_DEFINITION`], so the file explains itself.
    pub root_sha256_of: String,
}

impl DatasetManifest {
    /// Reads a `dataset-manifest.json` (at most 64 MiB).
    pub fn read(path: &Path) -> Result<Self, String> {
        const MAX_BYTES: u64 = 64 << 20;
        let text = crate::files::read_regular(path, crate::files::Links::Refuse, MAX_BYTES)
            .map_err(|e| format!("cannot read it: {e}"))?;
        serde_json::from_slice(&text).map_err(|e| format!("it is not a dataset manifest: {e}"))
    }
}

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
