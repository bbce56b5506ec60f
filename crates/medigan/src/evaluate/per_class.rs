//! Per-class breakdown of a conditional model (`medigan evaluate MODEL --real real/
//! --per-class`): the real folder holds one subfolder per class label (`real/benign/`,
//! `real/malignant/`, named as the model's classes); each class's real images are compared with
//! the model's samples of that class (generated with the label, as `generate --label CLASS`),
//! then every class's real images with every class's samples ("all classes").
//!
//! Each class gets as many samples as its real images, or `-n` per class. The reports are the
//! usual ones (FID, `FID_rr`, KID, PRDC as asked), one per class with the subject
//! `MODEL [CLASS]`, then `MODEL [all classes]`. The run seed is the same for every class (the
//! label changes the samples).

use std::path::{Path, PathBuf};

use ndarray::{Array2, concatenate};

use super::error::EvaluateError;
use super::extractor::ExtractorSource;
use super::metrics::{Evaluation, evaluate_features};
use super::provenance::Provenance;
use super::synthetic::{ModelSamples, synthetic_stream};
use super::{EvaluateOptions, ImageSet, SyntheticRun, check_set_size, embed, stream};
use crate::progress::Progress;

/// The class subfolders of `real` (non-hidden directories, sorted by name), each with its
/// images.
pub fn class_folders(real: &Path) -> Result<Vec<(String, PathBuf)>, EvaluateError> {
    let entries = std::fs::read_dir(real).map_err(EvaluateError::io("list", real))?;
    let mut classes = Vec::new();
    for entry in entries {
        let entry = entry.map_err(EvaluateError::io("list", real))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with('.') && entry.path().is_dir() {
            classes.push((name, entry.path()));
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(EvaluateError::InvalidOption {
            option: "per class".into(),
            value: real.display().to_string(),
            reason: "the real folder needs one subfolder per class label (real/CLASS/...), \
                     named as the model's classes"
                .into(),
        });
    }
    Ok(classes)
}

/// Scores each model per class, then over all classes (see the module documentation).
pub fn run(
    samples_of: &dyn ModelSamples,
    real: &Path,
    models: &[String],
    run: SyntheticRun,
    source: &dyn ExtractorSource,
    options: &EvaluateOptions,
    progress: &dyn Progress,
) -> crate::Result<Vec<Evaluation>> {
    let classes = class_folders(real)?;
    let mut real_sets = Vec::with_capacity(classes.len());
    for (class, dir) in &classes {
        let set = ImageSet::from_folder(dir)?;
        check_set_size(&set, &format!("the real images of class `{class}`"))?;
        real_sets.push(set);
    }
    let real_features: Vec<Array2<f32>> = real_sets
        .iter()
        .map(|set| embed(set, source, options, progress))
        .collect::<Result<_, _>>()?;
    let mut reports = Vec::new();
    for model in models {
        let mut synthetic_all = Vec::with_capacity(classes.len());
        let mut model_id = model.clone();
        for ((class, _), real_c) in classes.iter().zip(&real_features) {
            let n = run.num_samples.unwrap_or(real_c.nrows() as u64);
            let synthetic = synthetic_stream(samples_of, model, n, 0, 1, run.seed, Some(class))?;
            model_id = synthetic.model_id.clone();
            let features = stream::embed_samples(
                &format!("{} [{class}]", synthetic.model_id),
                synthetic.samples,
                n,
                synthetic.image_range,
                source,
                &options.features,
                progress,
            )?;
            reports.push(evaluate_features(
                format!("{model_id} [{class}]"),
                real_c,
                std::slice::from_ref(&features),
                provenance(source, options, run),
                options,
            )?);
            synthetic_all.push(features);
        }
        let join = |sets: &[Array2<f32>]| {
            let views: Vec<_> = sets.iter().map(|a| a.view()).collect();
            concatenate(ndarray::Axis(0), &views).map_err(|e| EvaluateError::InvalidOption {
                option: "per class".into(),
                value: String::new(),
                reason: e.to_string(),
            })
        };
        let real_all = join(&real_features)?;
        let synthetic_all = join(&synthetic_all)?;
        reports.push(evaluate_features(
            format!("{model_id} [all classes]"),
            &real_all,
            &[synthetic_all],
            provenance(source, options, run),
            options,
        )?);
    }
    Ok(reports)
}

fn provenance(
    source: &dyn ExtractorSource,
    options: &EvaluateOptions,
    run: SyntheticRun,
) -> Provenance {
    let mut provenance = Provenance::new(source, options);
    provenance.generation_seed = Some(run.seed);
    provenance
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_the_sorted_subfolders_and_a_flat_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            class_folders(dir.path())
                .unwrap_err()
                .to_string()
                .contains("one subfolder per class label")
        );
        for name in ["malignant", "benign", ".hidden"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("x.png"), b"").unwrap();
        let names: Vec<String> = class_folders(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["benign", "malignant"]);
    }
}
