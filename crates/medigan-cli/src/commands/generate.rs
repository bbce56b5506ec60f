//! `medigan generate MODEL -n N -o DIR ...`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use medigan::Generators;
use medigan::generate::GenerateRequest;
use medigan::output::Format;
use serde_json::json;

use crate::cli::GenerateArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Generates the requested samples into the output folder and reports what was written.
pub fn run(generators: &Generators, args: &GenerateArgs, out: Output) -> anyhow::Result<ExitCode> {
    let request = request(args)?;
    let format: Format = args.format.parse().map_err(medigan::Error::from)?;
    let bar = Bar::new(out.quiet);
    if args.install_dependencies {
        let mut legacy = generators.legacy_settings();
        legacy.install_dependencies = true;
        generators.set_legacy_settings(legacy);
    }
    let summary = match &args.latent {
        Some(file) => {
            let latent = read_latent(file)?;
            generators.generate_with_latent(
                &args.model,
                &request,
                latent,
                &args.output,
                format,
                &bar,
            )?
        }
        None => generators.generate(&args.model, &request, &args.output, format, &bar)?,
    };
    let entry = generators.get_config_by_id(&args.model)?;
    if !medigan::legacy::is_legacy(entry) {
        let model = generators.load_model(&args.model, &bar)?;
        if let Some(hint) = model.take_hint() {
            render::note(out.quiet, format!("note: {hint}"));
        }
    }
    let model_id = entry.id.clone();
    let rate = summary.samples as f64 / summary.elapsed.as_secs_f64().max(1e-9);
    if out.json {
        render::json(&json!({
            "model_id": model_id,
            "samples": summary.samples,
            "files": summary.files,
            "manifest": summary.manifest,
            "seconds": summary.elapsed.as_secs_f64(),
        }))?;
    } else {
        render::line(format!(
            "Wrote {} ({}) of {} to {} in {:.2} s ({rate:.0} samples/s)\nmanifest: {}",
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

fn request(args: &GenerateArgs) -> anyhow::Result<GenerateRequest> {
    let shard = args
        .shard
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(medigan::Error::from)?;
    Ok(GenerateRequest {
        num_samples: args.num_samples,
        seed: args.seed,
        batch_size: args.batch,
        label: args.label.clone(),
        inputs: args.inputs.clone(),
        shard,
        threads: args.threads,
        options: options(&args.options)?,
    })
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
