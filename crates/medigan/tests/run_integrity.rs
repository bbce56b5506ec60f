//! Run integrity (issue #14, part A): one writer per shard of an output folder, a journal that
//! makes interrupted runs resumable, and no file of the folder ever followed through a planted
//! symlink or vouched for by a stale manifest. The regression tests are named after the fault
//! campaign's defects (2, 3, 4, 16).
//!
//! The runs here use a fake generator (sample `i` is a 4x4 array of `i / 100 + offset`), so
//! they are fast and can be held at a gate while another run tries the same folder.

mod common;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use medigan::error::Hint;
use medigan::generate::{
    self, GenerateError, Generator, RunMode, RunSummary, SampleRequest, WriteTarget,
};
use medigan::output::{ManifestHeader, NpyWriter, Provenance, manifest_name};
use medigan::progress::{NoProgress, Progress};
use medigan::sample::Sample;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const SAMPLES: u64 = 30;

/// Holds a run inside its first batch until released.
#[derive(Clone)]
enum Gate {
    Open,
    /// Every run sharing it waits for the others (runs that overlap in time).
    Barrier(Arc<Barrier>),
    /// Waits for a message.
    Channel(Arc<std::sync::Mutex<mpsc::Receiver<()>>>),
}

/// One fake run: its shard, mode, the value offset of its samples, a failure.
#[derive(Clone)]
struct FakeRun {
    shard: Option<(u64, u64)>,
    mode: RunMode,
    offset: f32,
    fail_at: Option<u64>,
    gate: Gate,
    batch_size: usize,
    /// Whether the manifest header records the batch size (as the CLI's does).
    record_batch: bool,
    generated: Arc<AtomicU64>,
}

impl Default for FakeRun {
    fn default() -> Self {
        FakeRun {
            shard: None,
            mode: RunMode::Fresh,
            offset: 0.0,
            fail_at: None,
            gate: Gate::Open,
            batch_size: 4,
            record_batch: false,
            generated: Arc::new(AtomicU64::new(0)),
        }
    }
}

struct FakeGenerator {
    run: FakeRun,
}

impl Generator for FakeGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        match &self.run.gate {
            Gate::Open => {}
            Gate::Barrier(barrier) => {
                barrier.wait();
            }
            Gate::Channel(rx) => {
                let _ = rx.lock().unwrap().recv();
            }
        }
        self.run.gate = Gate::Open;
        let mut samples = Vec::new();
        for r in batch {
            if self.run.fail_at == Some(r.index) {
                return Err(GenerateError::Worker(format!(
                    "simulated failure on {}",
                    r.index
                )));
            }
            self.run.generated.fetch_add(1, Ordering::SeqCst);
            samples.push(Sample {
                index: r.index,
                seed: r.seed,
                image: ArrayD::from_elem(
                    IxDyn(&[1, 4, 4]),
                    r.index as f32 / 100.0 + self.run.offset,
                ),
                mask: None,
                label: None,
            });
        }
        Ok(samples)
    }
}

impl FakeRun {
    fn indices(&self) -> Range<u64> {
        match self.shard {
            Some((k, n)) => (SAMPLES * (k - 1) / n)..(SAMPLES * k / n),
            None => 0..SAMPLES,
        }
    }

    fn header(&self) -> ManifestHeader {
        ManifestHeader {
            tool: "medigan-rs test".into(),
            model_id: "fake".into(),
            model_version: None,
            package_sha256: "0".repeat(64),
            seed: 1,
            num_samples: SAMPLES,
            shard: self.shard.map(|(k, n)| format!("{k}/{n}")),
            format: "npy".into(),
            value_mapping: None,
            arguments: if self.record_batch {
                serde_json::json!({ "offset": self.offset, "batch_size": self.batch_size })
            } else {
                serde_json::json!({ "offset": self.offset })
            },
        }
    }

    /// Runs into `dir` on another thread, failing the test if it does not end within a minute.
    fn run(&self, dir: &Path, progress: Arc<dyn Progress>) -> Result<RunSummary, GenerateError> {
        self.run_within(dir, progress, Duration::from_secs(60))
    }

