//! The Python side of a conversion: `export.py` (embedded) run once in the model's consented
//! environment, in a run directory holding `models/<model id>` as the bridge's does. It records
//! the module the package generates with, exports it with `torch.onnx.export` and says how the
//! package maps the module's output to its images.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ConvertError;
use crate::legacy::{LegacyError, LegacyModel};

/// The export script, shipped in the binary: the external-data prelude and the export.
pub const EXPORT_SCRIPT: &str =
    concat!(include_str!("external_data.py"), include_str!("export.py"));

/// The ONNX opset the graph is exported with.
pub const OPSET: u32 = 17;

/// What the script reports about a successful export.
#[derive(Debug, Clone, Deserialize)]
pub struct Exported {
    /// torch's version.
    pub torch: String,
    /// onnxruntime's version, when it checked the graph.
    #[serde(default)]
    pub onnxruntime: Option<String>,
    /// What checked the file (`onnx x.y` or `onnxruntime x.y`).
    #[serde(default)]
    pub checker: Option<String>,
    /// The class name of the exported module.
    pub module: String,
    /// The graph's inputs.
    pub inputs: Vec<ExportedInput>,
    /// The graph's outputs and the package's mapping of each.
    pub outputs: Vec<ExportedOutput>,
    /// Largest difference between graph and module on a batch of another size.
    #[serde(default)]
    pub graph_error: Option<f64>,
}

/// An input of the exported graph.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportedInput {
    /// Its name in the graph.
    pub name: String,
    /// `latent` or `class`.
    pub kind: String,
    /// Per-sample shape of a latent.
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    /// Class values seen in the traced call.
    #[serde(default)]
    pub seen: Option<Vec<u64>>,
}

/// An output of the exported graph.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportedOutput {
    /// Its name in the graph.
    pub name: String,
    /// `image` or `mask`.
    pub kind: String,
    /// Per-sample shape `[C, H, W]`.
    pub shape: Vec<usize>,
    /// The module's output channels it holds.
    pub channels: [usize; 2],
    /// How the package maps it to 0..255.
    pub mapping: Mapping,
}

/// How a package maps a module output to its 8-bit image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mapping {
    /// `level = q((v - low) * 255 / (high - low))`, clipped, with `q` rounding or truncation.
    Linear {
        /// `[value of level 0, value of level 255]`; the declared range.
        range: [f64; 2],
        /// `round` or `floor`.
        quantizer: String,
    },
    /// `level = 255 if v > threshold else 0`; the graph emits 0/1.
    Threshold {
        /// The threshold.
        threshold: f64,
        /// `[0, 1]`: what the graph emits.
        range: [f64; 2],
    },
}

impl Mapping {
    /// The range declared for the graph output.
    pub fn range(&self) -> [f64; 2] {
        match self {
            Mapping::Linear { range, .. } | Mapping::Threshold { range, .. } => *range,
        }
    }

