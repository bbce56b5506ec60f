//! `medigan generate --pack tar` (issue #17, item 3): WebDataset tar files that hold exactly the
//! samples a loose PNG run writes, read back with the `tar` crate, the `webdataset` Python
//! package and plain `tar`; byte-identical across batch sizes, shard splits, reruns and a killed
//! and resumed run; checked by `medigan dataset verify`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, medigan, png_files, run};
use medigan_testkit::{python_importing, skip};
use serde_json::Value;

/// Samples of the run and per tar: four tars, and four shards of exactly two tars each.
const SAMPLES: u64 = 32;
const PER_TAR: u64 = 8;

/// `medigan generate 90001 -n N --seed 5 --threads 1 -o DIR` (the DCGAN fixture) with `extra`.
fn generate_n(home: &Path, dir: &Path, samples: u64, extra: &[&str]) -> Command {
    let mut command = medigan(home);
    command
        .args(["--offline", "-q", "generate", "90001", "-n"])
        .arg(samples.to_string())
        .args(["--seed", "5", "--threads", "1", "-o"])
        .arg(dir)
        .arg("--catalog")
        .arg(fixture("dcgan"))
        .args(extra);
    command
}

/// A packed run of [`SAMPLES`] samples, [`PER_TAR`] per tar, with `extra`.
fn packed(home: &Path, dir: &Path, extra: &[&str]) -> Output {
    let per_tar = PER_TAR.to_string();
    let mut command = generate_n(home, dir, SAMPLES, &["--pack", "tar"]);
    command.args(["--samples-per-shard", &per_tar]).args(extra);
    run(&mut command)
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The files of a folder that are not hidden, name -> bytes.
fn visible_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The tar files of a folder, name -> bytes.
fn tars(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    visible_files(dir)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".tar"))
        .collect()
}

/// One member of a tar, as the `tar` crate reads it.
struct Member {
    name: String,
    bytes: Vec<u8>,
    mode: u32,
    mtime: u64,
    owner: (u64, u64),
    ustar: bool,
}

fn members(tar: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            Member {
                name: entry.path().unwrap().display().to_string(),
                bytes,
                mode: header.mode().unwrap(),
                mtime: header.mtime().unwrap(),
                owner: (header.uid().unwrap(), header.gid().unwrap()),
                ustar: header.as_ustar().is_some(),
            }
        })
        .collect()
}

/// The file lines of a run's manifest (its header left out).
fn manifest_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A loose PNG run and a packed run of the same samples, made once per test binary.
fn png_and_packed() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static RUNS: std::sync::OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> =
        std::sync::OnceLock::new();
    RUNS.get_or_init(|| {
        let home = tempfile::tempdir().unwrap();
        let png = home.path().join("png");
        assert_success(&run(&mut generate_n(home.path(), &png, SAMPLES, &[])));
        let packed_dir = home.path().join("tar");
        assert_success(&packed(home.path(), &packed_dir, &["--batch", "16"]));
        (home, png, packed_dir)
    })
}

