//! Verification before anything is written: the legacy package and the converted one generate
//! the same seeds through the ordinary run path (`Generators::generate`, PNG files in scratch
//! folders), and their written images are compared pixel by pixel. A pixel one level off is
//! float rounding when the converted graph's value lies within the tolerance of a rounding
//! boundary (torch and the ONNX backend differ in the last bits); anything else differs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ConvertError;
use crate::generate::GenerateRequest;
use crate::output::Format;
use crate::progress::NoProgress;
use crate::sample::Sample;
use crate::{Generators, Result};

/// The agreement of one output (`image` or `mask`) over every compared file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutputAgreement {
    /// `image` or `mask`.
    pub output: String,
    /// Files compared.
    pub files: usize,
    /// 8-bit values compared.
    pub values: u64,
    /// Values one level off where the graph's value is within the tolerance of a rounding
    /// boundary.
    pub float_rounding: u64,
    /// Values that differ otherwise.
    pub differing: u64,
    /// Largest difference, in levels (0..255).
    pub max_abs_error: u8,
    /// Mean difference, in levels.
    pub mean_abs_error: f64,
    /// Files whose size or channels differ.
    pub shape_mismatches: Vec<String>,
}

impl OutputAgreement {
    /// The output's values as the summary and the card write them, the mean error with
    /// `mean_digits` decimals.
    fn cells(&self, mean_digits: usize) -> [String; 7] {
        [
            self.output.clone(),
            self.files.to_string(),
            self.values.to_string(),
            self.differing.to_string(),
            self.float_rounding.to_string(),
            self.max_abs_error.to_string(),
            format!("{:.*}", mean_digits, self.mean_abs_error),
        ]
    }
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Seeds compared per run.
    pub seeds: u64,
    /// The runs (`unconditional`, or one per class).
    pub runs: Vec<String>,
    /// The tolerance on graph values.
    pub tolerance: f64,
    /// Agreement per output.
    pub outputs: Vec<OutputAgreement>,
    /// Whether every output agrees within the tolerance.
    pub passed: bool,
}

/// One comparison run: the legacy package's label (its `condition`) and the native one's.
#[derive(Debug, Clone)]
pub struct Run {
    /// Name in the report.
    pub name: String,
    /// `--label` of the legacy run.
    pub legacy_label: Option<String>,
    /// `--label` of the native run.
    pub native_label: Option<String>,
}

/// What to compare.
#[derive(Debug)]
pub struct Check<'a> {
    /// The model id (the same in both catalogues).
    pub model_id: &'a str,
    /// `medigan.json` of the converted package.
    pub native_catalog: &'a Path,
    /// Value ranges of the native outputs, by output name (`image`, `mask`).
    pub ranges: BTreeMap<String, [f64; 2]>,
    /// Seeds per run.
    pub seeds: u64,
    /// Tolerance on graph values.
    pub tolerance: f64,
    /// The runs.
    pub runs: Vec<Run>,
    /// Scratch folder.
    pub work: &'a Path,
}

/// Generates every run both ways and compares the written images.
pub fn verify(legacy: &Generators, check: &Check<'_>) -> Result<Verification> {
    let native = super::folder_verify::native_generators(legacy, check.native_catalog);
    let mut outputs: BTreeMap<String, OutputAgreement> = BTreeMap::new();
    for (r, run) in check.runs.iter().enumerate() {
        let legacy_dir = check.work.join(format!("legacy-{r}"));
        let native_dir = check.work.join(format!("native-{r}"));
        let request = |label: &Option<String>| GenerateRequest {
            num_samples: check.seeds,
            seed: 0,
            label: label.clone(),
            ..GenerateRequest::default()
        };
        legacy.generate(
            check.model_id,
            &request(&run.legacy_label),
            &legacy_dir,
            Format::Png,
            &NoProgress,
        )?;
        let native_request = request(&run.native_label);
        native.generate(
            check.model_id,
            &native_request,
            &native_dir,
            Format::Png,
            &NoProgress,
        )?;
        let values = native
            .generate_samples(check.model_id, &native_request)?
            .samples;
        compare_dirs(&legacy_dir, &native_dir, &values, check, &mut outputs)?;
    }
    let outputs: Vec<OutputAgreement> = outputs.into_values().collect();
    let passed = outputs
        .iter()
        .all(|o| o.differing == 0 && o.shape_mismatches.is_empty());
    Ok(Verification {
        seeds: check.seeds,
        runs: check.runs.iter().map(|r| r.name.clone()).collect(),
        tolerance: check.tolerance,
        outputs,
        passed,
    })
}

