//! One typed request per evaluation ([`EvaluationRequest`]): the extractor
//! ([`ExtractorSpec`]: `inception` or `onnx:PATH` with its input size, range, mean, std and
//! output), the sets (two folders, or a real folder and models whose samples are generated),
//! and the options, checked here ([`EvaluationRequest::check`]). The command line, the Python
//! bindings and the visualiser only translate flags, keyword arguments or JSON into these types:
//! a bad value is refused with the same error by each of them.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::EvaluateError;
use super::extractor::{ExtractorSource, InputNormalization};
use super::fid_inception::{InceptionSource, fetch_fid_weights};
use super::onnx_extractor::{OnnxExtractorConfig, OnnxExtractorSpec};
use super::{EvaluateOptions, SyntheticRun};
use crate::env;
use crate::progress::Progress;
use crate::runtime::BackendKind;
use crate::store::Store;

/// Which network embeds the images: `inception` or `onnx:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractorKind {
    /// The FID Inception-v3 (pytorch-fid's weights).
    Inception,
    /// A user's ONNX network (e.g. a RadImageNet model).
    Onnx(PathBuf),
}

impl FromStr for ExtractorKind {
    type Err = EvaluateError;

    /// `inception` (any case) or `onnx:PATH`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("inception") {
            return Ok(ExtractorKind::Inception);
        }
        match text.strip_prefix("onnx:").map(str::trim) {
            Some(path) if !path.is_empty() => Ok(ExtractorKind::Onnx(PathBuf::from(path))),
            _ => Err(invalid(
                "extractor",
                text,
                "expected `inception` or `onnx:PATH`",
            )),
        }
    }
}

/// The extractor of an evaluation and how its input is prepared.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractorSpec {
    /// Inception or an ONNX network.
    pub kind: ExtractorKind,
    /// A local copy of the Inception weights (default: `MEDIGAN_FID_WEIGHTS`, else fetched).
    pub inception_weights: Option<PathBuf>,
    /// `[height, width]` of an ONNX extractor's input (needed when the graph leaves it open).
    pub input_size: Option<[usize; 2]>,
    /// The range images in [0, 1] are mapped to, then the per-channel mean and std (ONNX).
    pub normalization: InputNormalization,
    /// The ONNX output holding the features (default: the first output).
    pub output_name: Option<String>,
}

impl FromStr for ExtractorSpec {
    type Err = EvaluateError;

    /// `inception` or `onnx:PATH`, with the default input preparation ([`InputNormalization::FID`]).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(ExtractorSpec::new(text.parse()?))
    }
}

impl ExtractorSpec {
    /// An extractor of `kind` with the default input preparation.
    pub fn new(kind: ExtractorKind) -> Self {
        ExtractorSpec {
            kind,
            inception_weights: None,
            input_size: None,
            normalization: InputNormalization::FID,
            output_name: None,
        }
    }

    /// The catalogue key the FID is reported under: `FID` for Inception, `FID_<STEM>` for an
    /// ONNX network (`radimagenet.onnx` -> `FID_RADIMAGENET`).
    pub fn metric_key(&self) -> String {
        match &self.kind {
            ExtractorKind::Inception => "FID".into(),
            ExtractorKind::Onnx(path) => {
                let stem = path
                    .file_stem()
                    .map_or_else(|| "ONNX".into(), |s| s.to_string_lossy().to_uppercase());
                format!("FID_{stem}")
            }
        }
    }

    /// Refuses ONNX-only options given for Inception (naming the option), before anything is
    /// fetched.
    pub fn check(&self) -> Result<(), EvaluateError> {
        if self.kind != ExtractorKind::Inception {
            return Ok(());
        }
        let onnx_only = [
            ("input size", self.input_size.is_some()),
            ("mean", self.normalization.mean_std.is_some()),
            ("output name", self.output_name.is_some()),
        ];
        match onnx_only.iter().find(|(_, given)| *given) {
            Some((option, _)) => Err(EvaluateError::OnnxOnly { option }),
            None => Ok(()),
        }
    }

    /// The extractor, ready to embed: the Inception weights loaded (fetched through `store`
    /// once when not given) or the ONNX declaration checked.
    pub fn source(
        &self,
        store: &Store,
        backend: Option<BackendKind>,
        progress: &dyn Progress,
    ) -> Result<Box<dyn ExtractorSource>, EvaluateError> {
        self.check()?;
        Ok(match &self.kind {
            ExtractorKind::Inception => Box::new(inception(
                store,
                backend,
                self.inception_weights.as_deref(),
                progress,
            )?),
            ExtractorKind::Onnx(graph) => {
                Box::new(OnnxExtractorSpec::resolve(OnnxExtractorConfig {
                    graph: graph.clone(),
                    input_size: self.input_size,
                    normalization: self.normalization,
                    output: self.output_name.clone(),
                    backend,
                })?)
            }
        })
    }
}

