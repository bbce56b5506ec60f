//! `medigan generate MODEL -n N -o DIR ...`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use medigan::Generators;
use medigan::generate::{
    DiffusionOptions, GenerateError, GenerateRequest, Pack, RunMode, Shard, ShardRequest,
};
use serde_json::json;

use crate::cli::{GenerateArgs, PackKind};
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;
use crate::signals::Interrupt;

/// Generates the requested samples into the output folder and reports what was written.
pub fn run(generators: &Generators, args: &GenerateArgs, out: Output) -> anyhow::Result<ExitCode> {
    let request = request(args, out)?;
    let format = args.format;
    // A store URL: opened, checked writable and its earlier run staged locally before any
    // sample is generated.
    #[cfg(feature = "object-store")]
    let staged = crate::stores::output(&args.output, selection(&request))?;
    #[cfg(feature = "object-store")]
    let dir = staged
        .as_ref()
        .map_or_else(|| args.output.clone(), |s| s.dir().to_path_buf());
    #[cfg(not(feature = "object-store"))]
    let dir = {
        crate::stores::refuse_url(&args.output)?;
        args.output.clone()
    };
    let interrupt = Interrupt::install()?;
    let bar = Bar::new(out.quiet).interruptible(&interrupt);
    super::consent_to_legacy(generators, args.install_dependencies);
    let latent = args.latent.as_deref().map(read_latent).transpose()?;
    let generate = |progress: &dyn medigan::progress::Progress| match &latent {
        Some(latent) => generators.generate_with_latent(
            &args.model,
            &request,
            latent.clone(),
            &dir,
            format,
            progress,
        ),
        None => generators.generate(&args.model, &request, &dir, format, progress),
    };
    #[cfg(feature = "object-store")]
    let result = match &staged {
        Some(staged) => {
            let (result, store_failed) = crate::stores::with_uploads(staged, &bar, generate);
            if let Some(error) = store_failed {
                return Err(anyhow::Error::new(error).context(format!(
                    "the run stopped: uploading its samples to `{}` failed",
                    staged.remote().url()
                )));
            }
            // What the run wrote goes to the store even when it failed or was interrupted:
            // its journal and files let `--resume` continue from the store.
            upload(staged, result.is_ok(), out)?;
            result
        }
        None => generate(&bar),
    };
    #[cfg(not(feature = "object-store"))]
    let result = generate(&bar);
    #[cfg(feature = "object-store")]
    let shown = |path: &std::path::Path| {
        staged
            .as_ref()
            .map_or_else(|| path.display().to_string(), |s| s.url_of(path))
    };
    #[cfg(not(feature = "object-store"))]
    let shown = |path: &std::path::Path| path.display().to_string();
    let summary = match (result, interrupt.signal()) {
        (Err(medigan::Error::Generate(GenerateError::Cancelled)), Some(signal)) => {
            return interrupted(args, signal);
        }
        #[cfg(feature = "object-store")]
        (Err(error), _) if staged.is_some() => {
            let (url, dir) = staged
                .as_ref()
                .map(|s| (s.remote().url().to_string(), s.dir().display().to_string()))
                .unwrap_or_default();
            return Err(anyhow::Error::new(error).context(format!(
                "generating into `{url}` (staged in `{dir}`) failed"
            )));
        }
        (result, _) => result?,
    };
    for note in &summary.notes {
        render::note(out.quiet, format!("note: {note}"));
    }
    let model_id = generators.get_config_by_id(&args.model)?.id.clone();
    // The rate of what was generated now, without loading the model and opening its sessions.
    let generated = summary.samples - summary.resumed;
    let rate = generated as f64 / summary.generating.as_secs_f64().max(1e-9);
    if out.json {
        render::json(&json!({
            "model_id": model_id,
            "samples": summary.samples,
            "files": summary.files,
            "resumed": summary.resumed,
            "manifest": shown(&summary.manifest),
            "seconds": summary.elapsed.as_secs_f64(),
            "generating_seconds": summary.generating.as_secs_f64(),
            "samples_per_second": rate,
        }))?;
    } else {
        if summary.resumed > 0 {
            render::note(
                out.quiet,
                format!(
                    "kept {} samples of the earlier run (their sha256 matched its record)",
                    summary.resumed
                ),
            );
        }
        render::line(format!(
            "Wrote {} ({}) of {} to {} in {:.2} s ({rate:.0} samples/s once loaded)\nmanifest: {}",
            render::count(summary.samples, "sample"),
            render::count(summary.files, "file"),
            model_id,
            args.output.display(),
            summary.elapsed.as_secs_f64(),
            shown(&summary.manifest)
        ))?;
    }
    super::success()
}