fn png_files(dir: &Path) -> Result<Vec<PathBuf>, ConvertError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(ConvertError::io("list", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    Ok(files)
}

fn compare_dirs(
    legacy_dir: &Path,
    native_dir: &Path,
    samples: &[Sample],
    check: &Check<'_>,
    outputs: &mut BTreeMap<String, OutputAgreement>,
) -> Result<(), ConvertError> {
    for legacy_file in png_files(legacy_dir)? {
        let name = legacy_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name.trim_end_matches(".png");
        let (index, output) = match stem.strip_suffix("_mask") {
            Some(index) => (index, "mask"),
            None => (stem, "image"),
        };
        let agreement = outputs
            .entry(output.to_string())
            .or_insert_with(|| OutputAgreement {
                output: output.to_string(),
                ..OutputAgreement::default()
            });
        agreement.files += 1;
        let sample = index.parse::<usize>().ok().and_then(|i| samples.get(i));
        let values = sample.and_then(|s| match output {
            "mask" => s.mask.as_ref(),
            _ => Some(&s.image),
        });
        let range = check.ranges.get(output).copied();
        let native_file = native_dir.join(&name);
        let (Some(values), Some(range), Ok(native)) = (values, range, read_png(&native_file))
        else {
            agreement
                .shape_mismatches
                .push(format!("{name}: no such native output"));
            continue;
        };
        let legacy = read_png(&legacy_file)?;
        if legacy.0 != native.0 || legacy.1.len() != native.1.len() {
            agreement.shape_mismatches.push(format!(
                "{name}: legacy {} values in {} channels, native {} in {}",
                legacy.1.len(),
                legacy.0,
                native.1.len(),
                native.0
            ));
            continue;
        }
        let graph: Vec<f32> = interleaved(values);
        compare_values(
            &legacy.1,
            &native.1,
            &graph,
            range,
            check.tolerance,
            agreement,
        );
    }
    Ok(())
}

/// `[C, H, W]` values in the interleaved order of a PNG's pixels.
fn interleaved(values: &ndarray::ArrayD<f32>) -> Vec<f32> {
    let shape = values.shape();
    if shape.len() != 3 {
        return values.iter().copied().collect();
    }
    let mut order = values.view();
    order.swap_axes(0, 1); // H, C, W
    order.swap_axes(1, 2); // H, W, C
    order.iter().copied().collect()
}

fn compare_values(
    legacy: &[u8],
    native: &[u8],
    graph: &[f32],
    range: [f64; 2],
    tolerance: f64,
    agreement: &mut OutputAgreement,
) {
    let scale = 255.0 / (range[1] - range[0]);
    let margin = tolerance * scale;
    let mut total = agreement.mean_abs_error * agreement.values as f64;
    for (i, (&a, &b)) in legacy.iter().zip(native).enumerate() {
        let diff = a.abs_diff(b);
        if diff == 0 {
            continue;
        }
        total += f64::from(diff);
        agreement.max_abs_error = agreement.max_abs_error.max(diff);
        let level = graph
            .get(i)
            .map(|&v| (f64::from(v) - range[0]) * scale)
            .unwrap_or(f64::NAN);
        let to_boundary = (level - level.floor() - 0.5).abs();
        if diff == 1 && to_boundary <= margin {
            agreement.float_rounding += 1;
        } else {
            agreement.differing += 1;
        }
    }
    agreement.values += legacy.len() as u64;
    agreement.mean_abs_error = total / agreement.values.max(1) as f64;
}

/// A PNG as (channels, 8-bit values).
fn read_png(path: &Path) -> Result<(u8, Vec<u8>), ConvertError> {
    let image = crate::formats::png::open(path).map_err(|e| ConvertError::Io {
        action: "read",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let channels = image.color().channel_count();
    let values = match channels {
        1 => image.to_luma8().into_raw(),
        2 => image.to_luma_alpha8().into_raw(),
        3 => image.to_rgb8().into_raw(),
        _ => image.to_rgba8().into_raw(),
    };
    Ok((channels, values))
}

impl Verification {
    /// What was compared and how well it agrees, one line per output.
    pub fn summary(&self) -> String {
        self.outputs
            .iter()
            .map(|o| {
                let [output, files, values, differing, rounding, max_abs, mean] = o.cells(4);
                let mut line = format!(
                    "  {output}: {files} files, {values} values: {differing} differ, {rounding} one \
                     level off by float rounding; max abs error {max_abs} levels, mean {mean}"
                );
                for mismatch in &o.shape_mismatches {
                    line.push_str(&format!("\n    {mismatch}"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The verification as a Markdown section of the model card.
    pub fn markdown(&self) -> String {
        let mut text = format!(
            "{} seeds per run ({}), legacy package vs converted package, each written by \
             `medigan generate` as 8-bit PNG. Tolerance on graph values: {} (a value one level \
             off counts as float rounding when the graph's value lies that close to a rounding \
             boundary). Result: **{}**.\n\n",
            self.seeds,
            self.runs.join(", "),
            self.tolerance,
            if self.passed { "equal" } else { "different" }
        );
        text.push_str("| output | files | values | differing | float rounding | max abs error (levels) | mean abs error (levels) |\n|---|---|---|---|---|---|---|\n");
        for o in &self.outputs {
            text.push_str(&format!("| {} |\n", o.cells(6).join(" | ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(legacy: &[u8], native: &[u8], graph: &[f32]) -> OutputAgreement {
        let mut agreement = OutputAgreement::default();
        compare_values(legacy, native, graph, [-1.0, 1.0], 1e-4, &mut agreement);
        agreement
    }

    #[test]
    fn one_level_at_a_rounding_boundary_is_float_rounding() {
        // level (v + 1) * 127.5 = 100.50003: the backend rounds up, torch's value rounded down.
        let v = (100.500_03_f64 / 127.5 - 1.0) as f32;
        let a = agreement(&[100, 7], &[101, 7], &[v, 0.0]);
        assert_eq!((a.float_rounding, a.differing, a.max_abs_error), (1, 0, 1));
        assert_eq!(a.values, 2);
    }

    #[test]
    fn one_level_away_from_a_boundary_differs() {
        let v = (100.8_f64 / 127.5 - 1.0) as f32;
        let a = agreement(&[100], &[101], &[v]);
        assert_eq!((a.float_rounding, a.differing), (0, 1));
    }

    #[test]
    fn more_than_one_level_always_differs() {
        let v = (100.5_f64 / 127.5 - 1.0) as f32;
        let a = agreement(&[100, 0], &[102, 0], &[v, -1.0]);
        assert_eq!((a.differing, a.max_abs_error), (1, 2));
        assert!((a.mean_abs_error - 1.0).abs() < 1e-12);
    }

    #[test]
    fn planes_are_read_in_the_order_of_png_pixels() {
        let planes =
            ndarray::ArrayD::from_shape_vec(vec![2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(interleaved(&planes), vec![1.0, 3.0, 2.0, 4.0]);
    }
}