    /// [`FakeRun::run`] failing the test if the run does not end within `limit`.
    fn run_within(
        &self,
        dir: &Path,
        progress: Arc<dyn Progress>,
        limit: Duration,
    ) -> Result<RunSummary, GenerateError> {
        let (tx, rx) = mpsc::channel();
        let handle = self.spawn(dir, progress, tx);
        let result = rx.recv_timeout(limit).expect("write_run hung");
        handle.join().unwrap();
        result
    }

    fn spawn(
        &self,
        dir: &Path,
        progress: Arc<dyn Progress>,
        tx: mpsc::Sender<Result<RunSummary, GenerateError>>,
    ) -> std::thread::JoinHandle<()> {
        let run = self.clone();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let factory = || -> Result<Box<dyn Generator>, GenerateError> {
                Ok(Box::new(FakeGenerator { run: run.clone() }))
            };
            let indices = run.indices();
            let make_batch =
                |b: usize| common::batch_requests(indices.clone(), run.batch_size, b, 1);
            let writer = NpyWriter;
            let target = WriteTarget {
                dir: &dir,
                writer: &writer,
                header: run.header(),
                manifest_name: manifest_name(run.shard),
                image_range: [0.0, 1.0],
                mask_range: None,
                provenance: Provenance::default(),
                digits: 5,
                mode: run.mode,
                pack: None,
            };
            let batches = (indices.end - indices.start).div_ceil(run.batch_size as u64) as usize;
            let result = generate::write_run(
                &factory,
                &make_batch,
                batches,
                1,
                &target,
                progress.as_ref(),
            );
            let _ = tx.send(result);
        })
    }
}

fn no_progress() -> Arc<dyn Progress> {
    Arc::new(NoProgress)
}

/// Every entry of `dir` by name (hidden and temporary files included); a symlink reads as
/// `-> target`.
fn all_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = match std::fs::read_link(&path) {
                Ok(target) => format!("-> {}", target.display()).into_bytes(),
                Err(_) => std::fs::read(&path).unwrap(),
            };
            (name, bytes)
        })
        .collect()
}

/// Checks that every file a manifest (or journal) lists is in `dir` with the listed sha256;
/// returns how many it lists.
fn assert_record_matches_files(dir: &Path, record: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(record)).unwrap();
    let mut count = 0;
    for line in text.lines().skip(1) {
        let value: Value = serde_json::from_str(line).unwrap();
        let files: Vec<Value> = match value.get("files") {
            Some(files) => files.as_array().unwrap().clone(),
            None => vec![value.clone()],
        };
        for file in files {
            let name = file["file"].as_str().unwrap();
            let bytes = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                file["sha256"].as_str().unwrap(),
                "{record} lists {name} with another sha256"
            );
            count += 1;
        }
    }
    count
}

/// The folder an uninterrupted run writes.
fn reference_folder(run: &FakeRun) -> TempDir {
    let tmp = TempDir::new().unwrap();
    let fresh = FakeRun {
        mode: RunMode::Fresh,
        fail_at: None,
        gate: Gate::Open,
        ..run.clone()
    };
    fresh.run(tmp.path(), no_progress()).unwrap();
    tmp
}

#[test]
fn defect2_a_plain_rerun_into_a_finished_run_is_refused_and_changes_nothing() {
    let tmp = TempDir::new().unwrap();
    FakeRun::default().run(tmp.path(), no_progress()).unwrap();
    let before = all_files(tmp.path());
    let rerun = FakeRun {
        offset: 1.0,
        ..FakeRun::default()
    };
    let error = rerun.run(tmp.path(), no_progress()).unwrap_err();
    assert!(
        matches!(
            &error,
            GenerateError::EarlierRun {
                state: "finished",
                samples: 30,
                ..
            }
        ),
        "{error:?}"
    );
    let hint = medigan::Error::from(error).hint().unwrap();
    assert!(
        hint.contains("RunMode::Resume") && hint.contains("RunMode::Overwrite"),
        "{hint}"
    );
    assert_eq!(all_files(tmp.path()), before, "the folder is untouched");
}