/// What of a store is staged before a run: a fresh run needs only the records (to refuse an
/// earlier run), a resumed or overwritten one also the files its own shard's records list.
#[cfg(feature = "object-store")]
fn selection(request: &GenerateRequest) -> crate::stores::Selection {
    match request.mode {
        RunMode::Fresh => crate::stores::Selection::Records,
        RunMode::Resume | RunMode::Overwrite => crate::stores::Selection::Run {
            manifest: medigan::output::manifest_name(request.shard.map(|s| (s.index, s.count))),
        },
    }
}

/// Sends the staged run to its store. A failed upload fails a successful run (with the
/// store's hint: `--resume` continues); after a failed run it is said, and the run's own
/// error is the one reported.
#[cfg(feature = "object-store")]
fn upload(staged: &crate::stores::Staged, run_ok: bool, out: Output) -> anyhow::Result<()> {
    match staged.upload(medigan::remote::Upload::Final) {
        Ok(uploaded) => {
            tracing::info!(
                "uploaded {} files ({} bytes) to {}; {} unchanged, {} removed",
                uploaded.files,
                uploaded.bytes,
                staged.remote().url(),
                uploaded.unchanged,
                uploaded.removed
            );
            Ok(())
        }
        Err(error) if run_ok => Err(anyhow::Error::new(error).context(format!(
            "the samples were generated, but not all of them reached `{}`",
            staged.remote().url()
        ))),
        Err(error) => {
            render::note(
                out.quiet,
                format!("note: the files written so far could not be uploaded either: {error}"),
            );
            Ok(())
        }
    }
}

/// A run stopped by SIGINT or SIGTERM between batches: its journal stays for `--resume`; exits
/// with 128 + the signal number, as a shell reports a process the signal ended. Said even
/// with `-q`, like any failure.
fn interrupted(args: &GenerateArgs, signal: i32) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "error: interrupted by signal {signal}; the samples written so far stay in `{}`\n\
         hint: continue with the same command and --resume",
        args.output.display()
    );
    Ok(ExitCode::from(u8::try_from(128 + signal).unwrap_or(1)))
}

fn request(args: &GenerateArgs, out: Output) -> anyhow::Result<GenerateRequest> {
    let shard = shard(args, out)?;
    Ok(GenerateRequest {
        num_samples: args.num_samples,
        seed: args.seed,
        batch_size: args.batch,
        label: args.label.clone(),
        inputs: args.inputs.clone(),
        shard,
        threads: args.threads,
        options: options(&args.options)?,
        mode: run_mode(args),
        pack: args.pack.map(|PackKind::Tar| Pack {
            samples_per_tar: args.samples_per_shard,
        }),
        diffusion: DiffusionOptions {
            steps: args.steps.map(|s| s as usize),
            scheduler: args.scheduler.clone(),
            guidance: args.guidance,
            spacing: args.spacing.clone(),
            prompt: args.prompt.clone(),
        },
        initial_noise: args.initial_noise.clone(),
    })
}

/// `--overwrite`, `--resume`, or a fresh run (the library's [`ShardRequest::run_mode`] makes
/// `--shard auto` resume).
fn run_mode(args: &GenerateArgs) -> RunMode {
    let mode = if args.overwrite {
        RunMode::Overwrite
    } else if args.resume {
        RunMode::Resume
    } else {
        RunMode::Fresh
    };
    shard_request(args).run_mode(mode)
}

fn shard_request(args: &GenerateArgs) -> ShardRequest {
    ShardRequest {
        choice: args.shard,
        shards: args.shards,
    }
}

/// The shard of `--shard K/N`, or of `--shard auto` from the scheduler's environment (said on
/// stderr, so a job's log shows which shard it ran).
fn shard(args: &GenerateArgs, out: Output) -> anyhow::Result<Option<Shard>> {
    let Some(resolved) = shard_request(args).resolve()? else {
        return Ok(None);
    };
    if let Some(origin) = &resolved.origin {
        render::note(
            out.quiet,
            format!("shard {} from the {origin}", resolved.shard),
        );
    }
    Ok(Some(resolved.shard))
}

/// The latent of `--latent`: the `latent` of a file saved by the visualiser, or a JSON array.
fn read_latent(file: &std::path::Path) -> anyhow::Result<Vec<f32>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read --latent `{}`: {e}", file.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--latent `{}` is not JSON: {e}", file.display()))?;
    let array = value.get("latent").unwrap_or(&value);
    serde_json::from_value(array.clone()).map_err(|_| {
        anyhow::anyhow!(
            "--latent `{}` holds no latent: expected a JSON array of numbers or an object with \
             one under `latent` (as `medigan visualize` saves)",
            file.display()
        )
    })
}

fn options(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut options = BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("invalid --set `{pair}`: expected KEY=VALUE");
        };
        options.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(options)
}
