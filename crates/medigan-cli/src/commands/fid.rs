//! `medigan fid REAL SYNTH`, and what `medigan evaluate` shares with it: choosing the
//! extractor, the options, and printing reports.

use std::process::ExitCode;

use anyhow::{Context, bail};
use medigan::Generators;
use medigan::evaluate::{
    EvaluateOptions, Evaluation, ExtractorSource, FeatureOptions, InputNormalization, KidOptions,
    MetricOptions, MetricSet, OnnxExtractorConfig, OnnxExtractorSpec, ReadOptions,
};
use serde_json::{Value, json};

use crate::cli::{ExtractionArgs, ExtractorArg, FidArgs};
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Computes the FID (and the metrics of `--metrics`) of two folders and prints it.
pub fn run(generators: &Generators, args: &FidArgs, out: Output) -> anyhow::Result<ExitCode> {
    super::metrics::run_folders(generators, args, MetricSet::FID, out)
}

/// The extractor and options the flags ask for.
pub struct Extraction {
    /// The extractor.
    pub source: Box<dyn ExtractorSource>,
    /// How sets are embedded and split.
    pub options: EvaluateOptions,
    /// The catalogue key of the metric.
    pub metric_key: String,
}

impl Extraction {
    /// Resolves the flags: loads (fetching if needed) the Inception weights or checks the ONNX
    /// extractor's declaration.
    pub fn resolve(
        generators: &Generators,
        args: &ExtractionArgs,
        out: Output,
    ) -> anyhow::Result<Extraction> {
        Self::resolve_with(generators, args, MetricSet::FID, out)
    }

    /// [`Extraction::resolve`] with the metrics computed when `--metrics` is not given.
    pub fn resolve_with(
        generators: &Generators,
        args: &ExtractionArgs,
        default_metrics: MetricSet,
        out: Output,
    ) -> anyhow::Result<Extraction> {
        let metrics = metric_options(args, default_metrics)?;
        let (source, default_key): (Box<dyn ExtractorSource>, String) = match &args.extractor {
            ExtractorArg::Inception => {
                for (flag, given) in [
                    ("--input-size", args.input_size.is_some()),
                    ("--mean", args.mean.is_some()),
                    ("--output-name", args.output_name.is_some()),
                ] {
                    if given {
                        bail!("{flag} applies to ONNX extractors (--extractor onnx:PATH) only");
                    }
                }
                let bar = Bar::new(out.quiet);
                let source = generators.fid_inception(args.inception_weights.as_deref(), &bar)?;
                (Box::new(source), "FID".to_string())
            }
            ExtractorArg::Onnx(path) => {
                let config = OnnxExtractorConfig {
                    graph: path.clone(),
                    input_size: args.input_size.as_deref().map(parse_size).transpose()?,
                    normalization: InputNormalization {
                        range: args.range,
                        mean_std: match (&args.mean, &args.std) {
                            (Some(mean), Some(std)) => {
                                Some((parse_triple("--mean", mean)?, parse_triple("--std", std)?))
                            }
                            _ => None,
                        },
                    },
                    output: args.output_name.clone(),
                    backend: generators.settings().backend,
                };
                let spec = OnnxExtractorSpec::resolve(config)?;
                let stem = path
                    .file_stem()
                    .map_or_else(|| "ONNX".into(), |s| s.to_string_lossy().to_uppercase());
                (Box::new(spec), format!("FID_{stem}"))
            }
        };
        let options = EvaluateOptions {
            features: FeatureOptions {
                batch_size: args.batch,
                threads: args.threads,
                min_max: args.normalize,
                read: ReadOptions {
                    npy_range: args.npy_range,
                },
            },
            split_seed: args.split_seed,
            cache_dir: args.cache_features.clone(),
            metrics,
        };
        Ok(Extraction {
            source,
            options,
            metric_key: args.metric_key.clone().unwrap_or(default_key),
        })
    }
}

/// The metric options of the flags.
fn metric_options(args: &ExtractionArgs, default: MetricSet) -> anyhow::Result<MetricOptions> {
    let metrics = match &args.metrics {
        Some(list) => MetricSet::parse(list)?,
        None => default,
    };
    if args.repeats == 0 {
        bail!("invalid --repeats `0`: at least 1 (1: one evaluation, no interval)");
    }
    Ok(MetricOptions {
        metrics,
        kid: KidOptions {
            subsets: args.kid_subsets,
            subset_size: args.kid_subset_size,
            seed: args.resample_seed,
        },
        nearest_k: args.nearest_k,
        repeats: args.repeats,
    })
}