#[test]
fn defect2_an_overwrite_that_fails_midway_leaves_no_stale_manifest() {
    let tmp = TempDir::new().unwrap();
    FakeRun::default().run(tmp.path(), no_progress()).unwrap();
    let overwrite = FakeRun {
        offset: 1.0,
        mode: RunMode::Overwrite,
        fail_at: Some(13),
        ..FakeRun::default()
    };
    overwrite.run(tmp.path(), no_progress()).unwrap_err();
    let files = all_files(tmp.path());
    assert!(
        !files.contains_key("manifest.jsonl"),
        "the earlier run's manifest would vouch for files that were overwritten"
    );
    let vouched = assert_record_matches_files(tmp.path(), ".manifest.journal");
    assert_eq!(vouched, 12, "the journal holds the 3 batches written");
    let samples = files.keys().filter(|n| n.ends_with(".npy")).count();
    assert_eq!(samples, 12, "the earlier run's other files were discarded");
}

#[test]
fn defect3_a_second_run_of_the_same_shard_fails_at_once_naming_the_holder() {
    for shard in [None, Some((2, 3))] {
        let tmp = TempDir::new().unwrap();
        let (release, gate) = mpsc::channel();
        let first = FakeRun {
            shard,
            gate: Gate::Channel(Arc::new(std::sync::Mutex::new(gate))),
            ..FakeRun::default()
        };
        let (tx, rx) = mpsc::channel();
        let handle = first.spawn(tmp.path(), no_progress(), tx);
        let journal = tmp.path().join(format!(
            ".{}",
            manifest_name(shard).replace(".jsonl", ".journal")
        ));
        while !journal.exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let second = FakeRun {
            shard,
            offset: 1.0,
            ..FakeRun::default()
        };
        for mode in [RunMode::Fresh, RunMode::Resume, RunMode::Overwrite] {
            let error = FakeRun {
                mode,
                ..second.clone()
            }
            .run(tmp.path(), no_progress())
            .unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, GenerateError::OutputInUse { .. }),
                "{mode:?}: {error:?}"
            );
            assert!(
                message.contains(&format!("pid {}", std::process::id())),
                "{message}"
            );
        }
        release.send(()).unwrap();
        let summary = rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap();
        handle.join().unwrap();
        let listed = assert_record_matches_files(tmp.path(), &manifest_name(shard));
        assert_eq!(listed as u64, summary.files);
        let names: Vec<_> = all_files(tmp.path()).into_keys().collect();
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "no lock, journal or temporary file is left: {names:?}"
        );
        assert_eq!(
            all_files(tmp.path()),
            all_files(reference_folder(&first).path())
        );
    }
}

#[test]
fn different_shards_of_one_run_write_one_folder_at_the_same_time() {
    let tmp = TempDir::new().unwrap();
    let barrier = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (1..=3)
        .map(|k| {
            FakeRun {
                shard: Some((k, 3)),
                gate: Gate::Barrier(Arc::clone(&barrier)),
                batch_size: 3,
                ..FakeRun::default()
            }
            .spawn(tmp.path(), no_progress(), tx.clone())
        })
        .collect();
    for _ in 0..3 {
        rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap();
    }
    handles.into_iter().for_each(|h| h.join().unwrap());
    let mut files = all_files(tmp.path());
    let manifests: Vec<String> = files
        .keys()
        .filter(|n| n.starts_with("manifest"))
        .cloned()
        .collect();
    assert_eq!(manifests.len(), 3, "{manifests:?}");
    for manifest in &manifests {
        assert_record_matches_files(tmp.path(), manifest);
        files.remove(manifest);
    }
    let mut whole = all_files(reference_folder(&FakeRun::default()).path());
    whole.remove("manifest.jsonl");
    assert_eq!(files, whole, "the shards' files are the unsharded run's");
}

