//! `--shard auto` under Slurm-like and Kubernetes-like environments, and `medigan dataset
//! verify|merge` on sharded runs of the DCGAN fixture: what a user running a job array checks.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::{fixture, medigan, png_files, run};
use serde_json::Value;

const SAMPLES: &str = "10";

/// `medigan generate 90001 -n 10 --seed 5 -o DIR` with extra arguments and environment.
fn generate(home: &Path, dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = medigan(home);
    command
        .args([
            "generate", "90001", "-n", SAMPLES, "--seed", "5", "--batch", "3",
        ])
        .args(["--threads", "1", "-o"])
        .arg(dir)
        .arg("--catalog")
        .arg(fixture("dcgan"))
        .args(args);
    for (name, value) in env {
        command.env(name, value);
    }
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

/// The environment Slurm gives task `id` of `sbatch --array=MIN-MAX`.
fn slurm_task(id: u64, min: u64, max: u64) -> Vec<(&'static str, String)> {
    vec![
        ("SLURM_JOB_ID", "4242".into()),
        ("SLURM_ARRAY_TASK_ID", id.to_string()),
        ("SLURM_ARRAY_TASK_MIN", min.to_string()),
        ("SLURM_ARRAY_TASK_MAX", max.to_string()),
        ("SLURM_ARRAY_TASK_COUNT", (max - min + 1).to_string()),
        ("SLURM_ARRAY_TASK_STEP", "1".into()),
    ]
}

/// An unsharded run and the same run as four Slurm array tasks (0-based), made once per test
/// binary; each test gets its own copy.
fn template() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static TEMPLATE: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let home = tempfile::tempdir().unwrap();
        let whole = home.path().join("whole");
        assert_success(&generate(home.path(), &whole, &[], &[]));
        let sharded = home.path().join("sharded");
        for task in 0..4 {
            let output = generate(
                home.path(),
                &sharded,
                &["--shard", "auto"],
                &slurm_task(task, 0, 3),
            );
            assert_success(&output);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!(
                    "shard {}/4 from the Slurm array task {task} of 0-3",
                    task + 1
                )),
                "{stderr}"
            );
        }
        (home, whole, sharded)
    })
}

/// A private copy of the four-shard dataset.
fn sharded_copy() -> (tempfile::TempDir, PathBuf) {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().join("dataset");
    copy_dir(&template().2, &dir);
    (copy, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn verify(home: &Path, dir: &Path, json: bool) -> Output {
    let mut command = medigan(home);
    command.args(["dataset", "verify"]).arg(dir);
    if json {
        command.arg("--json");
    }
    run(&mut command)
}

/// Runs `dataset verify --json`, expects exit 1, and returns the problems' kinds and messages.
fn problems(dir: &Path) -> Vec<(String, String)> {
    let home = tempfile::tempdir().unwrap();
    let output = verify(home.path(), dir, true);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(problems: &[(String, String)], kind: &str, words: &[&str]) -> bool {
    problems
        .iter()
        .any(|(k, message)| k == kind && words.iter().all(|w| message.contains(w)))
}

#[test]
fn shard_auto_in_a_zero_based_slurm_array_adds_up_to_the_unsharded_run() {
    let (_, whole, sharded) = template();
    for k in 1..=4 {
        assert!(
            sharded
                .join(format!("manifest-shard-{k}-of-4.jsonl"))
                .is_file()
        );
    }
    assert_eq!(png_files(whole).len(), 10);
    assert_eq!(png_files(whole), png_files(sharded));
    let home = tempfile::tempdir().unwrap();
    let output = verify(home.path(), sharded, false);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ok: 10 files in 4 manifests"), "{stdout}");
}

#[test]
fn shard_auto_in_a_one_based_slurm_array_gives_the_same_shards() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("one-based");
    for task in 1..=4 {
        let output = generate(
            home.path(),
            &dir,
            &["--shard", "auto"],
            &slurm_task(task, 1, 4),
        );
        assert_success(&output);
        assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("shard {task}/4")));
    }
    assert_eq!(png_files(&dir), png_files(&template().2));
    assert_success(&verify(home.path(), &dir, false));
}