#[test]
fn tars_hold_the_png_runs_samples_with_their_json_under_fixed_headers() {
    let (_home, png, packed_dir) = png_and_packed();
    let loose: BTreeMap<String, Vec<u8>> = png_files(png).into_iter().collect();
    assert_eq!(loose.len(), SAMPLES as usize);
    let seeds: BTreeMap<u64, u64> = manifest_lines(&png.join("manifest.jsonl"))
        .iter()
        .map(|l| (l["index"].as_u64().unwrap(), l["seed"].as_u64().unwrap()))
        .collect();
    let files = visible_files(packed_dir);
    let expected_tars: Vec<String> = (0..4).map(|t| format!("shard-00000{t}.tar")).collect();
    let mut expected_files = vec!["manifest.jsonl".to_string()];
    expected_files.extend(expected_tars.iter().cloned());
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), expected_files);

    let lines = manifest_lines(&packed_dir.join("manifest.jsonl"));
    assert_eq!(lines.len(), 4, "one manifest line per tar: {lines:?}");
    for (t, (name, line)) in expected_tars.iter().zip(&lines).enumerate() {
        let first = t as u64 * PER_TAR;
        assert_eq!(line["file"], name.as_str());
        assert_eq!(line["part"], "tar");
        assert_eq!(line["index"], first);
        assert_eq!(line["samples"], serde_json::json!([first, first + PER_TAR]));
        assert_eq!(line["sha256"], sha256_hex(&files[name]).as_str());

        let members = members(&files[name]);
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let expected: Vec<String> = (first..first + PER_TAR)
            .flat_map(|i| [format!("{i:05}.json"), format!("{i:05}.png")])
            .collect();
        assert_eq!(names, expected, "{name}: members in key order");
        for member in &members {
            assert!(member.ustar, "{}: a ustar header", member.name);
            assert_eq!(
                (member.mode, member.mtime, member.owner),
                (0o644, 0, (0, 0)),
                "{}: fixed metadata",
                member.name
            );
            let (key, extension) = member.name.split_once('.').unwrap();
            let index: u64 = key.parse().unwrap();
            match extension {
                "png" => assert!(
                    member.bytes == loose[&member.name],
                    "{}: differs from the PNG run's file",
                    member.name
                ),
                _ => {
                    let json: Value = serde_json::from_slice(&member.bytes).unwrap();
                    assert_eq!(json["index"], index);
                    assert_eq!(json["seed"], seeds[&index], "{}", member.name);
                    assert_eq!(json["model_id"], "90001_FIXTURE_DCGAN");
                    assert!(json["label"].is_null(), "{json}");
                }
            }
        }
    }
}

#[test]
fn the_webdataset_package_reads_the_tars_as_the_png_run() {
    let python = match python_importing(&["webdataset"]) {
        Ok(python) => python,
        Err(why) => return skip("reading --pack tar output with webdataset", &why),
    };
    let (_home, png, packed_dir) = png_and_packed();
    let script = r#"
import hashlib, json, sys
import webdataset as wds
for sample in wds.WebDataset(sys.argv[1:], shardshuffle=False):
    print(json.dumps({
        "key": sample["__key__"],
        "members": sorted(k for k in sample if not k.startswith("__")),
        "png": hashlib.sha256(sample["png"]).hexdigest(),
        "json": json.loads(sample["json"]),
    }))
"#;
    let urls: Vec<PathBuf> = tars(packed_dir)
        .keys()
        .map(|name| packed_dir.join(name))
        .collect();
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(&urls)
        .output()
        .unwrap();
    assert_success(&output);
    let read: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let loose = png_files(png);
    assert_eq!(
        read.len(),
        loose.len(),
        "one webdataset sample per PNG file"
    );
    for (sample, (name, bytes)) in read.iter().zip(&loose) {
        let key = name.strip_suffix(".png").unwrap();
        assert_eq!(sample["key"], key);
        assert_eq!(sample["members"], serde_json::json!(["json", "png"]));
        assert_eq!(sample["png"], sha256_hex(bytes).as_str(), "sample {key}");
        assert_eq!(sample["json"]["index"], key.parse::<u64>().unwrap());
    }
}

#[test]
fn plain_tar_lists_the_members_with_fixed_owner_mode_and_time() {
    let (_home, _png, packed_dir) = png_and_packed();
    let output = match Command::new("tar")
        .arg("-tvf")
        .arg(packed_dir.join("shard-000001.tar"))
        .env("TZ", "UTC")
        .output()
    {
        Ok(output) => output,
        Err(e) => return skip("listing a tar with plain `tar`", &format!("no tar: {e}")),
    };
    assert_success(&output);
    let listing = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    let expected: Vec<String> = (8..16)
        .flat_map(|i| [format!("{i:05}.json"), format!("{i:05}.png")])
        .collect();
    assert_eq!(lines.len(), expected.len(), "{listing}");
    for (line, name) in lines.iter().zip(&expected) {
        assert!(line.starts_with("-rw-r--r-- 0/0"), "{line}");
        assert!(line.contains("1970-01-01 00:00"), "{line}");
        assert!(
            line.ends_with(&format!(" {name}")),
            "{line} (expected {name})"
        );
    }
}

