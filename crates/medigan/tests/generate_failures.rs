//! Generation's bad input and failures: bad shards, batch sizes and output folders refused
//! before anything is written, and what a run that fails mid-way leaves behind (complete files,
//! no manifest, no hang).

mod common;
#[path = "common/generate.rs"]
mod generate_helpers;

use generate_helpers::*;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use medigan::Error;
use medigan::generate::{
    self, GenerateError, Generator, RunSummary, SampleRequest, Shard, WriteTarget,
};
use medigan::output::{
    Encoding, Format, ManifestHeader, NpyWriter, OutputError, Provenance, SampleWriter,
};
use medigan::progress::NoProgress;
use medigan::sample::Sample;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Bad input and failures
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_shards_are_refused() {
    for bad in ["0/4", "5/4", "1/0", "3", "a/b", ""] {
        match bad.parse::<Shard>() {
            Err(medigan::sample::BadShard { value }) => assert_eq!(value, bad),
            other => panic!("`{bad}`: expected BadShard, got {other:?}"),
        }
    }
    assert_eq!(
        "2/4".parse::<Shard>().unwrap(),
        Shard { index: 2, count: 4 }
    );
}

#[test]
fn zero_batch_size_or_threads_are_refused() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    for req in [request(2, 0, 0, 1), request(2, 0, 2, 0)] {
        let error = fx.try_generate(&req, &dir, Format::Png).unwrap_err();
        assert!(
            matches!(error, Error::Generate(GenerateError::BadRequest { .. })),
            "{error:?}"
        );
        assert!(fx.gens.generate_samples(fx.id, &req).is_err());
    }
    assert!(!dir.exists());
}

#[test]
fn an_output_dir_that_cannot_be_created_is_refused_and_nothing_is_written() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"keep me").unwrap();
    let dir = file.join("out");
    let error = fx
        .try_generate(&request(3, 0, 2, 1), &dir, Format::Png)
        .unwrap_err();
    match &error {
        Error::Generate(GenerateError::OutputDir { path, .. }) => assert_eq!(path, &dir),
        other => panic!("expected OutputDir, got {other:?}"),
    }
    assert!(error.to_string().contains("a-file"), "{error}");
    assert_eq!(
        all_files(tmp.path()).into_keys().collect::<Vec<_>>(),
        ["a-file"]
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

/// How a fake run fails.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// It does not.
    Never,
    /// Generating this sample returns an error.
    Error(u64),
    /// Generating this sample panics.
    Panic(u64),
    /// Opening a generator fails.
    Factory,
}

/// A generator without a model: sample `i` is filled with `i / 100`.
struct FakeGenerator {
    failure: Failure,
}

impl Generator for FakeGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        batch
            .iter()
            .map(|r| {
                match self.failure {
                    Failure::Error(i) | Failure::Panic(i) if i == r.index => {
                        // Fail late enough for the other threads to be waiting on this one.
                        std::thread::sleep(Duration::from_millis(50));
                        if matches!(self.failure, Failure::Panic(_)) {
                            panic!("simulated panic on {i}");
                        }
                        return Err(GenerateError::Worker(format!("simulated failure on {i}")));
                    }
                    _ => {}
                }
                Ok(Sample {
                    index: r.index,
                    seed: r.seed,
                    image: ArrayD::from_elem(IxDyn(&[1, 4, 4]), r.index as f32 / 100.0),
                    mask: None,
                    label: None,
                })
            })
            .collect()
    }
}

/// NPY, except that encoding sample `fail_on` fails like a full disk.
struct FailingWriter {
    fail_on: u64,
}

impl SampleWriter for FailingWriter {
    fn extension(&self) -> &'static str {
        "npy"
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        NpyWriter.check(shape)
    }

    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError> {
        if encoding.index == self.fail_on {
            return Err(OutputError::Io {
                path: PathBuf::from(file_name(encoding.index, "", "npy")),
                cause: std::io::Error::other("no space left on device (simulated)"),
            });
        }
        NpyWriter.encode(array, encoding)
    }
}

fn header() -> ManifestHeader {
    ManifestHeader {
        tool: "medigan-rs test".into(),
        model_id: "fake".into(),
        model_version: None,
        package_sha256: "0".repeat(64),
        seed: 1,
        num_samples: 30,
        shard: None,
        format: "npy".into(),
        value_mapping: None,
        arguments: Value::Null,
    }
}

