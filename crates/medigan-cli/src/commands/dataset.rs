//! `medigan dataset verify|merge DIR`.

use std::path::Path;
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
            // A store URL is verified on a staged copy (bounded by MEDIGAN_STORE_MAX_BYTES),
            // reported under its URL.
            let (dir, staged) = crate::stores::input(&args.dir)?;
            let mut verification = dataset::verify(&dir)?;
            if staged.is_some() {
                shown_as(&mut verification, &dir, &args.dir);
            }
            print_verification(&verification, out)?;
            if !verification.is_ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        DatasetCommand::Merge(args) => match merge(&args.dir) {
            Ok((merged, shown_path)) => {
                let manifest = &merged.manifest;
                if out.json {
                    render::json(&json!({
                        "dataset_manifest": shown_path,
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
                        shown_path,
                        manifest.root_sha256
                    ))?;
                }
            }
            Err(error) => match error.downcast::<DatasetError>() {
                Ok(DatasetError::NotVerified(verification)) => {
                    print_verification(&verification, out)?;
                    return Err(DatasetError::NotVerified(verification).into());
                }
                Ok(error) => return Err(error.into()),
                Err(error) => return Err(error),
            },
        },
    }
    super::success()
}

/// Merges the dataset in `dir` (a folder or a store URL: staged, merged, and its
/// `dataset-manifest.json` uploaded); the merge and the manifest's path or URL.
fn merge(dir: &Path) -> anyhow::Result<(dataset::Merged, String)> {
    #[cfg(feature = "object-store")]
    if let Some(staged) = crate::stores::output(dir, crate::stores::Selection::All)? {
        let merged = match dataset::merge(staged.dir()) {
            Ok(merged) => merged,
            Err(DatasetError::NotVerified(mut verification)) => {
                shown_as(&mut verification, staged.dir(), dir);
                return Err(DatasetError::NotVerified(verification).into());
            }
            Err(error) => return Err(error.into()),
        };
        staged.upload(medigan::remote::Upload::Final)?;
        let shown = staged.url_of(&merged.path);
        return Ok((merged, shown));
    }
    #[cfg(not(feature = "object-store"))]
    crate::stores::refuse_url(dir)?;
    let merged = dataset::merge(dir)?;
    let shown = merged.path.display().to_string();
    Ok((merged, shown))
}

/// A verification of a staged copy in `staged`, said of the store `url` it came from.
fn shown_as(verification: &mut Verification, staged: &Path, url: &Path) {
    let from = staged.display().to_string();
    let to = url.display().to_string();
    verification.dir = url.to_path_buf();
    for problem in &mut verification.problems {
        problem.message = problem.message.replace(&from, &to);
    }
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
