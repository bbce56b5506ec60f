//! `medigan dataset verify|merge DIR`.

use std::process::ExitCode;

use medigan::dataset::{self, DatasetError, Verification};
use serde_json::json;

use crate::cli::DatasetCommand;
use crate::render;
use crate::settings::Output;

/// Runs one `dataset` subcommand; exits 1 when the dataset has problems.
pub fn run(command: DatasetCommand, out: Output) -> anyhow::Result<ExitCode> {
    match command {
        DatasetCommand::Verify(args) => {
            let verification = dataset::verify(&args.dir)?;
            print_verification(&verification, out)?;
            if !verification.is_ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        DatasetCommand::Merge(args) => match dataset::merge(&args.dir) {
            Ok(merged) => {
                let manifest = &merged.manifest;
                if out.json {
                    render::json(&json!({
                        "dataset_manifest": merged.path,
                        "root_sha256": manifest.root_sha256,
                        "files": manifest.files,
                        "shards": manifest.shards.len(),
                        "num_samples": manifest.num_samples,
                        "model_id": manifest.model_id,
                    }))?;
                } else {
                    render::line(format!(
                        "Merged {} shard manifests ({} files, {} samples of {}) into {}\n\
                         root sha256: {}",
                        manifest.shards.len(),
                        manifest.files,
                        manifest.num_samples,
                        manifest.model_id,
                        merged.path.display(),
                        manifest.root_sha256
                    ))?;
                }
            }
            Err(DatasetError::NotVerified(verification)) => {
                print_verification(&verification, out)?;
                return Err(DatasetError::NotVerified(verification).into());
            }
            Err(error) => return Err(error.into()),
        },
    }
    super::success()
}

/// The verification as JSON, or one line per problem and a summary line.
fn print_verification(verification: &Verification, out: Output) -> anyhow::Result<()> {
    if out.json {
        let mut value = serde_json::to_value(verification)?;
        value["ok"] = json!(verification.is_ok());
        return render::json(&value);
    }
    for problem in &verification.problems {
        render::line(format!("{}: {}", kind_name(problem.kind), problem.message))?;
    }
    if verification.problems_left_out > 0 {
        render::line(format!(
            "... and {} more problems",
            verification.problems_left_out
        ))?;
    }
    let samples = verification
        .header
        .as_ref()
        .map(|h| format!(" ({} samples of {})", h.num_samples, h.model_id))
        .unwrap_or_default();
    if verification.is_ok() {
        render::line(format!(
            "ok: {} files in {} manifests{samples} match their sha256; the shards cover the run \
             exactly once\nroot sha256: {}",
            verification.files_checked,
            verification.manifests.len(),
            verification.root_sha256.as_deref().unwrap_or("-")
        ))
    } else {
        let count = verification.problems.len() as u64 + verification.problems_left_out;
        render::line(format!(
            "FAILED: {count} problem{} in `{}`{samples}",
            if count == 1 { "" } else { "s" },
            verification.dir.display()
        ))
    }
}

fn kind_name(kind: dataset::ProblemKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_else(|| "problem".into())
}
