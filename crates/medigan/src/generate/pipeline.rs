//! The bounded write pipeline: workers generate batches in parallel, the calling thread writes
//! them in order, and at most a fixed number of batches is in flight, whatever the run size.
//!
//! ```text
//! dispatcher --batch no.--> worker 1..W --samples--> writer (this thread) --> files, journal
//!      ^                                                  |
//!      +----------------- token per written batch --------+
//! ```
//!
//! Before it starts, the run claims its folder (`folder`: a lock per shard, an earlier run
//! refused, resumed or overwritten); as samples complete they are recorded in the journal
//! (`journal`); at the end the manifest is written from the journal and published, and the
//! journal removed. A resumed run dispatches only the batches with a sample to generate.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::folder::{Layout, OpenRun, open_run, temporary_prefix};
use super::journal::{JournalFile, JournalSample, Record, RecordKind};
use super::tar_layout::Tars;
use super::tar_packer::TarPacker;
use super::target::{WriteTarget, encode_parts};
use super::{GenerateError, GeneratorFactory, SampleRequest, StepWatch};
use crate::dataset::manifest::ManifestLine;
use crate::fs::{AtomicWrite, write_atomically_with};
use crate::output::{ManifestWriter, OutputError, Part, file_name};
use crate::progress::Progress;
use crate::sample::Sample;

/// What a finished run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Samples in the manifest (kept from an earlier run and generated now).
    pub samples: u64,
    /// Files in the manifest (images and masks, or tars).
    pub files: u64,
    /// Samples kept from an earlier, interrupted run (`--resume`).
    pub resumed: u64,
    /// The manifest.
    pub manifest: PathBuf,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Wall time from the first generator ready (model sessions open) to the end: the time
    /// the samples generated now took, without loading; zero when nothing was generated.
    pub generating: Duration,
    /// What the run has to tell the user, each once, in the order said: how a session was
    /// opened (tract standing in for onnxruntime), NaN values seen, a package ignoring the
    /// latent, ... (see [`super::Generator::take_notes`]).
    pub notes: Vec<String>,
}

/// What the workers tell the run beside their samples: when the first generator was ready, and
/// their notes.
#[derive(Debug, Default)]
struct RunLog {
    ready: OnceLock<Instant>,
    notes: Mutex<Vec<String>>,
}

impl RunLog {
    /// Keeps `notes` not said yet.
    fn note(&self, notes: Vec<String>) {
        if let Ok(mut kept) = self.notes.lock() {
            for note in notes {
                if !kept.contains(&note) {
                    kept.push(note);
                }
            }
        }
    }
}

/// Work handed between the pipeline's threads.
type BatchResult = (usize, Result<Vec<Sample>, GenerateError>);

/// Samples and files written so far.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    samples: u64,
    files: u64,
}

/// Generates `batch_count` batches (made by `make_batch`) on `workers` threads and writes them,
/// in order, to `target`. The folder is locked for this shard, each completed sample is
/// recorded in the run's journal, and the manifest gets its final name only when every file is
/// written (see [`super::journal`] and `target.mode` for an earlier run in the folder).
pub fn write_run(
    factory: &GeneratorFactory<'_>,
    make_batch: &(dyn Fn(usize) -> Vec<SampleRequest> + Sync),
    batch_count: usize,
    workers: usize,
    target: &WriteTarget<'_>,
    progress: &dyn Progress,
) -> Result<RunSummary, GenerateError> {
    let started = Instant::now();
    if progress.is_cancelled() {
        return Err(GenerateError::Cancelled);
    }
    let created = prepare_dir(target.dir)?;
    let log = RunLog::default();
    let job = Job {
        factory,
        make_batch,
        batch_count,
        workers,
        target,
        progress,
        log: &log,
    };
    let result = write_locked(&job);
    if result.is_err() && created {
        // Only succeeds when the failed run left nothing in the folder it made.
        let _ = std::fs::remove_dir(target.dir);
    }
    let (tally, resumed, manifest) = result?;
    Ok(RunSummary {
        samples: tally.samples,
        files: tally.files,
        resumed,
        manifest,
        elapsed: started.elapsed(),
        generating: log.ready.get().map_or(Duration::ZERO, Instant::elapsed),
        notes: log.notes.into_inner().unwrap_or_default(),
    })
}