#[test]
fn an_unsharded_run_and_a_shard_overlapping_it_are_refused() {
    let tmp = TempDir::new().unwrap();
    let (release, gate) = mpsc::channel();
    let whole = FakeRun {
        gate: Gate::Channel(Arc::new(std::sync::Mutex::new(gate))),
        ..FakeRun::default()
    };
    let (tx, rx) = mpsc::channel();
    let handle = whole.spawn(tmp.path(), no_progress(), tx);
    while !tmp.path().join(".manifest.journal").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let shard = FakeRun {
        shard: Some((1, 2)),
        ..FakeRun::default()
    };
    let error = shard.run(tmp.path(), no_progress()).unwrap_err();
    assert!(
        matches!(&error, GenerateError::OverlappingRun { other, .. } if other == ".manifest.journal"),
        "{error:?}"
    );
    release.send(()).unwrap();
    rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap();
    handle.join().unwrap();
    // Finished, the unsharded run's manifest still excludes the shard, in every mode.
    for mode in [RunMode::Fresh, RunMode::Resume, RunMode::Overwrite] {
        let error = FakeRun {
            mode,
            ..shard.clone()
        }
        .run(tmp.path(), no_progress())
        .unwrap_err();
        assert!(
            matches!(&error, GenerateError::OverlappingRun { other, .. } if other == "manifest.jsonl"),
            "{mode:?}: {error:?}"
        );
    }
    assert_eq!(
        all_files(tmp.path()),
        all_files(reference_folder(&FakeRun::default()).path())
    );
}

#[cfg(unix)]
#[test]
fn defect4_a_symlink_planted_in_the_output_folder_is_never_followed() {
    let outside = TempDir::new().unwrap();
    let victim = outside.path().join("victim.txt");
    for planted in [
        ".manifest.jsonl.part",
        ".manifest.journal",
        ".manifest.lock",
    ] {
        std::fs::write(&victim, b"precious").unwrap();
        let tmp = TempDir::new().unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join(planted)).unwrap();
        let result = FakeRun::default().run(tmp.path(), no_progress());
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"precious",
            "{planted}: the symlink's target was written"
        );
        match planted {
            ".manifest.lock" => {
                let error = result.unwrap_err();
                assert!(matches!(error, GenerateError::RunFile { .. }), "{error:?}");
                assert!(error.to_string().contains(".manifest.lock"), "{error}");
            }
            ".manifest.journal" => {
                // A record is opened without following a link (issue 26): the run refuses to
                // go on, naming the journal.
                let error = result.unwrap_err();
                assert!(matches!(error, GenerateError::RunFile { .. }), "{error:?}");
                assert!(error.to_string().contains(".manifest.journal"), "{error}");
            }
            _ => {
                result.unwrap();
                assert_record_matches_files(tmp.path(), "manifest.jsonl");
                assert!(
                    !tmp.path().join(planted).exists(),
                    "the leftover name is cleaned"
                );
            }
        }
    }
}

#[test]
fn defect16_a_failed_run_that_wrote_nothing_leaves_no_folder_and_no_temporary_files() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    let failing = FakeRun {
        fail_at: Some(0),
        ..FakeRun::default()
    };
    failing.run(&dir, no_progress()).unwrap_err();
    assert!(!dir.exists(), "the folder the run made is removed");
    let existing = tmp.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    failing.run(&existing, no_progress()).unwrap_err();
    assert!(existing.exists(), "a folder the user made stays");
    assert!(
        all_files(&existing).is_empty(),
        "{:?}",
        all_files(&existing)
    );
}

/// Cancels once `after` samples were reported done.
struct CancelAfter {
    after: u64,
    done: AtomicU64,
}

impl Progress for CancelAfter {
    fn begin(&self, _what: &str, _total: Option<u64>) {}
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::SeqCst);
    }
    fn finish(&self) {}
    fn is_cancelled(&self) -> bool {
        self.done.load(Ordering::SeqCst) >= self.after
    }
}