/// The FID Inception extractor as every front end makes it: the weights from `weights`, else
/// `MEDIGAN_FID_WEIGHTS`, else fetched once through the store (from `MEDIGAN_FID_WEIGHTS_URL`
/// when set); run on onnxruntime unless the backend is tract or onnxruntime is not found
/// ([`InceptionSource::on_onnxruntime`]).
pub fn inception(
    store: &Store,
    backend: Option<BackendKind>,
    weights: Option<&Path>,
    progress: &dyn Progress,
) -> Result<InceptionSource, EvaluateError> {
    let weights = match weights
        .map(Path::to_path_buf)
        .or_else(|| env::FID_WEIGHTS.path())
    {
        Some(path) => path,
        None => {
            let url = env::FID_WEIGHTS_URL.text();
            fetch_fid_weights(store, url.as_deref(), None, progress)?
        }
    };
    InceptionSource::from_pth(&weights)?.on_onnxruntime(backend, &store.home().graphs_dir())
}

/// What the synthetic side of an evaluation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntheticSide {
    /// A folder of images (`medigan fid`, `medigan metrics`).
    Folder(PathBuf),
    /// Samples generated by each model (`medigan evaluate`).
    Models {
        /// The models (ids, numbers or prefixes).
        models: Vec<String>,
        /// How many samples and from which seed.
        run: SyntheticRun,
    },
}

/// One evaluation: the real folder against a synthetic folder or models' samples.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationRequest {
    /// The folder of real images.
    pub real: PathBuf,
    /// What is compared with it.
    pub synthetic: SyntheticSide,
    /// The extractor.
    pub extractor: ExtractorSpec,
    /// Embedding, split, cache and metric options.
    pub options: EvaluateOptions,
    /// The catalogue key of the metric (default: [`ExtractorSpec::metric_key`]).
    pub metric_key: Option<String>,
    /// Where to write the exact feature statistics of both sets, for `--merge-stats`
    /// ([`super::stats_file`]; two folders, one repeat).
    pub save_stats: Option<PathBuf>,
    /// Score a conditional model per class: `real/CLASS/` against its samples of `CLASS`,
    /// then all classes together ([`super::per_class`]).
    pub per_class: bool,
}

impl EvaluationRequest {
    /// The catalogue key reports are given under.
    pub fn metric_key(&self) -> String {
        self.metric_key
            .clone()
            .unwrap_or_else(|| self.extractor.metric_key())
    }

    /// The FRD compares two folders in one pass: refused with models, repeats and statistics
    /// files, and `paper_log` with v0.
    fn check_frd(&self) -> Result<(), EvaluateError> {
        let why = if matches!(self.synthetic, SyntheticSide::Models { .. }) {
            Some(
                "the FRD compares two folders: generate the samples to a folder, then \
                  `medigan frd REAL SYNTHETIC`",
            )
        } else if self.options.metrics.repeats > 1 {
            Some("the FRD is computed once over the folders: drop --repeats")
        } else if self.save_stats.is_some() {
            Some(
                "these statistics files hold network features: leave frd out of --metrics \
                  and save the FRD's with `medigan frd --save-stats`",
            )
        } else {
            None
        };
        if let Some(reason) = why {
            return Err(invalid("metrics", "frd", reason));
        }
        super::frd::FrdRequest::folders(Path::new(""), Path::new(""), self.options.metrics.frd)
            .check()
    }

