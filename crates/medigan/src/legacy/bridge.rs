//! The Python side of a legacy model: one bridge process per generator, spoken to in JSON lines.
//!
//! The bridge script (`bridge.py`, embedded in the binary) is written into
//! `<home>/legacy/bridge-<sha256 prefix>.py` and run with the model's environment, in a run
//! directory that holds `models/<model id>` (a link to the unpacked package), so the package is
//! imported and its relative paths resolve as in the original medigan. The samples come back
//! as raw float32 files (arrays the function returned) or as the files it wrote, and become
//! [`Sample`]s here.
//!
//! **Blocks.** The package's generate function is always called on one whole block of
//! [`BLOCK`] samples, the run's indices `[k*BLOCK, (k+1)*BLOCK)`, whatever `--batch`, `--shard`
//! or `-n`: sample `i` is computed in the call of block `i / BLOCK`, at place `i % BLOCK`, with
//! the block's other samples beside it (their own seeds and latents, computed and dropped when
//! they are outside the batch, the shard or the run). The call is seeded with the seed of the
//! block's first sample. So what a package computes for a sample never depends on the batch
//! it was asked in: torch picks its kernels by batch shape, and one 8-bit level can flip
//! between batch sizes. The bridge also runs torch on one thread with deterministic
//! algorithms (`bridge.py`). A batch asks for the blocks it touches; the last block computed
//! is kept, so consecutive batches inside one block cost one call.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ndarray::{ArrayD, IxDyn};
use serde::Deserialize;
use serde_json::json;
use tempfile::TempDir;

use super::{LegacyCall, LegacyError, LegacyModel, last_lines};
use crate::generate::{GenerateError, Generator, SampleRequest};
use crate::sample::{Sample, sibling_seed};

/// The bridge script, shipped in the binary.
pub const BRIDGE_SCRIPT: &str = include_str!("bridge.py");

/// Samples per call of a package's generate function: the block size of the contract above.
/// Changing it changes the samples of legacy runs (the manifest's `arguments.seeding` says it).
pub const BLOCK: u64 = 8;

/// Lines of the model's stderr kept for error messages.
const STDERR_LINES: usize = 40;

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    accepts_latent: bool,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    traceback: String,
    #[serde(default)]
    samples: Vec<AnswerSample>,
}

#[derive(Debug, Deserialize)]
struct AnswerSample {
    image: Part,
    mask: Option<Part>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Part {
    Raw {
        raw: PathBuf,
        shape: Vec<usize>,
        dtype: String,
    },
    File {
        file: PathBuf,
    },
}

/// A running bridge: a legacy model ready to generate batches.
pub struct LegacyGenerator {
    model: Arc<LegacyModel>,
    call: Arc<LegacyCall>,
    /// Whether the latent is passed as `input_latent_vector` (declared and accepted).
    passes_latent: bool,
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    timeout: Option<Duration>,
    run_dir: TempDir,
    calls: u64,
    /// The last block computed: its rows and their samples, in place order.
    last_block: Option<(Vec<Row>, Vec<Sample>)>,
    /// Notes not yet taken ([`Generator::take_notes`]).
    notes: Vec<String>,
}

/// One place of a block: the sample's index and seed, and the latent it was given (`None`:
/// the one drawn from its seed).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    index: u64,
    seed: u64,
    latent: Option<Arc<Vec<f32>>>,
}

impl std::fmt::Debug for LegacyGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyGenerator")
            .field("model", &self.model.id)
            .field("run_dir", &self.run_dir.path())
            .finish()
    }
}

