//! One typed request for an audit ([`AuditRequest`]): what is audited (a folder of synthetic
//! images or a model whose samples are generated), the training and holdout folders, the
//! extractor, the options and the gallery, checked here ([`AuditRequest::check`]) and run by
//! [`run`]. The command line, the Python bindings and the visualiser only translate flags,
//! keyword arguments or JSON into it: a bad value is refused with the same error by each.

use std::path::{Path, PathBuf};

use super::gallery::{refuse_non_empty, write_gallery};
use super::{AuditOptions, AuditReport, AuditSets, audit};
use crate::evaluate::error::EvaluateError;
use crate::evaluate::request::{ExtractorSpec, check_embedding};
use crate::evaluate::{ImageSet, ModelSamples, SyntheticRun};
use crate::progress::Progress;

/// The most pairs a gallery shows (each pair is two PNGs).
pub const MAX_GALLERY_PAIRS: usize = 10_000;

/// What an audit looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSubject {
    /// A folder of synthetic images.
    Folder(PathBuf),
    /// A model: `run.num_samples` of its samples (default: as many as the training images)
    /// from the run of seed `run.seed`.
    Model {
        /// The model's id (or a unique part of it).
        model: String,
        /// How many samples, and the run's seed.
        run: SyntheticRun,
    },
}

impl AuditSubject {
    /// `text` as the command line and Python give it: a folder when one exists there, else a
    /// model id whose samples `run` makes.
    pub fn folder_or_model(text: &str, run: SyntheticRun) -> Self {
        if Path::new(text).is_dir() {
            AuditSubject::Folder(PathBuf::from(text))
        } else {
            AuditSubject::Model {
                model: text.to_string(),
                run,
            }
        }
    }
}

/// Where the closest pairs are shown: an HTML page with PNGs in a new (or empty) folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GalleryRequest {
    /// The folder (new or empty).
    pub dir: PathBuf,
    /// Pairs shown: flagged first, then the most similar.
    pub pairs: usize,
}

/// One audit, as every front end asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRequest {
    /// A folder or a model.
    pub subject: AuditSubject,
    /// The model's training images.
    pub train: PathBuf,
    /// New real images from the same source, never trained on (calibrates the thresholds).
    pub holdout: Option<PathBuf>,
    /// The network that embeds the images.
    pub extractor: ExtractorSpec,
    /// Pixel comparison, margin and embedding options.
    pub options: AuditOptions,
    /// The gallery of the closest pairs, if wanted.
    pub gallery: Option<GalleryRequest>,
}

/// What an audit gives back.
#[derive(Debug, Clone)]
pub struct AuditOutcome {
    /// The report (with the run's seed in its provenance for a model).
    pub report: AuditReport,
    /// The gallery's HTML page, when one was asked for.
    pub gallery: Option<PathBuf>,
}

impl AuditRequest {
    /// Refuses, before anything is read, generated or fetched, values no audit can use: each
    /// error names the option.
    pub fn check(&self) -> Result<(), EvaluateError> {
        self.options.check()?;
        check_embedding(&self.options.evaluate, &self.extractor)?;
        if let AuditSubject::Model { model, run } = &self.subject {
            if model.trim().is_empty() {
                return Err(invalid("model", "", "a model id or a folder of images"));
            }
            if run.num_samples == Some(0) {
                return Err(invalid("number of samples", "0", "at least 1"));
            }
        }
        if let Some(gallery) = &self.gallery {
            if !(1..=MAX_GALLERY_PAIRS).contains(&gallery.pairs) {
                return Err(invalid(
                    "gallery pairs",
                    &gallery.pairs.to_string(),
                    &format!("between 1 and {MAX_GALLERY_PAIRS}"),
                ));
            }
            refuse_non_empty(&gallery.dir)?;
        }
        Ok(())
    }
}