    /// Refuses, before anything is read or fetched, option values no evaluation can use: each
    /// error names the option.
    pub fn check(&self) -> Result<(), EvaluateError> {
        let options = &self.options;
        let metrics = &options.metrics;
        if metrics.repeats == 0 {
            return Err(invalid(
                "repeats",
                "0",
                "at least 1 (1: one evaluation, no interval)",
            ));
        }
        check_embedding(options, &self.extractor)?;
        if metrics.metrics.kid && (metrics.kid.subsets == 0 || metrics.kid.subset_size < 2) {
            return Err(invalid(
                "KID subsets",
                &format!("{} x {}", metrics.kid.subsets, metrics.kid.subset_size),
                "at least 1 subset of at least 2 images",
            ));
        }
        if metrics.metrics.prdc && metrics.nearest_k == 0 {
            return Err(invalid("nearest k", "0", "at least 1"));
        }
        if metrics.metrics.frd {
            self.check_frd()?;
        }
        if let SyntheticSide::Models { models, run } = &self.synthetic {
            if models.is_empty() {
                return Err(invalid("models", "", "at least one model"));
            }
            if let Some(n) = run.num_samples.filter(|&n| n < 2) {
                return Err(EvaluateError::TooFewImages {
                    what: "FID over the synthetic set".into(),
                    needed: 2,
                    found: usize::try_from(n).unwrap_or(usize::MAX),
                });
            }
        }
        if let Some(path) = &self.save_stats {
            let value = path.display().to_string();
            if matches!(self.synthetic, SyntheticSide::Models { .. }) {
                return Err(invalid(
                    "save stats",
                    &value,
                    "statistics are saved for two folders (`medigan fid` / `medigan metrics`)",
                ));
            }
            if metrics.repeats > 1 {
                return Err(invalid(
                    "save stats",
                    &value,
                    "statistics are of one pass: drop --repeats (merged statistics give one FID)",
                ));
            }
        }
        if self.per_class {
            if !matches!(self.synthetic, SyntheticSide::Models { .. }) {
                return Err(invalid(
                    "per class",
                    "true",
                    "the breakdown generates each class's samples: it applies to models \
                     (`medigan evaluate`)",
                ));
            }
            if metrics.repeats > 1 {
                return Err(invalid(
                    "per class",
                    "true",
                    "one evaluation per class: drop --repeats",
                ));
            }
        }
        Ok(())
    }
}

/// Refuses embedding options and an extractor no evaluation or audit can use (batch size,
/// threads, ranges, std, the extractor's own options): each error names the option.
pub fn check_embedding(
    options: &EvaluateOptions,
    extractor: &ExtractorSpec,
) -> Result<(), EvaluateError> {
    if options.features.batch_size == 0 {
        return Err(invalid("batch size", "0", "at least 1"));
    }
    if options.features.threads == Some(0) {
        return Err(invalid("threads", "0", "at least 1 (or none: all cores)"));
    }
    if let Some(range) = options.features.read.npy_range {
        check_range("npy range", range)?;
    }
    check_range("range", extractor.normalization.range)?;
    if let Some((_, std)) = extractor.normalization.mean_std
        && std.contains(&0.0)
    {
        return Err(invalid(
            "std",
            &std.map(|s| s.to_string()).join(","),
            "each channel's standard deviation must be non-zero",
        ));
    }
    extractor.check()
}

/// Refuses a `[min, max]` range that is not finite or not increasing.
fn check_range(option: &'static str, range: [f32; 2]) -> Result<(), EvaluateError> {
    if range.iter().all(|v| v.is_finite()) && range[0] < range[1] {
        return Ok(());
    }
    Err(invalid(
        option,
        &format!("{},{}", range[0], range[1]),
        "expected MIN,MAX with MIN < MAX, e.g. -1,1",
    ))
}

/// `N` or `HxW` (e.g. `224`, `256x192`) as `[height, width]`.
pub fn parse_input_size(text: &str) -> Result<[usize; 2], EvaluateError> {
    let parts: Vec<Option<usize>> = text
        .split(['x', 'X'])
        .map(|p| p.trim().parse().ok().filter(|&n| n > 0))
        .collect();
    match parts.as_slice() {
        [Some(n)] => Ok([*n, *n]),
        [Some(h), Some(w)] => Ok([*h, *w]),
        _ => Err(invalid(
            "input size",
            text,
            "expected N or HxW, e.g. 224 or 256x192",
        )),
    }
}