/// What one run writes and with what: the arguments of [`write_run`] and the run's log.
#[derive(Clone, Copy)]
struct Job<'a> {
    factory: &'a GeneratorFactory<'a>,
    make_batch: &'a (dyn Fn(usize) -> Vec<SampleRequest> + Sync),
    batch_count: usize,
    workers: usize,
    target: &'a WriteTarget<'a>,
    progress: &'a dyn Progress,
    log: &'a RunLog,
}

/// Claims the folder, runs the pipeline and publishes the manifest; returns what the manifest
/// holds, the samples kept from earlier, and the manifest's path. `log` gets the moment the
/// first generator was made and the generators' notes.
fn write_locked(job: &Job<'_>) -> Result<(Tally, u64, PathBuf), GenerateError> {
    let (target, progress) = (job.target, job.progress);
    let tars = target
        .pack
        .map(|pack| Tars::new(pack, target.header.num_samples));
    let name_of = |index: u64, mask: bool| match tars {
        Some(tars) => tars.name(tars.of(index)),
        None => {
            let part = if mask { Part::Mask } else { Part::Image };
            file_name(index, target.digits, part, target.writer.extension())
        }
    };
    let layout = Layout {
        dir: target.dir,
        manifest_name: &target.manifest_name,
        header: &target.header,
        indices: target
            .header
            .indices()
            .unwrap_or(0..target.header.num_samples),
        file_name: &name_of,
        tars,
    };
    let mut run = open_run(&layout, target.mode)?;
    let resumed = run.kept.count();
    progress.advance(resumed);
    let mut tally = Tally {
        samples: resumed,
        files: run.kept_files,
    };
    let written = pipeline(job, &mut run, &mut tally);
    if let Err(error) = written {
        if tally.samples == 0 {
            // Nothing to resume: leave no journal (the lock goes with `run`).
            let _ = std::fs::remove_file(run.journal.path());
        }
        return Err(error);
    }
    let manifest = publish_manifest(target, &run)?;
    let _ = std::fs::remove_file(run.journal.path());
    Ok((tally, resumed, manifest))
}

/// Writes the manifest from the journal (samples in index order) and publishes it.
fn publish_manifest(target: &WriteTarget<'_>, run: &OpenRun) -> Result<PathBuf, GenerateError> {
    let record = Record::open(run.journal.path(), RecordKind::Journal)?;
    let prefix = temporary_prefix(&target.manifest_name);
    let mut manifest =
        ManifestWriter::create(target.dir, &target.manifest_name, &target.header, &prefix)?;
    for sample in record.samples()? {
        let sample = sample?;
        for file in sample.files {
            manifest.add(&ManifestLine {
                file: file.file,
                index: sample.index,
                seed: sample.seed,
                part: if file.part == "mask" || file.part == "tar" {
                    file.part
                } else {
                    "image".into()
                },
                label: sample.label.clone(),
                samples: sample.samples,
                sha256: file.sha256,
            })?;
        }
    }
    Ok(manifest.finish()?)
}