#[test]
fn shard_auto_rerun_of_a_requeued_task_resumes_and_repairs_the_shard() {
    // A requeued Slurm task runs the same command again in the same folder: it must continue
    // (keep what is vouched for, regenerate what is missing or damaged), not be refused.
    let (_copy, dir) = sharded_copy();
    let home = tempfile::tempdir().unwrap();
    let sample = png_files(&dir)
        .into_iter()
        .map(|(name, _)| name)
        .find(|name| name.ends_with(".png"))
        .unwrap();
    std::fs::write(dir.join(&sample), b"damaged by a node crash").unwrap();
    let mut requeued = slurm_task(0, 0, 3);
    requeued.push(("SLURM_RESTART_COUNT", "1".into()));
    let output = generate(home.path(), &dir, &["--shard", "auto"], &requeued);
    assert_success(&output);
    assert_eq!(png_files(&dir), png_files(&template().2));
    assert_success(&verify(home.path(), &dir, false));
}

#[test]
fn shard_auto_in_a_kubernetes_indexed_job_takes_the_count_from_shards() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("k8s");
    for index in 0..3 {
        let output = generate(
            home.path(),
            &dir,
            &["--shard", "auto", "--shards", "3"],
            &[("JOB_COMPLETION_INDEX", index.to_string())],
        );
        assert_success(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "shard {}/3 from the Kubernetes Indexed Job, JOB_COMPLETION_INDEX={index}",
                index + 1
            )),
            "{stderr}"
        );
    }
    assert!(dir.join("manifest-shard-3-of-3.jsonl").is_file());
    assert_eq!(png_files(&dir), png_files(&template().1));
    assert_success(&verify(home.path(), &dir, false));
}

#[test]
fn shard_auto_fails_clearly_outside_a_scheduler_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("out");
    let output = generate(home.path(), &dir, &["--shard", "auto"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SLURM_ARRAY_TASK_ID")
            && stderr.contains("JOB_COMPLETION_INDEX")
            && stderr.contains("hint:")
            && stderr.contains("--shard K/N"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing is written");

    let output = generate(
        home.path(),
        &dir,
        &["--shard", "auto"],
        &[("JOB_COMPLETION_INDEX", "0".into())],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--shards N"), "{stderr}");

    let output = generate(
        home.path(),
        &dir,
        &["--shard", "auto", "--shards", "8"],
        &slurm_task(0, 0, 3),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--shards 8") && stderr.contains("4 tasks"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing is written");
}

#[test]
fn merge_gives_a_sharded_and_an_unsharded_run_the_same_root_digest() {
    let home = tempfile::tempdir().unwrap();
    let (_copy, sharded) = sharded_copy();
    let whole = home.path().join("whole");
    copy_dir(&template().1, &whole);
    let mut roots = Vec::new();
    for dir in [&sharded, &whole] {
        let output = run(medigan(home.path())
            .args(["dataset", "merge", "--json"])
            .arg(dir));
        assert_success(&output);
        let merged: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(merged["files"], 10);
        let written: Value =
            serde_json::from_slice(&std::fs::read(dir.join("dataset-manifest.json")).unwrap())
                .unwrap();
        assert_eq!(written["root_sha256"], merged["root_sha256"]);
        assert_eq!(written["model_id"], "90001_FIXTURE_DCGAN");
        assert_eq!(written["seed"], 5);
        roots.push(merged["root_sha256"].as_str().unwrap().to_string());
    }
    assert_eq!(roots[0].len(), 64);
    assert_eq!(roots[0], roots[1], "same files, same root digest");

    // The root digest is the documented one: sha256 over the sorted `index\tfile\tsha256\n`.
    let mut lines: Vec<(u64, String, String)> = Vec::new();
    for line in std::fs::read_to_string(whole.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let entry: Value = serde_json::from_str(line).unwrap();
        lines.push((
            entry["index"].as_u64().unwrap(),
            entry["file"].as_str().unwrap().to_string(),
            entry["sha256"].as_str().unwrap().to_string(),
        ));
    }
    lines.sort();
    let text: String = lines
        .iter()
        .map(|(i, f, s)| format!("{i}\t{f}\t{s}\n"))
        .collect();
    assert_eq!(roots[0], sha256sum(text.as_bytes()));

    // After merge, verify also checks the dataset manifest: a changed file is caught twice over.
    assert_success(&verify(home.path(), &sharded, false));
    let found = {
        std::fs::write(sharded.join("00003.png"), b"not the sample").unwrap();
        problems(&sharded)
    };
    assert!(has(&found, "changed_file", &["00003.png"]), "{found:?}");
}

/// sha256 of `bytes` by coreutils' `sha256sum` (a check independent of our code).
fn sha256sum(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils) runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

#[test]
fn verify_catches_a_missing_file() {
    let (_copy, dir) = sharded_copy();
    std::fs::remove_file(dir.join("00007.png")).unwrap();
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "missing_file",
            &["00007.png", "manifest-shard-4-of-4.jsonl"]
        ),
        "{found:?}"
    );
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn verify_catches_a_changed_byte() {
    let (_copy, dir) = sharded_copy();
    let path = dir.join("00002.png");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let home = tempfile::tempdir().unwrap();
    let output = verify(home.path(), &dir, false);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("changed file: `00002.png` (sample 2) has sha256")
            && stdout.contains("FAILED: 1 problem"),
        "{stdout}"
    );
}

#[test]
fn verify_catches_a_missing_shard() {
    let (_copy, dir) = sharded_copy();
    std::fs::remove_file(dir.join("manifest-shard-2-of-4.jsonl")).unwrap();
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "missing_shard",
            &["shard 2/4", "manifest-shard-2-of-4.jsonl", "--shard 2/4"]
        ),
        "{found:?}"
    );
}

