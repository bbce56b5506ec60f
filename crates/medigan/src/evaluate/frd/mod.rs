//! The Frechet Radiomics Distance (FRD; Konz, Osuala et al., Medical Image Analysis 2026), as
//! `frd-score` 1.0.1 computes it, with the radiomics features computed natively
//! ([`medigan_radiomics`], equal to pyradiomics on the committed fixtures) on every core.
//!
//! | file | job |
//! |---|---|
//! | `inputs` | the sets: files of a folder, read as SimpleITK reads them; masks; 2D or 3D |
//! | `distance` | normalisation (v1 z-score on the real set, v0 min-max) and `d^2` |
//! | `stats` | sharded FRD: feature tables saved per shard, merged bit-identically |
//!
//! v1 (the default) uses pyradiomics' original, LoG (volumes) and wavelet images and reports
//! `ln(d^2)` (frd-score's code convention; `paper_log` gives the paper's Eq. 3, `ln(d)`, half
//! of it); v0 uses the original image only and reports `d^2` after min-max scaling.

pub mod distance;
pub mod inputs;
pub mod stats;

use std::path::{Path, PathBuf};

use medigan_radiomics::extractor::{Config, Extractor};
use rayon::prelude::*;

use super::error::EvaluateError;
use crate::progress::Progress;
use distance::{FeatureTable, squared_distance};

/// Which FRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrdVersion {
    /// FRDv0 (Osuala et al., 2024): original image, min-max scaling, `d^2`.
    V0,
    /// FRDv1 (2026, frd-score's default): LoG and wavelet images, z-score, `ln(d^2)`.
    #[default]
    V1,
}

impl std::str::FromStr for FrdVersion {
    type Err = EvaluateError;

    /// `1`, `v1`, `0` or `v0`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "v1" => Ok(FrdVersion::V1),
            "0" | "v0" => Ok(FrdVersion::V0),
            other => Err(EvaluateError::InvalidOption {
                option: "frd version".into(),
                value: other.into(),
                reason: "expected 1 (v1, the default) or 0 (v0)".into(),
            }),
        }
    }
}

impl FrdVersion {
    /// `v0` or `v1`, as frd-score names it.
    pub fn name(self) -> &'static str {
        match self {
            FrdVersion::V0 => "v0",
            FrdVersion::V1 => "v1",
        }
    }
}

/// The choices of an FRD that are not its inputs: the version and the log convention (also
/// what `--metrics frd` takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrdSettings {
    /// v1 (default) or v0.
    pub version: FrdVersion,
    /// v1 only: report `ln(d)` (the paper's Eq. 3) instead of `ln(d^2)`.
    pub paper_log: bool,
}

/// One FRD: two folders of images (PNG/JPEG, or NIfTI volumes), optional mask folders whose
/// sorted files pair with the images, and the version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrdRequest {
    /// The reference set (the z-scoring base of v1).
    pub real: PathBuf,
    /// The set compared with it.
    pub synthetic: PathBuf,
    /// Masks of the real images (default: the whole image).
    pub real_masks: Option<PathBuf>,
    /// Masks of the synthetic images.
    pub synthetic_masks: Option<PathBuf>,
    /// Version and convention.
    pub settings: FrdSettings,
    /// Also write both sets' feature tables here, for [`run_merged`].
    pub save_stats: Option<PathBuf>,
}

/// An FRD and what it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct FrdReport {
    /// The FRD: `ln(d^2)` (v1), `ln(d)` (v1, paper convention) or `d^2` (v0).
    pub frd: f64,
    /// The version.
    pub version: FrdVersion,
    /// How `frd` follows from `d^2`, in words (for the provenance).
    pub convention: &'static str,
    /// `d^2` itself.
    pub squared_distance: f64,
    /// Radiomics features per image before any was dropped.
    pub features_extracted: usize,
    /// Features used.
    pub features_used: usize,
    /// Features dropped (v1: constant on the real set).
    pub dropped_features: Vec<String>,
    /// Images read per set.
    pub images: [usize; 2],
    /// Images dropped per set: a mask of at most one voxel (skipped, as frd-score does), or
    /// (v1) a feature that is NaN.
    pub dropped_images: [usize; 2],
    /// Whether the sets were read as 2D images (else volumes).
    pub two_d: bool,
}

impl FrdRequest {
    /// The FRD of two folders with `settings`, whole images (no masks).
    pub fn folders(real: &Path, synthetic: &Path, settings: FrdSettings) -> FrdRequest {
        FrdRequest {
            real: real.to_path_buf(),
            synthetic: synthetic.to_path_buf(),
            real_masks: None,
            synthetic_masks: None,
            settings,
            save_stats: None,
        }
    }

