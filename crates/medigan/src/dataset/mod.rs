//! Datasets made of runs: read the manifests that runs and shards write, verify that they form
//! one complete, intact dataset, and merge them into one dataset manifest with a root digest.
//!
//! A dataset is a folder (and its subfolders, to a few levels) holding the manifests of one run:
//! `manifest.jsonl` for an unsharded run, or `manifest-shard-K-of-N.jsonl` for K = 1..N, each
//! listing its files with their sha256 (see [`manifest`], the one description of the format). [`verify`] checks every listed
//! file, that the shards cover samples `0..num_samples` exactly once, and that all manifests
//! come from the same run; [`merge`] then writes `dataset-manifest.json`, whose root digest
//! ([`ROOT_DIGEST_DEFINITION`]) is the same for any two folders holding the same files, however
//! they were sharded.

mod dataset_manifest;
pub mod manifest;
mod merge;
mod verify;

use crate::error::Hint;
use std::path::PathBuf;

pub use dataset_manifest::{
    DATASET_MANIFEST_NAME, DATASET_MANIFEST_VERSION, DatasetManifest, ManifestSummary,
    ROOT_DIGEST_DEFINITION,
};
pub use manifest::{
    MANIFEST_NAME, MAX_DEPTH, MAX_LINE_BYTES, ManifestHeader, ManifestLine, ManifestName,
};
pub use merge::{Merged, merge};
pub use verify::{MAX_LISTED_PROBLEMS, Problem, ProblemKind, Verification, verify};

/// Errors of dataset commands (a dataset's own defects are [`Problem`]s, not errors).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The dataset folder cannot be read.
    #[error("cannot read the dataset folder `{}`: {cause}", path.display())]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Merge was asked for a dataset that does not verify.
    #[error(
        "`{}` does not verify ({} problems), so no dataset manifest was written",
        .0.dir.display(),
        .0.problems.len() as u64 + .0.problems_left_out
    )]
    NotVerified(Box<Verification>),
    /// The dataset manifest could not be written.
    #[error("cannot write `{}`: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Hint for DatasetError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            DatasetError::NotVerified(v) => Some(
                format!(
                    "`medigan dataset verify {}` lists every problem",
                    v.dir.display()
                )
                .into(),
            ),
            _ => None,
        }
    }
}

/// The line of one file in the root digest: `INDEX<TAB>FILE<TAB>SHA256<LF>`.
pub fn root_digest_line(entry: &ManifestLine) -> String {
    format!(
        "{}\t{}\t{}\n",
        entry.index,
        entry.file,
        entry.sha256.to_ascii_lowercase()
    )
}