#[test]
fn tar_bytes_are_the_same_for_any_batch_size_shard_split_and_rerun() {
    let (_home, _png, reference) = png_and_packed();
    let expected = tars(reference);
    let home = tempfile::tempdir().unwrap();
    let batch_one = home.path().join("batch-1");
    assert_success(&packed(home.path(), &batch_one, &["--batch", "1"]));
    assert_eq!(tars(&batch_one), expected, "--batch 1 vs --batch 16");

    let rerun = home.path().join("rerun");
    assert_success(&packed(home.path(), &rerun, &["--batch", "16"]));
    assert_eq!(visible_files(&rerun), visible_files(reference), "a rerun");

    let sharded = home.path().join("sharded");
    for k in 1..=4 {
        let shard = format!("{k}/4");
        assert_success(&packed(
            home.path(),
            &sharded,
            &["--shard", &shard, "--batch", "3"],
        ));
    }
    assert_eq!(tars(&sharded), expected, "4 shards vs 1");
    // The dataset of four shards has the root digest of the whole run.
    let root = |dir: &Path| {
        let output = run(medigan(home.path()).args(["dataset", "merge"]).arg(dir));
        assert_success(&output);
        let merged: Value =
            serde_json::from_slice(&std::fs::read(dir.join("dataset-manifest.json")).unwrap())
                .unwrap();
        merged["root_sha256"].as_str().unwrap().to_string()
    };
    assert_eq!(root(&sharded), root(&batch_one));
}

#[test]
fn a_shard_that_would_cut_a_tar_is_refused_before_anything_is_written() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("out");
    let mut command = generate_n(home.path(), &dir, 30, &["--pack", "tar"]);
    command.args(["--samples-per-shard", "8", "--shard", "2/3"]);
    let output = run(&mut command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--samples-per-shard") && stderr.contains("samples 10..20"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing written");
    // --samples-per-shard means nothing without --pack.
    let mut command = generate_n(home.path(), &dir, 30, &["--samples-per-shard", "8"]);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(!dir.exists(), "nothing written");
}

#[test]
fn image_and_mask_go_into_the_tar_as_key_ext_and_key_mask_ext() {
    let home = tempfile::tempdir().unwrap();
    let loose = home.path().join("loose");
    let packed_dir = home.path().join("tar");
    let model = |dir: &Path, extra: &[&str]| {
        let mut command = medigan(home.path());
        command
            .args([
                "--offline",
                "-q",
                "generate",
                "90003",
                "-n",
                "3",
                "--seed",
                "2",
            ])
            .args(["--format", "npy", "-o"])
            .arg(dir)
            .arg("--catalog")
            .arg(fixture("image_mask"))
            .args(extra);
        run(&mut command)
    };
    assert_success(&model(&loose, &[]));
    assert_success(&model(
        &packed_dir,
        &["--pack", "tar", "--samples-per-shard", "2"],
    ));
    let tars = tars(&packed_dir);
    assert_eq!(
        tars.keys().collect::<Vec<_>>(),
        ["shard-000000.tar", "shard-000001.tar"]
    );
    let mut read = Vec::new();
    for bytes in tars.values() {
        read.extend(members(bytes).into_iter().map(|m| (m.name, m.bytes)));
    }
    let names: Vec<&str> = read.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "00000.json",
            "00000.mask.npy",
            "00000.npy",
            "00001.json",
            "00001.mask.npy",
            "00001.npy",
            "00002.json",
            "00002.mask.npy",
            "00002.npy"
        ]
    );
    for (name, bytes) in &read {
        let loose_name = match name.strip_suffix(".mask.npy") {
            Some(key) => format!("{key}_mask.npy"),
            None if name.ends_with(".npy") => name.clone(),
            None => continue,
        };
        let expected = std::fs::read(loose.join(&loose_name)).unwrap();
        assert!(*bytes == expected, "{name} differs from {loose_name}");
    }
}