    /// Refuses options that do not apply, naming them.
    pub fn check(&self) -> Result<(), EvaluateError> {
        if self.settings.paper_log && self.settings.version == FrdVersion::V0 {
            return Err(EvaluateError::InvalidOption {
                option: "paper log".into(),
                value: "true".into(),
                reason: "v0 reports d^2 without a logarithm; the paper's ln(d) is a v1 option"
                    .into(),
            });
        }
        Ok(())
    }
}

/// The feature tables of an FRD's two sets, with what the report needs of their reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    /// The version the features were extracted for.
    pub version: FrdVersion,
    /// Whether the images were 2D.
    pub two_d: bool,
    /// Images listed per set.
    pub images: [usize; 2],
    /// The real set's features.
    pub real: FeatureTable,
    /// The synthetic set's features.
    pub synthetic: FeatureTable,
}

/// Computes the FRD of a request, reporting progress per image (and writing both sets'
/// features to `save_stats` when asked).
pub fn run(request: &FrdRequest, progress: &dyn Progress) -> Result<FrdReport, EvaluateError> {
    request.check()?;
    let tables = extract_tables(request, progress)?;
    if let Some(path) = &request.save_stats {
        stats::save(path, &tables)?;
    }
    report_of(&tables, request.settings.paper_log)
}

/// The FRD of the union of the synthetic sets of `--save-stats` files (shards) against the real
/// set they share: bit-identical to one pass over all the images. The version is the files';
/// `paper_log` applies as in [`run`].
pub fn run_merged(paths: &[PathBuf], paper_log: bool) -> Result<FrdReport, EvaluateError> {
    let tables = stats::merge(paths)?;
    FrdRequest::folders(
        Path::new(""),
        Path::new(""),
        FrdSettings {
            version: tables.version,
            paper_log,
        },
    )
    .check()?;
    report_of(&tables, paper_log)
}

/// Every image's features, both sets.
fn extract_tables(request: &FrdRequest, progress: &dyn Progress) -> Result<Tables, EvaluateError> {
    let version = request.settings.version;
    let real = inputs::list(&request.real)?;
    let synthetic = inputs::list(&request.synthetic)?;
    let two_d = inputs::is_2d(&inputs::read(&real[0])?);
    let extractor =
        Extractor::new(config_for(version, two_d)).map_err(|e| EvaluateError::InvalidOption {
            option: "radiomics settings".into(),
            value: String::new(),
            reason: e.to_string(),
        })?;
    progress.begin(
        &format!("radiomics features ({})", version.name()),
        Some((real.len() + synthetic.len()) as u64),
    );
    let [real_table, synthetic_table] = [
        (&real, request.real_masks.as_deref()),
        (&synthetic, request.synthetic_masks.as_deref()),
    ]
    .map(|(files, masks)| table(&extractor, files, masks, version, progress));
    progress.finish();
    Ok(Tables {
        version,
        two_d,
        images: [real.len(), synthetic.len()],
        real: real_table?,
        synthetic: synthetic_table?,
    })
}

/// The report of two feature tables.
fn report_of(tables: &Tables, paper_log: bool) -> Result<FrdReport, EvaluateError> {
    let distance = squared_distance(&tables.real, &tables.synthetic, tables.version)?;
    let (frd, convention) = value_of(distance.squared, tables.version, paper_log);
    Ok(FrdReport {
        frd,
        version: tables.version,
        convention,
        squared_distance: distance.squared,
        features_extracted: tables.real.names.len(),
        features_used: distance.features,
        dropped_features: distance.dropped,
        images: tables.images,
        dropped_images: [
            tables.real.skipped + distance.dropped_images[0],
            tables.synthetic.skipped + distance.dropped_images[1],
        ],
        two_d: tables.two_d,
    })
}

