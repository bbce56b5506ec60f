//! The bounded write pipeline: workers generate batches in parallel, the calling thread writes
//! them in order, and at most a fixed number of batches is in flight, whatever the run size.
//!
//! ```text
//! dispatcher --batch no.--> worker 1..W --samples--> writer (this thread) --> files, manifest
//!      ^                                                  |
//!      +----------------- token per written batch --------+
//! ```

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{GenerateError, GeneratorFactory, SampleRequest};
use crate::output::{
    Encoding, ManifestFile, ManifestHeader, ManifestWriter, Part, Provenance, SampleWriter,
    file_name, write_atomically,
};
use crate::progress::Progress;
use crate::sample::Sample;

/// Where and how a run writes its samples.
pub struct WriteTarget<'a> {
    /// The output directory (created if missing).
    pub dir: &'a Path,
    /// The format's writer.
    pub writer: &'a dyn SampleWriter,
    /// The manifest's first line.
    pub header: ManifestHeader,
    /// The manifest's file name.
    pub manifest_name: String,
    /// Value range of the image output.
    pub image_range: [f64; 2],
    /// Value range of the mask output, for image+mask models.
    pub mask_range: Option<[f64; 2]>,
    /// Provenance embedded by formats with metadata.
    pub provenance: Provenance,
    /// Digits of the file numbers.
    pub digits: usize,
}

/// What a finished run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Samples written.
    pub samples: u64,
    /// Files written (images and masks).
    pub files: u64,
    /// The manifest.
    pub manifest: PathBuf,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Work handed between the pipeline's threads.
type BatchResult = (usize, Result<Vec<Sample>, GenerateError>);

/// Generates `batch_count` batches (made by `make_batch`) on `workers` threads and writes them,
/// in order, to `target`. The manifest gets its final name only when every file is written.
pub fn write_run(
    factory: &GeneratorFactory<'_>,
    make_batch: &(dyn Fn(usize) -> Vec<SampleRequest> + Sync),
    batch_count: usize,
    workers: usize,
    target: &WriteTarget<'_>,
    progress: &dyn Progress,
) -> Result<RunSummary, GenerateError> {
    let started = Instant::now();
    prepare_dir(target.dir)?;
    let manifest = ManifestWriter::create(target.dir, &target.manifest_name, &target.header)?;
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
    std::thread::scope(|scope| {
        let cancel = &cancel;
        scope.spawn(move || dispatch(batch_count, token_rx, job_tx, cancel));
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = Arc::clone(&job_rx);
            scope.spawn(move || work(factory, make_batch, &job_rx, done_tx, cancel));
        }
        drop(done_tx);
        drop(job_rx);
        let written = collect(done_rx, token_tx, manifest, target, progress);
        cancel.store(true, Ordering::Relaxed);
        written
    })
    .map(|(samples, files, manifest)| RunSummary {
        samples,
        files,
        manifest,
        elapsed: started.elapsed(),
    })
}

fn prepare_dir(dir: &Path) -> Result<(), GenerateError> {
    let unusable = |cause| GenerateError::OutputDir {
        path: dir.to_path_buf(),
        cause,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(unusable(std::io::Error::other(
            "it is a file, not a folder; give a folder (it is created if missing)",
        )));
    }
    std::fs::create_dir_all(dir).map_err(unusable)?;
    tempfile::Builder::new()
        .prefix(".medigan-probe-")
        .tempfile_in(dir)
        .map_err(unusable)?;
    Ok(())
}

/// Hands out batch numbers, one per token (tokens come back as batches are written).
fn dispatch(
    batch_count: usize,
    tokens: Receiver<()>,
    jobs: SyncSender<usize>,
    cancel: &AtomicBool,
) {
    for batch in 0..batch_count {
        if tokens.recv().is_err() || cancel.load(Ordering::Relaxed) || jobs.send(batch).is_err() {
            return;
        }
    }
}

fn work(
    factory: &GeneratorFactory<'_>,
    make_batch: &(dyn Fn(usize) -> Vec<SampleRequest> + Sync),
    jobs: &Mutex<Receiver<usize>>,
    done: SyncSender<BatchResult>,
    cancel: &AtomicBool,
) {
    let mut generator = match guarded(factory) {
        Ok(generator) => generator,
        Err(error) => {
            let _ = done.send((usize::MAX, Err(error)));
            return;
        }
    };
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(batch) = job else { return };
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let result = guarded(|| generator.generate(&make_batch(batch)));
        let failed = result.is_err();
        if done.send((batch, result)).is_err() || failed {
            return;
        }
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

/// Writes finished batches in order; returns (samples, files, manifest path).
fn collect(
    done: Receiver<BatchResult>,
    tokens: SyncSender<()>,
    mut manifest: ManifestWriter,
    target: &WriteTarget<'_>,
    progress: &dyn Progress,
) -> Result<(u64, u64, PathBuf), GenerateError> {
    let mut pending: BTreeMap<usize, Vec<Sample>> = BTreeMap::new();
    let (mut next, mut samples, mut files) = (0usize, 0u64, 0u64);
    for (batch, result) in done.iter() {
        pending.insert(batch, result?);
        while let Some(batch_samples) = pending.remove(&next) {
            for sample in &batch_samples {
                files += write_sample(sample, target, &mut manifest)?;
                samples += 1;
                progress.advance(1);
            }
            let _ = tokens.send(());
            next += 1;
        }
        // Returning drops the channels, which stops the dispatcher and the workers.
        if progress.is_cancelled() {
            return Err(GenerateError::Cancelled);
        }
    }
    drop(tokens);
    let path = manifest.finish()?;
    Ok((samples, files, path))
}

/// Writes a sample's image (and mask) and records them; returns the number of files.
fn write_sample(
    sample: &Sample,
    target: &WriteTarget<'_>,
    manifest: &mut ManifestWriter,
) -> Result<u64, GenerateError> {
    let mut parts = vec![(Part::Image, &sample.image, target.image_range)];
    if let (Some(mask), Some(range)) = (&sample.mask, target.mask_range) {
        parts.push((Part::Mask, mask, range));
    }
    for (part, array, range) in &parts {
        let encoding = Encoding {
            index: sample.index,
            part: *part,
            range: *range,
            provenance: &target.provenance,
        };
        let bytes = target.writer.encode(array, &encoding)?;
        let name = file_name(
            sample.index,
            target.digits,
            *part,
            target.writer.extension(),
        );
        write_atomically(&target.dir.join(&name), &bytes)?;
        manifest.add(&ManifestFile {
            file: name,
            index: sample.index,
            seed: sample.seed,
            part: if *part == Part::Image {
                "image"
            } else {
                "mask"
            },
            label: sample.label.clone(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        })?;
    }
    Ok(parts.len() as u64)
}