/// Waits until the journal of the run in `dir` records `tars` tars.
fn wait_for_tars(dir: &Path, tars: usize, child: &mut std::process::Child) {
    let journal = dir.join(".manifest.journal");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < tars + 1 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_killed_run_resumed_writes_the_same_tars_and_a_damaged_tar_is_rewritten() {
    const LONG: u64 = 800;
    let home = tempfile::tempdir().unwrap();
    let reference = home.path().join("reference");
    let pack = ["--pack", "tar", "--samples-per-shard", "8", "--batch", "1"];
    assert_success(&run(&mut generate_n(home.path(), &reference, LONG, &pack)));

    let dir = home.path().join("killed");
    let mut child = generate_n(home.path(), &dir, LONG, &pack)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_tars(&dir, 3, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dir.join("manifest.jsonl").exists(),
        "the run was killed before it finished"
    );
    let mut resume = pack.to_vec();
    resume.push("--resume");
    assert_success(&run(&mut generate_n(home.path(), &dir, LONG, &resume)));
    let hidden: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
    assert!(
        visible_files(&dir) == visible_files(&reference),
        "the resumed folder differs from an uninterrupted run"
    );

    // A finished tar changed on disk: --resume keeps the others and writes it again.
    let damaged = dir.join("shard-000002.tar");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[700] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let mut command = generate_n(home.path(), &dir, LONG, &resume);
    command.args(["--json"]);
    let output = run(&mut command);
    assert_success(&output);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["resumed"], LONG - 8, "{summary}");
    assert_eq!(summary["samples"], LONG, "{summary}");
    assert!(visible_files(&dir) == visible_files(&reference));
}

#[test]
fn dataset_verify_passes_on_tar_shards_and_names_a_changed_or_missing_tar() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("out");
    for shard in ["1/2", "2/2"] {
        assert_success(&packed(home.path(), &dir, &["--shard", shard]));
    }
    let verify = || run(medigan(home.path()).args(["dataset", "verify"]).arg(&dir));
    let output = verify();
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ok: 4 files in 2 manifests"), "{stdout}");

    let tar = dir.join("shard-000002.tar");
    let original = std::fs::read(&tar).unwrap();
    let mut changed = original.clone();
    changed[1000] ^= 0x20;
    std::fs::write(&tar, &changed).unwrap();
    let output = verify();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("shard-000002.tar") && text.contains("changed"),
        "{text}"
    );

    std::fs::write(&tar, &original).unwrap();
    assert_success(&verify());
    std::fs::remove_file(dir.join("shard-000003.tar")).unwrap();
    let output = verify();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("shard-000003.tar") && text.contains("missing"),
        "{text}"
    );
}

#[test]
fn a_fresh_run_refuses_a_stray_tar_and_a_resume_refuses_another_tar_size() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("shard-000001.tar"), b"someone else's").unwrap();
    let output = packed(home.path(), &dir, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("shard-000001.tar"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.join("shard-000001.tar")).unwrap(),
        b"someone else's"
    );
    std::fs::remove_file(dir.join("shard-000001.tar")).unwrap();

    assert_success(&packed(home.path(), &dir, &[]));
    let before = visible_files(&dir);
    let mut command = generate_n(home.path(), &dir, SAMPLES, &["--pack", "tar", "--resume"]);
    command.args(["--samples-per-shard", "4"]);
    let output = run(&mut command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("samples_per_shard"), "{stderr}");
    assert_eq!(visible_files(&dir), before, "nothing changed");
}