#[test]
fn verify_catches_a_duplicated_shard() {
    let (_copy, dir) = sharded_copy();
    // Shard 3 copied back from a second machine into a subfolder.
    let again = dir.join("site-b");
    std::fs::create_dir(&again).unwrap();
    std::fs::copy(
        dir.join("manifest-shard-3-of-4.jsonl"),
        again.join("manifest-shard-3-of-4.jsonl"),
    )
    .unwrap();
    for file in ["00005.png", "00006.png"] {
        std::fs::copy(dir.join(file), again.join(file)).unwrap();
    }
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "duplicated_shard",
            &["shard 3/4", "site-b/manifest-shard-3-of-4.jsonl"]
        ),
        "{found:?}"
    );
}

#[test]
fn verify_catches_an_unsharded_run_beside_its_shards() {
    let (_copy, dir) = sharded_copy();
    std::fs::copy(
        template().1.join("manifest.jsonl"),
        dir.join("manifest.jsonl"),
    )
    .unwrap();
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "overlapping_shards",
            &["manifest.jsonl", "overlaps"]
        ),
        "{found:?}"
    );
}

#[test]
fn verify_catches_a_shard_of_another_run() {
    let (_copy, dir) = sharded_copy();
    let home = tempfile::tempdir().unwrap();
    std::fs::remove_file(dir.join("manifest-shard-4-of-4.jsonl")).unwrap();
    let output = run(medigan(home.path())
        .args([
            "generate", "90001", "-n", SAMPLES, "--seed", "6", "--shard", "4/4", "-o",
        ])
        .arg(&dir)
        .args(["--overwrite", "--catalog"])
        .arg(fixture("dcgan")));
    assert_success(&output);
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "mixed_runs",
            &["manifest-shard-4-of-4.jsonl", "seed 6", "has 5"]
        ),
        "{found:?}"
    );
}

#[test]
fn verify_catches_a_truncated_manifest() {
    let (_copy, dir) = sharded_copy();
    let path = dir.join("manifest-shard-4-of-4.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "missing_samples",
            &[
                "manifest-shard-4-of-4.jsonl",
                "no image for 2 of its samples 7..10",
                "(8, 9)"
            ]
        ),
        "{found:?}"
    );
}

#[test]
fn verify_refuses_a_manifest_naming_a_file_outside_its_folder() {
    let (_copy, dir) = sharded_copy();
    let path = dir.join("manifest-shard-1-of-4.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"00000.png\"", "\"../secret.png\"", 1),
    )
    .unwrap();
    let found = problems(&dir);
    assert!(
        has(
            &found,
            "bad_entry",
            &["`../secret.png`", "not a plain file name"]
        ),
        "{found:?}"
    );
}

#[test]
fn verify_of_a_folder_without_manifests_says_so() {
    let home = tempfile::tempdir().unwrap();
    let found = problems(home.path());
    assert!(has(&found, "no_manifest", &["no manifest"]), "{found:?}");
    let output = verify(home.path(), &home.path().join("absent"), false);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the dataset folder"));
}

#[test]
fn merge_refuses_an_incomplete_dataset_and_writes_nothing() {
    let (_copy, dir) = sharded_copy();
    std::fs::remove_file(dir.join("00009.png")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path()).args(["dataset", "merge"]).arg(&dir));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("missing file: `00009.png`"), "{stdout}");
    assert!(
        stderr.contains("no dataset manifest was written") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(!dir.join("dataset-manifest.json").exists());
}