/// Runs the dispatcher, the workers and the writer until every batch is written, one fails,
/// or the run is cancelled.
fn pipeline(job: &Job<'_>, run: &mut OpenRun, tally: &mut Tally) -> Result<(), GenerateError> {
    let (factory, make_batch, batch_count) = (job.factory, job.make_batch, job.batch_count);
    let (workers, target, progress, log) = (job.workers, job.target, job.progress, job.log);
    let workers = workers.clamp(1, batch_count.max(1));
    let window = 2 * workers + 1;
    let cancel = AtomicBool::new(false);
    let (job_tx, job_rx) = sync_channel::<usize>(0);
    // Held by the workers only: when the last worker stops (after a failure, say), the receiver
    // goes, so a dispatcher waiting to hand out a batch stops too instead of hanging the run.
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<BatchResult>(window);
    let (token_tx, token_rx) = sync_channel::<()>(window);
    for _ in 0..window {
        let _ = token_tx.send(());
    }
    let kept = run.kept.clone();
    let watch = RunWatch {
        cancel: &cancel,
        progress,
    };
    std::thread::scope(|scope| {
        let cancel = &cancel;
        let kept = &kept;
        let skipped = done_tx.clone();
        let all_kept = move |b: usize| {
            kept.count() > 0 && make_batch(b).iter().all(|r| kept.contains(r.index))
        };
        scope.spawn(move || dispatch(batch_count, &all_kept, token_rx, job_tx, skipped, cancel));
        let watch = &watch;
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = Arc::clone(&job_rx);
            scope.spawn(move || work(factory, make_batch, &job_rx, done_tx, watch, log));
        }
        drop(done_tx);
        drop(job_rx);
        let written = collect(done_rx, token_tx, batch_count, run, target, tally, progress);
        cancel.store(true, Ordering::Relaxed);
        written
    })
}

/// Creates the output folder if needed and checks it is writable; returns whether it was
/// created.
fn prepare_dir(dir: &Path) -> Result<bool, GenerateError> {
    let unusable = |cause| GenerateError::OutputDir {
        path: dir.to_path_buf(),
        cause,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(unusable(std::io::Error::other(
            "it is a file, not a folder; give a folder (it is created if missing)",
        )));
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let probe = tempfile::Builder::new()
        .prefix(".medigan-probe-")
        .tempfile_in(dir);
    if let Err(cause) = probe {
        if created {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(unusable(cause));
    }
    Ok(created)
}

/// Hands out batch numbers, one per token (tokens come back as batches are written); a batch
/// whose samples are all kept from an earlier run goes straight to the writer, empty.
fn dispatch(
    batch_count: usize,
    all_kept: &dyn Fn(usize) -> bool,
    tokens: Receiver<()>,
    jobs: SyncSender<usize>,
    skipped: SyncSender<BatchResult>,
    cancel: &AtomicBool,
) {
    for batch in 0..batch_count {
        if tokens.recv().is_err() || cancel.load(Ordering::Relaxed) {
            return;
        }
        let sent = if all_kept(batch) {
            skipped.send((batch, Ok(Vec::new()))).is_ok()
        } else {
            jobs.send(batch).is_ok()
        };
        if !sent {
            return;
        }
    }
}

/// A worker: makes its generator (noting when the first one was ready), then generates the
/// batches it is handed until there are none, one fails, or the run is cancelled; then hands
/// the generator's notes to `log`.
fn work(
    factory: &GeneratorFactory<'_>,
    make_batch: &(dyn Fn(usize) -> Vec<SampleRequest> + Sync),
    jobs: &Mutex<Receiver<usize>>,
    done: SyncSender<BatchResult>,
    watch: &RunWatch<'_>,
    log: &RunLog,
) {
    let mut generator = match guarded(factory) {
        Ok(generator) => {
            let _ = log.ready.set(Instant::now());
            generator
        }
        Err(error) => {
            let _ = done.send((usize::MAX, Err(error)));
            return;
        }
    };
    generate_jobs(generator.as_mut(), make_batch, jobs, &done, watch);
    log.note(generator.take_notes());
}

/// Generates the batches handed out on `jobs` until there are none, one fails, or the run is
/// cancelled.
fn generate_jobs(
    generator: &mut dyn super::Generator,
    make_batch: &(dyn Fn(usize) -> Vec<SampleRequest> + Sync),
    jobs: &Mutex<Receiver<usize>>,
    done: &SyncSender<BatchResult>,
    watch: &RunWatch<'_>,
) {
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(batch) = job else { return };
        if watch.cancel.load(Ordering::Relaxed) {
            return;
        }
        let result = guarded(|| generator.generate_watched(&make_batch(batch), watch));
        let failed = result.is_err();
        if done.send((batch, result)).is_err() || failed {
            return;
        }
    }
}

/// What the workers' generators see of the run: its progress (steps shown, Ctrl-C) and
/// whether it is stopping.
struct RunWatch<'a> {
    cancel: &'a AtomicBool,
    progress: &'a dyn Progress,
}