/// Runs `write_run` over 30 fake samples (batches of `batch_size`) on another thread, failing
/// if it does not return within a minute (a hung pipeline).
fn fake_run(
    dir: &Path,
    writer: Arc<dyn SampleWriter>,
    failure: Failure,
    batch_size: usize,
    workers: usize,
) -> Result<RunSummary, GenerateError> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let factory = || -> Result<Box<dyn Generator>, GenerateError> {
            if matches!(failure, Failure::Factory) {
                return Err(GenerateError::Worker("simulated session failure".into()));
            }
            Ok(Box::new(FakeGenerator { failure }))
        };
        let make_batch = |b: usize| common::batch_requests(0..30, batch_size, b, 1);
        let target = WriteTarget {
            dir: &dir,
            writer: writer.as_ref(),
            header: header(),
            manifest_name: "manifest.jsonl".into(),
            image_range: [0.0, 1.0],
            mask_range: None,
            provenance: Provenance::default(),
            digits: 5,
            mode: generate::RunMode::Fresh,
            pack: None,
        };
        let batches = 30usize.div_ceil(batch_size);
        let result = generate::write_run(
            &factory,
            &make_batch,
            batches,
            workers,
            &target,
            &NoProgress,
        );
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("write_run hung after a failure")
}

#[test]
fn a_disk_error_mid_run_leaves_only_complete_files_and_no_manifest() {
    for (batch_size, workers) in [(1, 1), (1, 2), (2, 3), (4, 2)] {
        let tmp = TempDir::new().unwrap();
        let writer: Arc<dyn SampleWriter> = Arc::new(FailingWriter { fail_on: 5 });
        let error = fake_run(tmp.path(), writer, Failure::Never, batch_size, workers).unwrap_err();
        assert!(
            matches!(&error, GenerateError::Output(OutputError::Io { .. })),
            "b{batch_size} w{workers}: {error:?}"
        );
        assert!(error.to_string().contains("no space left"), "{error}");
        let mut files = all_files(tmp.path());
        assert!(
            !files.contains_key("manifest.jsonl"),
            "no manifest for a failed run"
        );
        let journal = files
            .remove(".manifest.journal")
            .expect("the journal stays for --resume");
        assert_eq!(
            String::from_utf8(journal).unwrap().lines().count(),
            6,
            "its first line and the 5 complete samples"
        );
        let expected: Vec<String> = (0..5).map(|i| file_name(i, "", "npy")).collect();
        assert_eq!(
            files.keys().cloned().collect::<Vec<_>>(),
            expected,
            "b{batch_size} w{workers}: only the complete files written before the error remain"
        );
        for (i, name) in expected.iter().enumerate() {
            let array = read_npy(&files[name]);
            assert_eq!(
                array,
                ArrayD::from_elem(IxDyn(&[1, 4, 4]), i as f32 / 100.0)
            );
        }
    }
}

#[test]
fn a_generator_error_or_panic_surfaces_without_hanging_or_a_manifest() {
    for (failure, batch_size, workers) in [
        (Failure::Error(0), 1, 1),
        (Failure::Error(7), 1, 2),
        (Failure::Error(12), 3, 2),
        (Failure::Factory, 2, 2),
        (Failure::Panic(0), 1, 1),
        (Failure::Panic(7), 1, 2),
        (Failure::Panic(12), 3, 3),
    ] {
        let tmp = TempDir::new().unwrap();
        let writer: Arc<dyn SampleWriter> = Arc::new(NpyWriter);
        let error = fake_run(tmp.path(), writer, failure, batch_size, workers).unwrap_err();
        match (&error, failure) {
            (GenerateError::Worker(message), Failure::Panic(i)) => {
                assert!(
                    message.contains(&format!("simulated panic on {i}")),
                    "{message}"
                );
            }
            (GenerateError::Worker(_), _) => {}
            _ => panic!("{failure:?}: {error:?}"),
        }
        let files = all_files(tmp.path());
        assert!(!files.contains_key("manifest.jsonl"));
        assert!(
            files
                .keys()
                .all(|name| (name.ends_with(".npy") && !name.starts_with('.'))
                    || name == ".manifest.journal"),
            "{:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_complete_fake_run_writes_every_file_and_the_manifest() {
    let tmp = TempDir::new().unwrap();
    let summary = fake_run(tmp.path(), Arc::new(NpyWriter), Failure::Never, 4, 3).unwrap();
    assert_eq!((summary.samples, summary.files), (30, 30));
    let files = all_files(tmp.path());
    assert_eq!(files.len(), 31, "30 samples and the manifest, no leftovers");
    assert_eq!(manifest_lines(&summary.manifest).len(), 31);
}
