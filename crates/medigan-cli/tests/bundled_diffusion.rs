//! The bundled diffusion model `00901_PHANTOM_DDPM` (issue #24): offline on a fresh home, the
//! same files whatever `--batch`, `--shard` or a kill and `--resume`; the same samples as
//! diffusers' schedulers driving its graph from the same noise; Ctrl-C between steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{medigan, run};

const MODEL: &str = "00901";

/// `medigan generate 00901` of the run (-n 24 --seed 5), 10 steps, into `dir`.
fn generate(home: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut command = medigan(home);
    command
        .args([
            "--offline",
            "-q",
            "generate",
            MODEL,
            "-n",
            "24",
            "--seed",
            "5",
        ])
        .args(["--steps", "10", "-o"])
        .arg(dir)
        .args(extra);
    command
}

fn pngs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::png_files(dir).into_iter().collect()
}

fn succeeds(command: &mut Command) {
    let output = run(command);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_bundled_ddpm_gives_the_same_files_whatever_the_batch_shard_or_kill() {
    let home = tempfile::tempdir().unwrap();
    let whole = home.path().join("whole");
    succeeds(&mut generate(home.path(), &whole, &[]));
    let reference = pngs(&whole);
    assert_eq!(reference.len(), 24);

    let single = home.path().join("single");
    succeeds(&mut generate(home.path(), &single, &["--batch", "1"]));
    assert_eq!(pngs(&single), reference, "--batch 1 differs");

    let sharded = home.path().join("sharded");
    for shard in ["1/3", "2/3", "3/3"] {
        succeeds(&mut generate(
            home.path(),
            &sharded,
            &["--shard", shard, "--batch", "3"],
        ));
    }
    assert_eq!(pngs(&sharded), reference, "the union of 3 shards differs");

    let killed = home.path().join("killed");
    let mut child = generate(home.path(), &killed, &["--batch", "2"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = killed.join(".manifest.journal");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 5 {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run ended before it was killed");
    succeeds(&mut generate(home.path(), &killed, &["--resume"]));
    assert_eq!(pngs(&killed), reference, "killed and resumed differs");
}

fn golden(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/diffusion/phantom_ddpm_golden")
        .join(file)
}

fn read_npy(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    medigan::formats::npy::decode(&bytes)
        .unwrap()
        .0
        .iter()
        .copied()
        .collect()
}

#[test]
fn the_bundled_ddpm_matches_diffusers_from_the_same_noise() {
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (alias, file) in [("ddim", "ddim"), ("dpm++", "dpmpp"), ("euler", "euler")] {
        let out = home.path().join(alias);
        let output = run(medigan(home.path())
            .args([
                "--offline",
                "-q",
                "generate",
                MODEL,
                "-n",
                "2",
                "--steps",
                "10",
            ])
            .args(["--format", "npy", "--scheduler", alias, "--initial-noise"])
            .arg(golden("initial_noise.npy"))
            .arg("-o")
            .arg(&out));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Samples are clamped to the declared range [-1, 1], as diffusers' pipelines do.
        let want: Vec<f32> = read_npy(&golden(&format!("{file}_10_steps.npy")))
            .into_iter()
            .map(|v| v.clamp(-1.0, 1.0))
            .collect();
        let got: Vec<f32> = (0..2)
            .flat_map(|i| read_npy(&out.join(format!("{i:05}.npy"))))
            .collect();
        // The 64x64 UNet's float sums differ between runtimes in the last bits: 1e-4 of the
        // range, as issue #24 asks of the end-to-end comparison.
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{alias}: worst absolute difference {worst:.2e} (range [-1, 1])");
        if worst.is_nan() || worst > 2e-4 {
            failures.push(format!("{alias}: worst difference {worst}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ctrl_c_stops_a_long_batch_between_denoiser_steps() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("out");
    // One batch of 1000 DDPM steps: minutes of work, stopped within a step or two.
    let mut child = medigan(home.path())
        .args([
            "--offline",
            "-q",
            "generate",
            MODEL,
            "-n",
            "8",
            "--batch",
            "8",
        ])
        .args(["--steps", "1000", "--scheduler", "ddpm", "-o"])
        .arg(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "still running 10 s after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    let waited = sent.elapsed();
    assert_eq!(code, Some(130));
    assert!(waited < Duration::from_secs(5), "stopped after {waited:?}");
    assert!(
        !dir.join("manifest.jsonl").exists(),
        "an interrupted run wrote a manifest"
    );
}
