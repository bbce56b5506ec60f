//! `dataset-manifest.json`: what `dataset merge` writes and `dataset verify` checks again, with
//! the summary of each run manifest it pins. Its own file so that `merge` and `verify` both
//! take it from here, neither from the other.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// File name of the merged dataset manifest, in the dataset folder.
pub const DATASET_MANIFEST_NAME: &str = "dataset-manifest.json";
/// Version of the `dataset-manifest.json` format.
pub const DATASET_MANIFEST_VERSION: u32 = 1;
/// Largest `dataset-manifest.json` read.
const MAX_DATASET_MANIFEST_BYTES: u64 = 64 << 20;
/// What the root digest is, as written in the dataset manifest beside it.
pub const ROOT_DIGEST_DEFINITION: &str = "sha256 of the lines `INDEX<TAB>FILE<TAB>SHA256<LF>` of \
    every file of every manifest (FILE as the manifest names it, SHA256 in lower-case hex), \
    sorted by sample index, then file name";

/// One manifest of a verified dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSummary {
    /// Its path relative to the dataset folder.
    pub manifest: String,
    /// `K/N`, or `None` for a whole run.
    pub shard: Option<String>,
    /// The sample indices it covers, `[start, end)`.
    pub indices: [u64; 2],
    /// Files it lists.
    pub files: u64,
    /// sha256 of its bytes.
    pub sha256: String,
}

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
        let text =
            crate::fs::read_regular(path, crate::fs::Links::Refuse, MAX_DATASET_MANIFEST_BYTES)
                .map_err(|e| format!("cannot read it: {e}"))?;
        serde_json::from_slice(&text).map_err(|e| format!("it is not a dataset manifest: {e}"))
    }
}