#[test]
fn defect16_a_cancelled_run_leaves_its_journal_only_and_resumes_to_the_uninterrupted_folder() {
    let reference = reference_folder(&FakeRun::default());
    for after in [1, 7, 12, 25] {
        let tmp = TempDir::new().unwrap();
        let cancel = Arc::new(CancelAfter {
            after,
            done: AtomicU64::new(0),
        });
        let error = FakeRun::default().run(tmp.path(), cancel).unwrap_err();
        assert!(matches!(error, GenerateError::Cancelled), "{error:?}");
        let names: Vec<String> = all_files(tmp.path()).into_keys().collect();
        assert!(
            names
                .iter()
                .all(|n| n.ends_with(".npy") || n == ".manifest.journal"),
            "after {after}: only samples and the journal: {names:?}"
        );
        let vouched = assert_record_matches_files(tmp.path(), ".manifest.journal");
        assert_eq!(vouched as u64, after.div_ceil(4) * 4, "whole batches");
        let resume = FakeRun {
            mode: RunMode::Resume,
            ..FakeRun::default()
        };
        let summary = resume.run(tmp.path(), no_progress()).unwrap();
        assert_eq!(summary.resumed, vouched as u64);
        assert_eq!(
            resume.generated.load(Ordering::SeqCst),
            SAMPLES - summary.resumed,
            "only the missing samples are generated"
        );
        assert_eq!(all_files(tmp.path()), all_files(reference.path()));
    }
}

#[test]
fn resume_keeps_the_vouched_files_and_regenerates_damaged_missing_or_linked_ones() {
    let reference = reference_folder(&FakeRun::default());
    let tmp = TempDir::new().unwrap();
    FakeRun::default().run(tmp.path(), no_progress()).unwrap();
    std::fs::write(tmp.path().join("00003.npy"), b"damaged").unwrap();
    std::fs::remove_file(tmp.path().join("00017.npy")).unwrap();
    #[cfg(unix)]
    {
        let elsewhere = TempDir::new().unwrap();
        let copy = elsewhere.path().join("copy.npy");
        std::fs::copy(tmp.path().join("00025.npy"), &copy).unwrap();
        std::fs::remove_file(tmp.path().join("00025.npy")).unwrap();
        std::os::unix::fs::symlink(&copy, tmp.path().join("00025.npy")).unwrap();
        let resume = FakeRun {
            mode: RunMode::Resume,
            ..FakeRun::default()
        };
        let summary = resume.run(tmp.path(), no_progress()).unwrap();
        assert_eq!(summary.resumed, 27);
        assert_eq!(
            resume.generated.load(Ordering::SeqCst),
            12,
            "the three batches holding a bad file"
        );
        assert_eq!(all_files(tmp.path()), all_files(reference.path()));
    }
}

#[test]
fn resume_with_other_arguments_is_refused_naming_the_field() {
    let tmp = TempDir::new().unwrap();
    FakeRun {
        fail_at: Some(9),
        ..FakeRun::default()
    }
    .run(tmp.path(), no_progress())
    .unwrap_err();
    let before = all_files(tmp.path());
    let error = FakeRun {
        mode: RunMode::Resume,
        offset: 0.5,
        ..FakeRun::default()
    }
    .run(tmp.path(), no_progress())
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("arguments.offset was 0.0, now 0.5"),
        "{message}"
    );
    assert_eq!(all_files(tmp.path()), before);
}

#[test]
fn resume_without_an_earlier_run_is_an_ordinary_run() {
    let tmp = TempDir::new().unwrap();
    let summary = FakeRun {
        mode: RunMode::Resume,
        ..FakeRun::default()
    }
    .run(tmp.path(), no_progress())
    .unwrap();
    assert_eq!((summary.samples, summary.resumed), (SAMPLES, 0));
    let reference = reference_folder(&FakeRun::default());
    assert_eq!(all_files(tmp.path()), all_files(reference.path()));
}