/// One value or three (`R,G,B`), comma-separated, as three channel values; `option` names it
/// in the error (`mean`, `std`).
pub fn parse_channels(option: &'static str, text: &str) -> Result<[f32; 3], EvaluateError> {
    let values = text
        .split(',')
        .map(|p| {
            let p = p.trim();
            p.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| invalid(option, text, &format!("`{p}` is not a number")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    channels(option, &values)
}

/// One value or three (R, G, B), finite, as three channel values; `option` names it in the
/// error (`mean`, `std`).
pub fn channels(option: &'static str, values: &[f32]) -> Result<[f32; 3], EvaluateError> {
    let text = || {
        values
            .iter()
            .map(f32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(invalid(
            option,
            &text(),
            &format!("`{bad}` is not a number"),
        ));
    }
    match values {
        [r, g, b] => Ok([*r, *g, *b]),
        [v] => Ok([*v; 3]),
        _ => Err(invalid(
            option,
            &text(),
            "expected one value or three (R,G,B)",
        )),
    }
}

/// `MIN,MAX` with `MIN < MAX` (e.g. `-1,1`); `option` names it in the error.
pub fn parse_range(option: &'static str, text: &str) -> Result<[f32; 2], EvaluateError> {
    let values: Vec<Option<f32>> = text.split(',').map(|p| p.trim().parse().ok()).collect();
    let range = match values.as_slice() {
        [Some(lo), Some(hi)] => [*lo, *hi],
        _ => [f32::NAN; 2],
    };
    check_range(option, range)
        .map_err(|_| invalid(option, text, "expected MIN,MAX with MIN < MAX, e.g. -1,1"))?;
    Ok(range)
}

fn invalid(option: &str, value: &str, reason: &str) -> EvaluateError {
    EvaluateError::InvalidOption {
        option: option.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractor_specs_parse_and_name_their_metric() {
        let inception: ExtractorSpec = " Inception ".parse().unwrap();
        assert_eq!(inception.kind, ExtractorKind::Inception);
        assert_eq!(inception.metric_key(), "FID");
        let onnx: ExtractorSpec = "onnx:models/radimagenet.onnx".parse().unwrap();
        assert_eq!(
            onnx.kind,
            ExtractorKind::Onnx("models/radimagenet.onnx".into())
        );
        assert_eq!(onnx.metric_key(), "FID_RADIMAGENET");
        let err = "vgg".parse::<ExtractorSpec>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid extractor `vgg`: expected `inception` or `onnx:PATH`"
        );
        assert!("onnx:".parse::<ExtractorSpec>().is_err());
    }

    #[test]
    fn onnx_only_options_are_refused_for_inception_by_name() {
        let mut spec = ExtractorSpec::new(ExtractorKind::Inception);
        spec.input_size = Some([224, 224]);
        let err = spec.check().unwrap_err().to_string();
        assert!(
            err.starts_with("input size applies to ONNX extractors"),
            "{err}"
        );
        spec.kind = ExtractorKind::Onnx("x.onnx".into());
        assert!(spec.check().is_ok());
    }

    #[test]
    fn requests_refuse_values_no_evaluation_can_use() {
        let request = |adjust: &dyn Fn(&mut EvaluationRequest)| {
            let mut request = EvaluationRequest {
                real: "real".into(),
                synthetic: SyntheticSide::Folder("synthetic".into()),
                extractor: ExtractorSpec::new(ExtractorKind::Inception),
                options: EvaluateOptions::default(),
                metric_key: None,
                save_stats: None,
                per_class: false,
            };
            adjust(&mut request);
            request.check().map_err(|e| e.to_string())
        };
        assert_eq!(request(&|_| {}), Ok(()));
        let err = request(&|r| r.options.metrics.repeats = 0).unwrap_err();
        assert_eq!(
            err,
            "invalid repeats `0`: at least 1 (1: one evaluation, no interval)"
        );
        let err = request(&|r| r.options.features.batch_size = 0).unwrap_err();
        assert!(err.starts_with("invalid batch size `0`"), "{err}");
        let err = request(&|r| {
            r.options.metrics.metrics.kid = true;
            r.options.metrics.kid.subset_size = 1;
        })
        .unwrap_err();
        assert!(err.starts_with("invalid KID subsets"), "{err}");
        let err = request(&|r| {
            r.synthetic = SyntheticSide::Models {
                models: vec!["00900".into()],
                run: SyntheticRun {
                    num_samples: Some(1),
                    seed: 0,
                },
            }
        })
        .unwrap_err();
        assert!(err.contains("needs at least 2 images, got 1"), "{err}");
        let err = request(&|r| r.extractor.normalization.range = [1.0, 0.0]).unwrap_err();
        assert!(err.starts_with("invalid range `1,0`"), "{err}");
        let err = request(&|r| {
            r.extractor.kind = ExtractorKind::Onnx("x.onnx".into());
            r.extractor.normalization.mean_std = Some(([0.5; 3], [0.2, 0.0, 0.2]));
        })
        .unwrap_err();
        assert!(err.starts_with("invalid std `0.2,0,0.2`"), "{err}");
    }

    #[test]
    fn sizes_channels_and_ranges_parse_or_name_the_option() {
        assert_eq!(parse_input_size("224").unwrap(), [224, 224]);
        assert_eq!(parse_input_size("256x192").unwrap(), [256, 192]);
        assert!(parse_input_size("0").is_err());
        assert_eq!(parse_channels("mean", "0.5").unwrap(), [0.5; 3]);
        assert_eq!(parse_channels("std", "1,2,3").unwrap(), [1.0, 2.0, 3.0]);
        let err = parse_channels("mean", "1,x").unwrap_err().to_string();
        assert_eq!(err, "invalid mean `1,x`: `x` is not a number");
        assert_eq!(parse_range("range", "-1,1").unwrap(), [-1.0, 1.0]);
        assert!(parse_range("range", "1,0").is_err());
    }
}