impl FrdReport {
    /// The report as JSON (`medigan --json frd`, and under `frd` in `medigan --json metrics`).
    pub fn to_json(&self) -> serde_json::Value {
        let finite = |v: f64| {
            if v.is_finite() {
                serde_json::json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        serde_json::json!({
            "frd": finite(self.frd),
            "version": self.version.name(),
            "convention": self.convention,
            "squared_distance": finite(self.squared_distance),
            "features_extracted": self.features_extracted,
            "features_used": self.features_used,
            "dropped_features": self.dropped_features,
            "images": self.images,
            "dropped_images": self.dropped_images,
            "dimensions": if self.two_d { 2 } else { 3 },
            "radiomics": RADIOMICS_PROVENANCE,
        })
    }
}

impl FrdReport {
    /// The report with the sets it compares: what `medigan --json frd` prints and Python's
    /// `frd()` returns.
    pub fn to_json_for(&self, request: &FrdRequest) -> serde_json::Value {
        let mut value = serde_json::json!({
            "metric": "FRD",
            "real": request.real,
            "synthetic": request.synthetic,
        });
        if let (Some(map), serde_json::Value::Object(rest)) =
            (value.as_object_mut(), self.to_json())
        {
            map.extend(rest);
        }
        value
    }
}

/// Where the features come from, for the provenance.
pub const RADIOMICS_PROVENANCE: &str = "medigan-radiomics (pyradiomics 3.1 semantics, checked against pyradiomics-bhklab 3.1.4), \
     frd-score 1.0.1 pipeline";

/// frd-score's extraction settings for a version and dimensionality.
pub fn config_for(version: FrdVersion, two_d: bool) -> Config {
    match (version, two_d) {
        (FrdVersion::V0, _) => Config::frd_v0(),
        (FrdVersion::V1, true) => Config::frd_v1_2d(),
        (FrdVersion::V1, false) => Config::frd_v1_3d(),
    }
}

fn value_of(squared: f64, version: FrdVersion, paper_log: bool) -> (f64, &'static str) {
    let log = |v: f64| {
        if squared > 0.0 {
            v.ln()
        } else {
            f64::NEG_INFINITY
        }
    };
    match (version, paper_log) {
        (FrdVersion::V0, _) => (squared, "d^2 of min-max scaled features (frd-score v0)"),
        (FrdVersion::V1, false) => (log(squared), "ln(d^2) (frd-score's code convention)"),
        (FrdVersion::V1, true) => (log(squared.sqrt()), "ln(d) (the paper's Eq. 3)"),
    }
}

/// The features of a set, one row per image in file order, extracted on every core.
fn table(
    extractor: &Extractor,
    files: &[PathBuf],
    masks: Option<&Path>,
    version: FrdVersion,
    progress: &dyn Progress,
) -> Result<FeatureTable, EvaluateError> {
    let mask_files = masks.map(inputs::list).transpose()?;
    if let Some(m) = &mask_files
        && m.len() != files.len()
    {
        return Err(EvaluateError::InvalidOption {
            option: "masks".into(),
            value: format!("{} masks for {} images", m.len(), files.len()),
            reason: "each image needs its mask (paired by sorted file name)".into(),
        });
    }
    let rows: Vec<Option<Vec<(String, f64)>>> = files
        .par_iter()
        .enumerate()
        .map(|(i, file)| {
            let mask = mask_files.as_ref().map(|m| m[i].as_path());
            let features = image_features(extractor, file, mask, version);
            progress.advance(1);
            features
        })
        .collect::<Result<_, _>>()?;
    let skipped = rows.iter().filter(|r| r.is_none()).count();
    let Some(first) = rows.iter().flatten().next() else {
        return Err(EvaluateError::TooFewImages {
            what: "the FRD (images whose mask selects more than one voxel)".into(),
            needed: 2,
            found: 0,
        });
    };
    let names: Vec<String> = first.iter().map(|(n, _)| n.clone()).collect();
    let mut table = FeatureTable {
        names,
        rows: Vec::with_capacity(rows.len()),
        skipped,
    };
    for (row, file) in rows.into_iter().zip(files) {
        let Some(row) = row else { continue };
        if row.len() != table.names.len() || row.iter().zip(&table.names).any(|((n, _), m)| n != m)
        {
            return Err(EvaluateError::Image {
                path: file.clone(),
                reason: format!(
                    "gives {} radiomics features where the first image gives {} (sizes differ?)",
                    row.len(),
                    table.names.len()
                ),
            });
        }
        table.rows.push(row.into_iter().map(|(_, v)| v).collect());
    }
    Ok(table)
}

/// One image's features, as frd-score's `process_image_mask_pair` feeds pyradiomics; `None`
/// when its mask selects at most one voxel (frd-score skips such an image).
pub fn image_features(
    extractor: &Extractor,
    file: &Path,
    mask: Option<&Path>,
    version: FrdVersion,
) -> Result<Option<Vec<(String, f64)>>, EvaluateError> {
    let image = inputs::read(file)?;
    let label = extractor.config().settings.label;
    let v1 = version == FrdVersion::V1;
    let mask = inputs::mask_for(&image, mask, label, v1)?;
    if mask.data.iter().filter(|&&m| m).count() <= 1 {
        // frd-score skips such an image (with a warning) rather than failing.
        return Ok(None);
    }
    let (image, mask) = if v1 {
        (inputs::image_as_volume(image), inputs::as_volume(mask))
    } else {
        (image, mask)
    };
    extractor
        .extract(image, mask)
        .map(Some)
        .map_err(|e| EvaluateError::Image {
            path: file.into(),
            reason: format!("radiomics: {e}"),
        })
}