#[test]
fn a_fresh_run_refuses_sample_files_no_run_accounts_for() {
    let tmp = TempDir::new().unwrap();
    std::fs::write(tmp.path().join("00012.npy"), b"someone's data").unwrap();
    std::fs::write(tmp.path().join("notes.txt"), b"unrelated").unwrap();
    let error = FakeRun::default()
        .run(tmp.path(), no_progress())
        .unwrap_err();
    assert!(
        matches!(&error, GenerateError::ExistingFile { file, .. } if file == "00012.npy"),
        "{error:?}"
    );
    let names: Vec<String> = all_files(tmp.path()).into_keys().collect();
    assert_eq!(names, ["00012.npy", "notes.txt"]);
    // A shard whose samples do not include it is fine.
    FakeRun {
        shard: Some((2, 2)),
        ..FakeRun::default()
    }
    .run(tmp.path(), no_progress())
    .unwrap();
}

#[test]
fn defect16_what_a_run_killed_before_its_first_sample_left_is_cleaned_by_the_next_run() {
    let tmp = TempDir::new().unwrap();
    let header = serde_json::to_string(&FakeRun::default().header()).unwrap();
    let journal =
        format!("{{\"medigan_journal\":1,\"manifest\":\"manifest.jsonl\",\"header\":{header}}}\n");
    std::fs::write(tmp.path().join(".manifest.journal"), journal).unwrap();
    std::fs::write(tmp.path().join(".manifest.lock"), b"{\"pid\":1}").unwrap();
    std::fs::write(tmp.path().join(".medigan-manifest.x1y2z3.part"), b"half").unwrap();
    std::fs::write(tmp.path().join(".manifest.jsonl.part"), b"{\"old\":1}").unwrap();
    std::fs::write(
        tmp.path()
            .join(".medigan-manifest-shard-1-of-2.q9w8e7.part"),
        b"another shard's, maybe live",
    )
    .unwrap();
    FakeRun::default().run(tmp.path(), no_progress()).unwrap();
    let mut files = all_files(tmp.path());
    assert!(
        files
            .remove(".medigan-manifest-shard-1-of-2.q9w8e7.part")
            .is_some(),
        "another shard's temporary file is not this run's to remove"
    );
    assert_eq!(
        files,
        all_files(reference_folder(&FakeRun::default()).path())
    );
}