impl LegacyGenerator {
    /// Starts the bridge for `model` with the arguments of one run: imports its package and
    /// finds its generate function. A model that declares a latent but whose function takes
    /// no `input_latent_vector` is said so, once, as a warning.
    pub fn start(
        model: Arc<LegacyModel>,
        call: Arc<LegacyCall>,
    ) -> Result<LegacyGenerator, LegacyError> {
        let home = &model.home;
        let script = super::install_script(&home.root().join("legacy"), "bridge", BRIDGE_SCRIPT)?;
        let tmp = home.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(LegacyError::io("create directory", &tmp))?;
        let run_dir = tempfile::Builder::new()
            .prefix("legacy-run-")
            .tempdir_in(&tmp)
            .map_err(LegacyError::io("create a directory in", &tmp))?;
        super::prepare_run_dir(&model, run_dir.path())?;
        let mut command = model.env.script_command(&script, run_dir.path());
        // One thread for the numeric libraries, whatever --threads (see "Blocks" above).
        for var in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"] {
            command.env(var, "1");
        }
        if std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
            // What torch's deterministic algorithms need of cuBLAS on a GPU.
            command.env("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
        }
        // Contained (issue 26): the bridge dies with medigan, and its own process group
        // keeps a terminal's Ctrl-C from killing it mid-batch.
        let mut child =
            crate::child::spawn_contained(command).map_err(|e| LegacyError::Bridge {
                model: model.id.clone(),
                what: format!("could not start (`{}`): {e}", model.env.python.display()),
                stderr: String::new(),
            })?;
        let stdout = child.stdout.take();
        let stderr_pipe = child.stderr.take();
        let (tx, answers) = channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_reader = stderr_pipe.map(|pipe| {
            let kept = Arc::clone(&stderr);
            let id = model.id.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    tracing::info!(target: "medigan::legacy", "{id}: {line}");
                    if let Ok(mut kept) = kept.lock() {
                        if kept.len() == STDERR_LINES {
                            kept.pop_front();
                        }
                        kept.push_back(line);
                    }
                }
            })
        });
        let mut generator = LegacyGenerator {
            stdin: child.stdin.take(),
            child,
            answers,
            stderr,
            stderr_reader,
            timeout: model.timeout,
            run_dir,
            calls: 0,
            last_block: None,
            notes: Vec::new(),
            model,
            call,
            passes_latent: false,
        };
        let setup = json!({
            "module": generator.model.module,
            "function": generator.model.function,
            "model_file": generator.model.model_file,
            "custom": generator.call.kwargs,
        });
        generator.send(&setup)?;
        let answer = generator.receive()?;
        if !answer.ok {
            return Err(generator.failure(answer));
        }
        generator.passes_latent = generator.model.latent_size.is_some() && answer.accepts_latent;
        if generator.model.latent_size.is_some() && !answer.accepts_latent {
            let note = format!(
                "model `{}`: its function `{}` takes no `input_latent_vector`, so it draws its \
                 own latents: a sample depends on the seed of its block of {BLOCK} samples, not \
                 on its own seed alone",
                generator.model.id, generator.model.function
            );
            generator.notes.push(note);
        }
        Ok(generator)
    }

    /// Whether each sample's latent reaches the package (it declares a latent size and its
    /// function takes `input_latent_vector`).
    pub fn passes_latent(&self) -> bool {
        self.passes_latent
    }

    fn send(&mut self, message: &serde_json::Value) -> Result<(), LegacyError> {
        let line = format!("{message}\n");
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        sent.map_err(|_| self.stopped("stopped before it was asked for samples".into()))
    }

    fn receive(&mut self) -> Result<Answer, LegacyError> {
        let line = match self.timeout {
            Some(limit) => match self.answers.recv_timeout(limit) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.drain_stderr();
                    return Err(self.stopped(format!(
                        "did not answer within {} s and was stopped",
                        limit.as_secs()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.exited()),
            },
            None => self.answers.recv().map_err(|_| self.exited())?,
        };
        serde_json::from_str(&line).map_err(|e| {
            self.stopped(format!(
                "answered something that is not the bridge protocol ({e}): {line}"
            ))
        })
    }

    fn exited(&mut self) -> LegacyError {
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        self.drain_stderr();
        self.stopped(format!("stopped without answering ({status})"))
    }

    /// Lets the stderr reader take the last lines of a stopped process (at most 2 s: a
    /// subprocess of the model may keep the pipe open).
    fn drain_stderr(&mut self) {
        if let Some(reader) = self.stderr_reader.take() {
            for _ in 0..100 {
                if reader.is_finished() {
                    let _ = reader.join();
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn stopped(&self, what: String) -> LegacyError {
        let stderr = self
            .stderr
            .lock()
            .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        LegacyError::Bridge {
            model: self.model.id.clone(),
            what,
            stderr: last_lines(&stderr, 15),
        }
    }

    fn failure(&self, answer: Answer) -> LegacyError {
        let model = self.model.id.clone();
        let traceback = last_lines(&answer.traceback, 8);
        match answer.kind.as_str() {
            "missing_function" => LegacyError::MissingFunction {
                model,
                function: self.model.function.clone(),
                module: self.model.module.clone(),
            },
            "import" => LegacyError::Import {
                model,
                module: self.model.module.clone(),
                message: answer.error,
                traceback,
            },
            "result" => LegacyError::BadSample {
                model,
                reason: format!(
                    "its generate function `{}` returned a {}, which is not an image array \
                     (expected arrays [H, W], [H, W, C] or [C, H, W], or (image, mask) pairs)",
                    self.model.function, answer.error
                ),
            },
            _ => LegacyError::ModelFailed {
                model,
                function: self.model.function.clone(),
                message: answer.error,
                traceback,
            },
        }
    }

    /// The samples of `batch`, in its order: each block the batch touches is computed whole
    /// (or taken from the last block computed) and the batch's samples are picked from it.
    fn run_batch(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, LegacyError> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        if !self.passes_latent && batch.iter().any(|r| r.latent.is_some()) {
            return Err(self.latent_refused());
        }
        let mut picked: Vec<Option<Sample>> = vec![None; batch.len()];
        for (place, request) in batch.iter().enumerate() {
            if picked[place].is_some() {
                continue;
            }
            let start = request.index - request.index % BLOCK;
            let rows: Vec<Row> = (start..start.saturating_add(BLOCK))
                .map(|index| match batch.iter().find(|r| r.index == index) {
                    Some(r) => Row {
                        index,
                        seed: r.seed,
                        latent: r.latent.clone(),
                    },
                    None => Row {
                        index,
                        seed: sibling_seed(first.seed, first.index, index),
                        latent: None,
                    },
                })
                .collect();
            let samples = match self.last_block.take() {
                Some((cached, samples)) if cached == rows => samples,
                _ => self.call_block(&rows)?,
            };
            for (slot, r) in picked.iter_mut().zip(batch) {
                if slot.is_none() && (start..start.saturating_add(BLOCK)).contains(&r.index) {
                    *slot = samples.get((r.index - start) as usize).cloned();
                }
            }
            self.last_block = Some((rows, samples));
        }
        Ok(picked.into_iter().flatten().collect())
    }

    /// Runs the generate function once, on the block `rows`, seeded with its first sample's seed.
    fn call_block(&mut self, rows: &[Row]) -> Result<Vec<Sample>, LegacyError> {
        self.calls += 1;
        let dir = self.run_dir.path().join(format!("call-{}", self.calls));
        let (out, exchange) = (dir.join("output"), dir.join("exchange"));
        for d in [&out, &exchange] {
            std::fs::create_dir_all(d).map_err(LegacyError::io("create directory", d))?;
        }
        let latent = self.write_latents(rows, &exchange)?;
        self.send(&json!({
            "num_samples": rows.len(),
            "seed": rows[0].seed,
            "output_path": out,
            "exchange": exchange,
            "save_images": self.call.save_images,
            "latent": latent,
        }))?;
        let answer = self.receive()?;
        let result = if answer.ok {
            self.samples(answer, rows)
        } else {
            Err(self.failure(answer))
        };
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// Why a given latent cannot reach the package.
    fn latent_refused(&self) -> LegacyError {
        LegacyError::BadOption {
            model: self.model.id.clone(),
            reason: format!(
                "a latent was given, but {}",
                match self.model.latent_size {
                    None => "the catalogue declares no \
                             execution.generate_method.input_latent_vector_size"
                        .to_string(),
                    Some(_) => format!(
                        "its function `{}` takes no `input_latent_vector`",
                        self.model.function
                    ),
                }
            ),
        }
    }

    /// Writes the block's latents (`[n, size, 1, 1]` float32, the original visualiser's shape)
    /// for the bridge to pass as `input_latent_vector`; each is the row's own or the one drawn
    /// from its seed. `None` when the package takes none.
    fn write_latents(
        &self,
        rows: &[Row],
        exchange: &Path,
    ) -> Result<Option<serde_json::Value>, LegacyError> {
        let size = match self.model.latent_size {
            Some(size) if self.passes_latent => size,
            _ => return Ok(None),
        };
        let mut bytes = Vec::with_capacity(rows.len() * size * 4);
        for row in rows {
            let latent = match &row.latent {
                Some(latent) => latent.as_ref().clone(),
                None => self.model.seeded_latent(row.seed).unwrap_or_default(),
            };
            if latent.len() != size {
                return Err(LegacyError::BadOption {
                    model: self.model.id.clone(),
                    reason: format!(
                        "{} latent values given; its input_latent_vector_size is {size}",
                        latent.len()
                    ),
                });
            }
            bytes.extend(latent.iter().flat_map(|v| v.to_le_bytes()));
        }
        let path = exchange.join("latent.raw");
        std::fs::write(&path, bytes).map_err(LegacyError::io("write", &path))?;
        Ok(Some(
            json!({"raw": path, "shape": [rows.len(), size, 1, 1]}),
        ))
    }

    fn samples(&self, answer: Answer, rows: &[Row]) -> Result<Vec<Sample>, LegacyError> {
        if answer.samples.len() != rows.len() {
            return Err(self.bad(format!(
                "{} samples were asked for, the generate function gave {} (returned, or \
                 written to output_path when it returned nothing)",
                rows.len(),
                answer.samples.len()
            )));
        }
        rows.iter()
            .zip(answer.samples)
            .map(|(row, sample)| {
                Ok(Sample {
                    index: row.index,
                    seed: row.seed,
                    image: self.read_part(&sample.image)?,
                    mask: sample
                        .mask
                        .as_ref()
                        .map(|m| self.read_part(m))
                        .transpose()?,
                    label: None,
                })
            })
            .collect()
    }

    fn read_part(&self, part: &Part) -> Result<ArrayD<f32>, LegacyError> {
        match part {
            Part::Raw { raw, shape, dtype } => {
                let bytes = std::fs::read(raw).map_err(LegacyError::io("read", raw))?;
                let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                if count.and_then(|c| c.checked_mul(4)) != Some(bytes.len()) {
                    return Err(self.bad(format!(
                        "array of shape {shape:?} has {} bytes",
                        bytes.len()
                    )));
                }
                let values: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let array = ArrayD::from_shape_vec(IxDyn(shape), values)
                    .map_err(|e| self.bad(e.to_string()))?;
                let array = crate::formats::to_chw(array).map_err(|e| self.bad(e.to_string()))?;
                Ok(to_byte_range(array, dtype))
            }
            Part::File { file } => read_image_file(file).map_err(|r| self.bad(r)),
        }
    }

    fn bad(&self, reason: String) -> LegacyError {
        LegacyError::BadSample {
            model: self.model.id.clone(),
            reason,
        }
    }
}

impl Generator for LegacyGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        Ok(self.run_batch(batch)?)
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

impl Drop for LegacyGenerator {
    fn drop(&mut self) {
        drop(self.stdin.take()); // the bridge ends when its stdin closes
        let waited = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !waited {
            crate::child::kill_group(&self.child);
            let _ = self.child.wait();
        }
        crate::child::release(&self.child);
    }
}

/// Legacy samples are written in 0..255 (the range the original packages save images in):
/// integers by their type, floats in 0..1 or -1..1 scaled, other floats stretched.
fn to_byte_range(array: ArrayD<f32>, dtype: &str) -> ArrayD<f32> {
    let (lo, hi) = array
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let (offset, scale) = match dtype {
        "uint8" | "int8" | "int16" | "int32" | "int64" if lo >= 0.0 && hi <= 255.0 => (0.0, 1.0),
        "uint16" => (0.0, 255.0 / 65535.0),
        "bool" => (0.0, 255.0),
        _ if lo >= 0.0 && hi <= 1.0 => (0.0, 255.0),
        _ if lo >= -1.0 && hi <= 1.0 => (1.0, 127.5),
        _ if lo >= 0.0 && hi <= 255.0 => (0.0, 1.0),
        _ if hi > lo => (-lo, 255.0 / (hi - lo)),
        _ => (-lo, 0.0),
    };
    array.mapv(|v| (v + offset) * scale)
}

/// An image file a legacy package wrote ([`crate::formats::decode`]), on the 0..255 scale of
/// the original packages: raster levels over their top level times 255 (16-bit levels divided
/// by 257), other files mapped from their value range.
fn read_image_file(path: &Path) -> Result<ArrayD<f32>, String> {
    let cannot = |e: crate::formats::FormatError| format!("cannot read `{}`: {e}", path.display());
    let decoded = crate::formats::decode(path).map_err(cannot)?;
    let [low, top] = decoded.range;
    let array = match crate::formats::ImageKind::of(path) {
        Some(crate::formats::ImageKind::Raster) | None => {
            let divisor = top / 255.0;
            decoded.array.mapv(|v| v / divisor)
        }
        Some(_) if top > low => {
            let scale = 255.0 / (top - low);
            decoded.array.mapv(|v| (v - low) * scale)
        }
        Some(_) => decoded.array.mapv(|_| 0.0),
    };
    crate::formats::to_chw(array).map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_mapped_to_bytes() {
        let unit = ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.0, 1.0]).unwrap();
        assert_eq!(
            to_byte_range(unit.clone(), "float32").as_slice().unwrap(),
            &[0.0, 255.0]
        );
        assert_eq!(
            to_byte_range(unit, "uint8").as_slice().unwrap(),
            &[0.0, 1.0]
        );
        let signed = ArrayD::from_shape_vec(IxDyn(&[2]), vec![-1.0, 1.0]).unwrap();
        assert_eq!(
            to_byte_range(signed, "float64").as_slice().unwrap(),
            &[0.0, 255.0]
        );
    }
}