impl StepWatch for RunWatch<'_> {
    fn step(&self, done: usize, total: usize) {
        self.progress.step(done, total);
    }

    fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.progress.is_cancelled()
    }
}

/// Runs `f`, turning a panic (a bug in a backend, say) into [`GenerateError::Worker`], so that
/// the run fails with an error instead of stalling the batches that wait for this one.
fn guarded<T>(f: impl FnOnce() -> Result<T, GenerateError>) -> Result<T, GenerateError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        Err(GenerateError::Worker(message))
    })
}

/// Writes finished batches in order, recording each sample (or each finished tar) in the
/// journal (synced after every batch); samples kept from an earlier run are skipped.
fn collect(
    done: Receiver<BatchResult>,
    tokens: SyncSender<()>,
    batch_count: usize,
    run: &mut OpenRun,
    target: &WriteTarget<'_>,
    tally: &mut Tally,
    progress: &dyn Progress,
) -> Result<(), GenerateError> {
    let prefix = temporary_prefix(&target.manifest_name);
    let mut packer = target
        .pack
        .map(|pack| TarPacker::new(pack, target, &prefix));
    let mut pending: BTreeMap<usize, Vec<Sample>> = BTreeMap::new();
    let mut next = 0usize;
    for (batch, result) in done.iter() {
        pending.insert(batch, result?);
        while let Some(batch_samples) = pending.remove(&next) {
            for sample in batch_samples.iter().filter(|s| !run.kept.contains(s.index)) {
                let complete = match packer.as_mut() {
                    Some(packer) => packer.put(sample)?,
                    None => Some(write_sample(sample, target, &prefix)?),
                };
                if let Some(entry) = complete {
                    run.journal.append(&entry)?;
                    let covered = entry.covered();
                    tally.samples += covered.end - covered.start;
                    tally.files += entry.files.len() as u64;
                }
                progress.advance(1);
            }
            run.journal.sync()?;
            let _ = tokens.send(());
            next += 1;
        }
        // Returning drops the channels, which stops the dispatcher and the workers.
        if next < batch_count && progress.is_cancelled() {
            return Err(GenerateError::Cancelled);
        }
    }
    packer.map_or(Ok(()), TarPacker::finish)
}

/// Writes a sample's image (and mask); returns its journal line.
fn write_sample(
    sample: &Sample,
    target: &WriteTarget<'_>,
    temporary_prefix: &str,
) -> Result<JournalSample, GenerateError> {
    let parts = encode_parts(sample, target)?;
    let mut files = Vec::with_capacity(parts.len());
    for (part, bytes) in parts {
        let name = file_name(sample.index, target.digits, part, target.writer.extension());
        let path = target.dir.join(&name);
        let how = AtomicWrite {
            prefix: temporary_prefix,
            sync: false,
        };
        write_atomically_with(&path, &bytes, how)
            .map_err(|cause| OutputError::Io { path, cause })?;
        files.push(JournalFile {
            file: name,
            part: if part == Part::Image { "image" } else { "mask" }.to_string(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    Ok(JournalSample {
        index: sample.index,
        seed: sample.seed,
        label: sample.label.clone(),
        samples: None,
        files,
    })
}