// Issue 26 (reliability, round two): hostile run folders.

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Finding 3: a FIFO named like a run record (the journal, the manifest, another shard's
/// journal) hung every `generate` into the folder, `--overwrite` included.
#[cfg(unix)]
#[test]
fn regression_26_a_fifo_named_like_a_run_record_never_blocks_a_run() {
    let quick = Duration::from_secs(10);
    for planted in [
        ".manifest.journal",
        "manifest.jsonl",
        ".manifest-shard-1-of-2.journal",
        "manifest-shard-2-of-2.jsonl",
    ] {
        for mode in [RunMode::Fresh, RunMode::Resume, RunMode::Overwrite] {
            let tmp = TempDir::new().unwrap();
            mkfifo(&tmp.path().join(planted));
            let run = FakeRun {
                mode,
                ..FakeRun::default()
            };
            let result = run.run_within(tmp.path(), no_progress(), quick);
            let own = planted == ".manifest.journal" || planted == "manifest.jsonl";
            match (own, mode) {
                (true, RunMode::Fresh | RunMode::Resume) => {
                    let error = result.unwrap_err().to_string();
                    assert!(error.contains("not a regular file"), "{planted}: {error}");
                }
                _ => {
                    result.unwrap_or_else(|e| panic!("{planted} {mode:?}: {e}"));
                    assert_record_matches_files(tmp.path(), "manifest.jsonl");
                }
            }
        }
    }
}

/// Finding 7: `--overwrite` deleted any plain file an earlier journal or manifest listed, e.g.
/// a `README.txt` named by an edited manifest, or another shard's manifest.
#[test]
fn regression_26_overwrite_deletes_only_the_files_the_earlier_run_wrote() {
    let tmp = TempDir::new().unwrap();
    FakeRun::default().run(tmp.path(), no_progress()).unwrap();
    let keep = [
        ("README.txt", "read me"),
        ("manifest-shard-1-of-2.jsonl", "another run's manifest"),
        ("99999.npy", "a sample-like name outside the run"),
    ];
    let mut manifest = std::fs::read_to_string(tmp.path().join("manifest.jsonl")).unwrap();
    for (name, text) in keep {
        std::fs::write(tmp.path().join(name), text).unwrap();
        let index = if name.starts_with('9') { 99999 } else { 29 };
        manifest.push_str(&format!(
            "{{\"file\":\"{name}\",\"index\":{index},\"seed\":1,\"part\":\"image\",\"sha256\":\"{}\"}}\n",
            hex::encode(Sha256::digest(text.as_bytes()))
        ));
    }
    std::fs::write(tmp.path().join("manifest.jsonl"), manifest).unwrap();
    // A sample changed since it was written is not the run's any more: it is kept too.
    std::fs::write(tmp.path().join("00007.npy"), b"edited by hand").unwrap();
    let overwrite = FakeRun {
        mode: RunMode::Overwrite,
        fail_at: Some(0),
        ..FakeRun::default()
    };
    overwrite.run(tmp.path(), no_progress()).unwrap_err();
    let files = all_files(tmp.path());
    for (name, text) in keep {
        assert_eq!(
            files.get(name).map(Vec::as_slice),
            Some(text.as_bytes()),
            "{name}"
        );
    }
    assert_eq!(files["00007.npy"], b"edited by hand");
    let samples: Vec<&String> = files.keys().filter(|n| n.ends_with(".npy")).collect();
    assert_eq!(
        samples,
        ["00007.npy", "99999.npy"],
        "the run's own files are discarded"
    );
}

/// Finding 11: `--resume` kept a journal line with a wrong per-sample seed; the published
/// manifest recorded it and `dataset verify` passed.
#[test]
fn regression_26_resume_regenerates_a_sample_recorded_with_a_wrong_seed() {
    let reference = reference_folder(&FakeRun::default());
    let tmp = TempDir::new().unwrap();
    FakeRun {
        fail_at: Some(9),
        ..FakeRun::default()
    }
    .run(tmp.path(), no_progress())
    .unwrap_err();
    let journal = tmp.path().join(".manifest.journal");
    let text = std::fs::read_to_string(&journal).unwrap();
    let edited: String = text
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            if value.get("index") == Some(&Value::from(2)) {
                value["seed"] = Value::from(12345);
            }
            format!("{value}\n")
        })
        .collect();
    std::fs::write(&journal, edited).unwrap();
    let resume = FakeRun {
        mode: RunMode::Resume,
        ..FakeRun::default()
    };
    let summary = resume.run(tmp.path(), no_progress()).unwrap();
    assert_eq!(
        summary.resumed, 7,
        "samples 0..8 less the one with a wrong seed"
    );
    assert_eq!(all_files(tmp.path()), all_files(reference.path()));
}

/// Finding 13: a hard link planted as `.manifest.lock` got its target overwritten.
#[cfg(unix)]
#[test]
fn regression_26_a_hard_link_planted_as_the_lock_is_not_written_through() {
    let tmp = TempDir::new().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::hard_link(&victim, tmp.path().join(".manifest.lock")).unwrap();
    FakeRun::default().run(tmp.path(), no_progress()).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_record_matches_files(tmp.path(), "manifest.jsonl");
}

/// Finding 14: `--resume` refused another `--batch`, although the timeout hint suggests a
/// smaller one; the batch size groups samples and changes none.
#[test]
fn regression_26_resume_accepts_another_batch_size() {
    let reference = reference_folder(&FakeRun::default());
    let tmp = TempDir::new().unwrap();
    FakeRun {
        fail_at: Some(9),
        record_batch: true,
        ..FakeRun::default()
    }
    .run(tmp.path(), no_progress())
    .unwrap_err();
    let resume = FakeRun {
        mode: RunMode::Resume,
        batch_size: 2,
        record_batch: true,
        ..FakeRun::default()
    };
    let summary = resume.run(tmp.path(), no_progress()).unwrap();
    assert_eq!(summary.resumed, 8);
    let samples = |dir: &Path| {
        all_files(dir)
            .into_iter()
            .filter(|(name, _)| name.ends_with(".npy"))
            .collect::<Vec<_>>()
    };
    assert_eq!(samples(tmp.path()), samples(reference.path()));
}