fn invalid(option: &str, value: &str, reason: &str) -> EvaluateError {
    EvaluateError::InvalidOption {
        option: option.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Runs `request` (checked first): reads the folders, generates a model's samples through
/// `samples_of`, audits them and writes the gallery.
pub fn run(
    samples_of: &dyn ModelSamples,
    request: &AuditRequest,
    progress: &dyn Progress,
) -> crate::Result<AuditOutcome> {
    request.check()?;
    if let AuditSubject::Model { model, .. } = &request.subject {
        samples_of.check_model(model)?;
    }
    let train = ImageSet::from_folder(&request.train)?;
    let holdout = request
        .holdout
        .as_deref()
        .map(ImageSet::from_folder)
        .transpose()?;
    let source = request
        .extractor
        .source(samples_of.store(), samples_of.backend(), progress)?;
    let (synthetic, seed) = match &request.subject {
        AuditSubject::Folder(dir) => (ImageSet::from_folder(dir)?, None),
        AuditSubject::Model { model, run } => {
            let n = run.num_samples.unwrap_or(train.len() as u64);
            let set = crate::evaluate::synthetic_part(samples_of, model, n, 0, 1, run.seed)?;
            (set, Some(run.seed))
        }
    };
    let sets = AuditSets {
        synthetic: &synthetic,
        train: &train,
        holdout: holdout.as_ref(),
    };
    let mut report = audit(
        synthetic.label.clone(),
        sets,
        source.as_ref(),
        &request.options,
        progress,
    )?;
    report.provenance.generation_seed = seed;
    let gallery = match &request.gallery {
        Some(gallery) => Some(write_gallery(
            &report,
            &synthetic,
            &train,
            &gallery.dir,
            gallery.pairs,
            &request.options.evaluate.features.read,
        )?),
        None => None,
    };
    Ok(AuditOutcome { report, gallery })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &Path) -> AuditRequest {
        AuditRequest {
            subject: AuditSubject::folder_or_model(
                "00900",
                SyntheticRun {
                    num_samples: Some(4),
                    seed: 1,
                },
            ),
            train: dir.to_path_buf(),
            holdout: None,
            extractor: ExtractorSpec::new(crate::evaluate::ExtractorKind::Inception),
            options: AuditOptions::default(),
            gallery: Some(GalleryRequest {
                dir: dir.join("gallery"),
                pairs: 24,
            }),
        }
    }

    fn refused_option(request: &AuditRequest) -> String {
        match request.check() {
            Err(EvaluateError::InvalidOption { option, .. }) => option,
            other => panic!("expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn a_subject_is_a_folder_when_one_exists_else_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let run = SyntheticRun::default();
        let text = dir.path().to_str().unwrap();
        assert_eq!(
            AuditSubject::folder_or_model(text, run),
            AuditSubject::Folder(dir.path().to_path_buf())
        );
        assert!(matches!(
            AuditSubject::folder_or_model("00900", run),
            AuditSubject::Model { model, .. } if model == "00900"
        ));
    }

    #[test]
    fn every_bad_value_is_refused_before_any_work_naming_its_option() {
        let dir = tempfile::tempdir().unwrap();
        assert!(request(dir.path()).check().is_ok());
        let mut bad = request(dir.path());
        bad.gallery.as_mut().unwrap().pairs = 0;
        assert_eq!(refused_option(&bad), "gallery pairs");
        let mut bad = request(dir.path());
        bad.options.evaluate.features.batch_size = 0;
        assert_eq!(refused_option(&bad), "batch size");
        let mut bad = request(dir.path());
        bad.options.margin = 0.0;
        assert_eq!(refused_option(&bad), "audit margin");
        let mut bad = request(dir.path());
        bad.subject = AuditSubject::Model {
            model: "00900".into(),
            run: SyntheticRun {
                num_samples: Some(0),
                seed: 0,
            },
        };
        assert_eq!(refused_option(&bad), "number of samples");
        std::fs::create_dir(dir.path().join("gallery")).unwrap();
        std::fs::write(dir.path().join("gallery/page.html"), "x").unwrap();
        assert_eq!(refused_option(&request(dir.path())), "gallery folder");
    }
}
