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
    let interrupt = Interrupt::install()?;
    let bar = Bar::new(out.quiet).interruptible(&interrupt);
    super::consent_to_legacy(generators, args.install_dependencies);
    let result = match &args.latent {
        Some(file) => {
            let latent = read_latent(file)?;
            generators.generate_with_latent(
                &args.model,
                &request,
                latent,
                &args.output,
                format,
                &bar,
            )
        }
        None => generators.generate(&args.model, &request, &args.output, format, &bar),
    };
    let summary = match (result, interrupt.signal()) {
        (Err(medigan::Error::Generate(GenerateError::Cancelled)), Some(signal)) => {
            return interrupted(args, signal);
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
            "manifest": summary.manifest,
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
            summary.manifest.display()
        ))?;
    }
    super::success()
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