/// Prints reports as tables and the catalogue lines, or as JSON.
pub fn print_reports(reports: &[Evaluation], metric_key: &str, out: Output) -> anyhow::Result<()> {
    if out.json {
        let items: Vec<Value> = reports.iter().map(|r| r.to_json(metric_key)).collect();
        return render::json(&json!({ "metric": metric_key, "reports": items }));
    }
    let optional = |v: Option<f64>, decimals: usize| {
        v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
    };
    let fid_reports: Vec<_> = reports.iter().filter_map(|r| r.fid.as_ref()).collect();
    if !fid_reports.is_empty() {
        let mut table = render::table(&[
            "subject",
            "extractor",
            "FID_rs",
            "FID_rr",
            "rFID",
            "real",
            "synthetic",
            "normalised",
        ]);
        for r in fid_reports {
            table.add_row(vec![
                r.subject.clone(),
                r.extractor.clone(),
                distance_text(r.fid_rs),
                r.fid_rr.map_or_else(|| "-".to_string(), distance_text),
                optional(r.fid_ratio, 3),
                r.real_images.to_string(),
                r.synthetic_images.to_string(),
                if r.normalized { "yes" } else { "no" }.to_string(),
            ]);
        }
        render::print_table(&table, "no results")?;
        for note in reports.iter().filter_map(|r| r.fid.as_ref()?.ratio_note()) {
            render::note(out.quiet, format!("note: {note}"));
        }
    }
    super::metrics::print_other_metrics(reports)?;
    for r in reports {
        let entry = r.catalog_performance(metric_key);
        let performance = &entry["selection"]["performance"];
        let text = serde_json::to_string_pretty(performance).context("format the entry")?;
        render::line(format!(
            "\n{} (paste into selection.performance of its catalogue entry):\n{text}",
            r.subject
        ))?;
    }
    Ok(())
}

/// A distance for the table: two decimals from 1 up, else four significant digits (a small
/// FID is not `0.00`); values within rounding noise of zero, negative zero included, are `0`.
fn distance_text(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() < 1e-9 {
        return "0".into();
    }
    if value.abs() >= 1.0 {
        return format!("{value:.2}");
    }
    let decimals = (3.0 - value.abs().log10().floor()).clamp(2.0, 12.0) as usize;
    format!("{value:.decimals$}")
}

fn parse_numbers(flag: &str, text: &str) -> anyhow::Result<Vec<f32>> {
    text.split(',')
        .map(|p| {
            p.trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| format!("invalid {flag} `{text}`: `{}` is not a number", p.trim()))
        })
        .collect()
}

fn parse_triple(flag: &str, text: &str) -> anyhow::Result<[f32; 3]> {
    match parse_numbers(flag, text)?.as_slice() {
        [r, g, b] => Ok([*r, *g, *b]),
        [v] => Ok([*v; 3]),
        _ => bail!("invalid {flag} `{text}`: expected one value or three (R,G,B)"),
    }
}

fn parse_size(text: &str) -> anyhow::Result<[usize; 2]> {
    let parts: Vec<Option<usize>> = text
        .split(['x', 'X'])
        .map(|p| p.trim().parse().ok().filter(|&n| n > 0))
        .collect();
    match parts.as_slice() {
        [Some(n)] => Ok([*n, *n]),
        [Some(h), Some(w)] => Ok([*h, *w]),
        _ => bail!("invalid --input-size `{text}`: expected N or HxW, e.g. 224 or 256x192"),
    }
}

#[cfg(test)]
mod tests {
    use super::distance_text;

    #[test]
    fn small_distances_keep_their_digits_and_zero_has_no_sign() {
        assert_eq!(distance_text(0.0034), "0.003400");
        assert_eq!(distance_text(-0.0), "0");
        assert_eq!(distance_text(-1e-12), "0");
        assert_eq!(distance_text(67.6), "67.60");
        assert_eq!(distance_text(0.5), "0.5000");
    }
}