    /// The package's mapping in words, and what the graph does to express it natively.
    pub fn describe(&self) -> String {
        match self {
            Mapping::Linear { range, quantizer } if quantizer == "floor" => format!(
                "linear [{}, {}] -> 0..255, truncated (the graph subtracts half a level and \
                 clamps to the range, so that rounding gives the same levels)",
                range[0], range[1]
            ),
            Mapping::Linear { range, .. } => format!(
                "linear [{}, {}] -> 0..255, rounded (the graph clamps to the range)",
                range[0], range[1]
            ),
            Mapping::Threshold { threshold, .. } => format!(
                "threshold: 255 where the value is above {threshold}, else 0 (the graph \
                 emits 1 or 0)"
            ),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Refusal {
    kind: String,
    error: String,
    #[serde(default)]
    traceback: String,
}

/// Runs the export of `model` into `graph` (an absolute path); `work` is a scratch folder.
pub fn run(model: &LegacyModel, graph: &Path, work: &Path) -> Result<Exported, ConvertError> {
    let Some(latent_size) = model.latent_size else {
        return Err(ConvertError::refused(
            &model.id,
            "no_latent",
            "the entry declares no input_latent_vector_size",
        ));
    };
    let script = crate::legacy::install_script(work, "export", EXPORT_SCRIPT).map_err(io_error)?;
    let run_dir = work.join("run");
    crate::legacy::prepare_run_dir(model, &run_dir).map_err(io_error)?;
    let request = json!({
        "module": model.module,
        "function": model.function,
        "model_file": model.model_file,
        "custom": model.custom,
        "latent_size": latent_size,
        "graph": graph,
        "work": work,
        "opset": OPSET,
        "external_data_threshold": super::package::external_data_threshold(),
    });
    let output = spawn(model, &script, &run_dir, &request)?;
    read_answer(&model.id, &output, "running the package failed")
}

/// The answer of an export script: the last line of its stdout, `{"ok": true, ...}` read as
/// `T`, or a refusal (`kind`, `error`) or an exception (`failed`, with its traceback) as the
/// error naming `model`.
pub(super) fn read_answer<T: serde::de::DeserializeOwned>(
    model: &str,
    output: &std::process::Output,
    failed: &str,
) -> Result<T, ConvertError> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = crate::legacy::last_lines(&String::from_utf8_lossy(&output.stderr), 20);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let Some(answer) = line.and_then(|l| serde_json::from_str::<Value>(l).ok()) else {
        return Err(ConvertError::Export {
            model: model.to_string(),
            what: format!(
                "the export script ended ({}) without an answer",
                output.status
            ),
            stderr,
        });
    };
    let unreadable = |e: serde_json::Error, stderr: String| ConvertError::Export {
        model: model.to_string(),
        what: format!("unreadable answer of the export script: {e}"),
        stderr,
    };
    if answer["ok"].as_bool() == Some(true) {
        return serde_json::from_value(answer).map_err(|e| unreadable(e, stderr));
    }
    let refusal: Refusal =
        serde_json::from_value(answer).map_err(|e| unreadable(e, stderr.clone()))?;
    if refusal.kind == "exception" {
        return Err(ConvertError::Export {
            model: model.to_string(),
            what: format!("{failed}: {}", refusal.error),
            stderr: crate::legacy::last_lines(&refusal.traceback, 12),
        });
    }
    Err(ConvertError::refused(model, &refusal.kind, &refusal.error))
}

/// The most bytes of each of the script's outputs kept (its last ones: the answer is the
/// last line of stdout, the end of stderr explains a failure).
const MAX_CAPTURE: usize = 1 << 20;

/// Runs the script in its own process group with the legacy time limit
/// (`MEDIGAN_LEGACY_TIMEOUT`), keeping the end of its output only ([`crate::child`]).
fn spawn(
    model: &LegacyModel,
    script: &Path,
    run_dir: &Path,
    request: &Value,
) -> Result<Output, ConvertError> {
    let mut command = model.env.script_command(script, run_dir);
    let line = format!("{request}\n");
    let done = crate::child::run_bounded(&mut command, line.as_bytes(), model.timeout, MAX_CAPTURE)
        .map_err(|e| ConvertError::Export {
            model: model.id.clone(),
            what: format!("could not run `{}`: {e}", model.env.python.display()),
            stderr: String::new(),
        })?;
    if done.timed_out {
        let limit = model.timeout.map_or(0, |t| t.as_secs());
        return Err(ConvertError::Export {
            model: model.id.clone(),
            what: format!(
                "the export script ran past the time limit of {limit} s and was stopped \
                 (MEDIGAN_LEGACY_TIMEOUT sets it, in seconds)"
            ),
            stderr: crate::legacy::last_lines(&String::from_utf8_lossy(&done.stderr), 20),
        });
    }
    Ok(Output {
        status: done.status,
        stdout: done.stdout,
        stderr: done.stderr,
    })
}

/// The converter's words for a failure to set up the script's files.
fn io_error(error: LegacyError) -> ConvertError {
    match error {
        LegacyError::Io {
            action,
            path,
            cause,
        } => ConvertError::Io {
            action,
            path,
            source: cause,
        },
        other => ConvertError::Io {
            action: "prepare",
            path: PathBuf::new(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}
