//! A packed run driven by another engine (`PackedRun`, what the Ray Data adapter calls): samples
//! asked in any order and chunking, tars written in any order, give the same files, byte for
//! byte, as `generate` with `--pack tar`; bad calls are refused and leave nothing behind.

mod common;
#[path = "common/generate.rs"]
mod generate_helpers;

use std::collections::BTreeMap;
use std::path::Path;

use generate_helpers::*;
use medigan::dataset::manifest::ManifestLine;
use medigan::generate::{GenerateRequest, Pack, PackedRun, SampleEntry, Shard};
use medigan::output::Format;
use tempfile::TempDir;

fn packed(num_samples: u64, per_tar: u64, batch: usize) -> GenerateRequest {
    GenerateRequest {
        pack: Some(Pack {
            samples_per_tar: per_tar,
        }),
        ..request(num_samples, 77, batch, 1)
    }
}

/// Drives `run` as an engine would: samples asked in `chunk`-sized calls from the last index
/// down, grouped by tar, tars written last first, then the manifest.
fn drive(run: &PackedRun, dir: &Path, chunk: usize) -> Vec<ManifestLine> {
    let indices: Vec<u64> = run.indices().rev().collect();
    let mut by_tar: BTreeMap<u64, Vec<SampleEntry>> = BTreeMap::new();
    for part in indices.chunks(chunk) {
        for sample in run.samples(part).expect("samples") {
            let image = sample
                .entry
                .members
                .iter()
                .find(|(name, _)| !name.ends_with(".json") && !name.contains(".mask."))
                .expect("an image member");
            assert_eq!(sample.image_sha256, sha256_hex(&image.1), "image digest");
            by_tar
                .entry(run.tar_of(sample.entry.index))
                .or_default()
                .push(sample.entry);
        }
    }
    let mut lines = Vec::new();
    for (tar, entries) in by_tar.iter().rev() {
        lines.push(run.write_tar(dir, *tar, entries).expect("write tar"));
    }
    run.write_manifest(dir, &lines).expect("write manifest");
    lines
}

#[test]
fn an_engine_driven_run_writes_the_bytes_of_generate_pack_tar() {
    for (case, format, n, per_tar, chunk) in [
        ("image_mask", Format::Png, 10, 4, 3),
        ("dcgan", Format::Npy, 9, 2, 5),
    ] {
        let fx = fixture(case);
        let request = packed(n, per_tar, 3);
        let cli = TempDir::new().unwrap();
        fx.generate(&request, cli.path(), format);
        let engine = TempDir::new().unwrap();
        let run = fx.gens.packed_run(fx.id, &request, format).expect("run");
        assert_eq!(run.tars(), 0..n.div_ceil(per_tar));
        drive(&run, engine.path(), chunk);
        let (expected, got) = (all_files(cli.path()), all_files(engine.path()));
        assert_eq!(
            expected.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>(),
            "{case}: file names"
        );
        for (name, bytes) in &expected {
            assert!(got[name] == *bytes, "{case}: {name} differs");
        }
        // Asked again (a retried task), the samples are the same.
        let again = run.samples(&[n - 1, 0]).unwrap();
        let first = run.samples(&[0]).unwrap();
        assert_eq!(again[1].entry, first[0].entry, "{case}: a retry differs");
    }
}

#[test]
fn a_shard_of_a_packed_run_equals_the_same_shard_of_generate() {
    let fx = fixture("dcgan");
    let request = GenerateRequest {
        shard: Some(Shard { index: 2, count: 2 }),
        ..packed(8, 2, 2)
    };
    let cli = TempDir::new().unwrap();
    fx.generate(&request, cli.path(), Format::Npy);
    let run = fx.gens.packed_run(fx.id, &request, Format::Npy).unwrap();
    assert_eq!(run.indices(), 4..8);
    assert_eq!(run.tars(), 2..4);
    assert!(
        cli.path().join(run.manifest_name()).is_file(),
        "the shard's manifest is named as generate names it: {}",
        run.manifest_name()
    );
    let engine = TempDir::new().unwrap();
    drive(&run, engine.path(), 3);
    assert_eq!(all_files(cli.path()), all_files(engine.path()));
}

#[test]
fn bad_calls_are_refused_and_leave_nothing() {
    let fx = fixture("dcgan");
    let request = packed(6, 3, 2);
    let run = fx.gens.packed_run(fx.id, &request, Format::Npy).unwrap();
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    let entries: Vec<SampleEntry> = run
        .samples(&[0, 1, 2])
        .unwrap()
        .into_iter()
        .map(|s| s.entry)
        .collect();

    // A sample outside the run; a tar short of a sample, or given one twice.
    let outside = run.samples(&[6]).unwrap_err().to_string();
    assert!(
        outside.contains("not in this run's samples 0..6"),
        "{outside}"
    );
    let short = run
        .write_tar(&out, 0, &entries[..2])
        .unwrap_err()
        .to_string();
    assert!(short.contains("holds samples 0..3"), "{short}");
    let twice = [entries.clone(), vec![entries[0].clone()]].concat();
    assert!(run.write_tar(&out, 0, &twice).is_err());
    // A member of another sample inside a sample's entry.
    let mut foreign = entries.clone();
    foreign[0].members[0].0 = "00001.json".into();
    let message = run.write_tar(&out, 0, &foreign).unwrap_err().to_string();
    assert!(message.contains("does not belong to sample 0"), "{message}");
    assert!(!out.exists(), "a refused tar leaves nothing");

    // A manifest before every tar is written; a tar changed after it was written.
    let line = run.write_tar(&out, 0, &entries).unwrap();
    let missing = run.write_manifest(&out, std::slice::from_ref(&line));
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("shard-000001.tar"),
        "the missing tar is named"
    );
    let rest: Vec<SampleEntry> = run
        .samples(&[3, 4, 5])
        .unwrap()
        .into_iter()
        .map(|s| s.entry)
        .collect();
    let second = run.write_tar(&out, 1, &rest).unwrap();
    let tar = out.join(&second.file);
    let mut bytes = std::fs::read(&tar).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&tar, bytes).unwrap();
    let changed = run
        .write_manifest(&out, &[line, second])
        .unwrap_err()
        .to_string();
    assert!(
        changed.contains("changed after it was written"),
        "{changed}"
    );
    let names: Vec<String> = all_files(&out).into_keys().collect();
    assert_eq!(
        names,
        ["shard-000000.tar", "shard-000001.tar"],
        "no manifest"
    );

    // A request that does not pack.
    let loose = request_without_pack();
    let refused = fx.gens.packed_run(fx.id, &loose, Format::Npy).unwrap_err();
    assert!(
        refused.to_string().contains("samples per shard"),
        "{refused}"
    );
}

fn request_without_pack() -> GenerateRequest {
    request(6, 77, 2, 1)
}
