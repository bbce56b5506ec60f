//! Diffusion packages end to end through `medigan generate`: the samples equal what diffusers'
//! schedulers give when they drive the same ONNX graphs from the same initial noise
//! (`scripts/make_diffusion_fixtures.py`), a sample does not depend on batch or shard, the
//! manifest records the sampler, and bad choices are refused with the fix.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{fixture, medigan, run};

/// Relative tolerance of the end-to-end comparison with diffusers (issue #24: 1e-4).
const TOLERANCE: f32 = 1e-4;

fn golden(case: &str, file: &str) -> PathBuf {
    fixture(case).parent().unwrap().join("golden").join(file)
}

fn read_npy(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (array, _) = medigan::formats::npy::decode(&bytes).expect("an .npy file");
    array.iter().copied().collect()
}

fn generate(case: &str, out: &Path, extra: &[&str]) -> Output {
    let home = out.parent().unwrap().join("home");
    run(medigan(&home)
        .arg("--offline")
        .arg("--catalog")
        .arg(fixture(case))
        .args(["generate", model_id(case), "-o"])
        .arg(out)
        .args(extra))
}

fn model_id(case: &str) -> &'static str {
    match case {
        "diffusion/tiny_cond" => "00961_TINY_COND_DIFFUSION",
        "diffusion/tiny_latent" => "00962_TINY_LATENT_DIFFUSION",
        other => panic!("unknown case {other}"),
    }
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "medigan failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The worst relative difference of `got` against `want`, scaled by max(|want|, 1e-2).
fn worst_relative(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "value counts differ");
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1e-2))
        .fold(0.0, f32::max)
}

#[test]
fn samples_equal_diffusers_driving_the_same_graphs_from_the_same_noise() {
    let schedulers = [
        ("ddim", "ddim"),
        ("dpm++", "dpmpp"),
        ("euler", "euler"),
        ("unipc", "unipc"),
        ("pndm", "pndm"),
    ];
    let mut failures = Vec::new();
    for case in ["diffusion/tiny_cond", "diffusion/tiny_latent"] {
        let noise = golden(case, "initial_noise.npy");
        for (alias, file) in schedulers {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out");
            let mut args = vec!["-n", "3", "--format", "npy", "--scheduler", alias];
            if case.ends_with("cond") {
                args.extend(["--label", "b"]);
            }
            let noise_arg = noise.display().to_string();
            args.extend(["--initial-noise", noise_arg.as_str()]);
            let output = generate(case, &out, &args);
            if !output.status.success() {
                failures.push(format!(
                    "{case} {alias}: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
                continue;
            }
            // Samples are clamped to the declared range, as diffusers' pipelines do; the
            // fixtures declare ranges wide enough that no value of theirs is clamped.
            let want = read_npy(&golden(case, &format!("{file}_12_steps.npy")));
            let got: Vec<f32> = (0..3)
                .flat_map(|i| read_npy(&out.join(format!("{i:05}.npy"))))
                .collect();
            let worst = worst_relative(&got, &want);
            eprintln!("{case} {alias}: worst relative difference {worst:.2e}");
            if worst.is_nan() || worst > TOLERANCE {
                failures.push(format!("{case} {alias}: worst relative difference {worst}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_sample_is_the_same_whatever_the_batch_and_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    // DDPM adds noise at every step: it comes from each sample's own seed.
    let common = [
        "-n",
        "7",
        "--seed",
        "5",
        "--scheduler",
        "ddpm",
        "--steps",
        "6",
    ];
    let whole = dir.path().join("whole");
    assert_success(&generate(
        "diffusion/tiny_cond",
        &whole,
        &[&common[..], &["--batch", "7"]].concat(),
    ));
    let single = dir.path().join("single");
    assert_success(&generate(
        "diffusion/tiny_cond",
        &single,
        &[&common[..], &["--batch", "1"]].concat(),
    ));
    let sharded = dir.path().join("sharded");
    for shard in ["1/3", "2/3", "3/3"] {
        assert_success(&generate(
            "diffusion/tiny_cond",
            &sharded,
            &[&common[..], &["--batch", "2", "--shard", shard]].concat(),
        ));
    }
    let files = common::png_files(&whole);
    assert_eq!(files.len(), 7);
    assert_eq!(files, common::png_files(&single), "--batch 1 differs");
    assert_eq!(
        files,
        common::png_files(&sharded),
        "the union of 3 shards differs"
    );
}

#[test]
fn the_manifest_records_steps_scheduler_and_guidance() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_success(&generate(
        "diffusion/tiny_cond",
        &out,
        &[
            "-n",
            "2",
            "--steps",
            "4",
            "--scheduler",
            "euler",
            "--guidance",
            "2.5",
        ],
    ));
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let header: Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
    let diffusion = &header["arguments"]["diffusion"];
    assert_eq!(diffusion["steps"], 4, "{header}");
    assert_eq!(diffusion["scheduler"], "EulerDiscreteScheduler", "{header}");
    assert_eq!(diffusion["guidance"], 2.5, "{header}");
}

#[test]
fn guidance_changes_the_samples_and_the_package_default_applies() {
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let args = [&["-n", "2", "--label", "a", "--format", "npy"][..], extra].concat();
        assert_success(&generate("diffusion/tiny_cond", &out, &args));
        read_npy(&out.join("00000.npy"))
    };
    let default = read("default", &[]);
    let explicit = read("explicit", &["--guidance", "3"]);
    let none = read("none", &["--guidance", "1"]);
    assert_eq!(default, explicit, "the package declares guidance 3");
    assert_ne!(
        default, none,
        "guidance 3 and no guidance gave the same sample"
    );
}

#[test]
fn bad_choices_are_refused_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<&str>, &str); 5] = [
        ("diffusion/tiny_cond", vec!["--steps", "0"], "--steps"),
        ("diffusion/tiny_cond", vec!["--steps", "5000"], "--steps"),
        ("diffusion/tiny_cond", vec!["--scheduler", "heun-9"], "ddim"),
        (
            "diffusion/tiny_latent",
            vec!["--guidance", "2"],
            "--guidance",
        ),
        (
            "diffusion/tiny_cond",
            vec!["--guidance", "-1"],
            "--guidance",
        ),
    ];
    for (i, (case, args, needle)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let output = generate(case, &out, &[&["-n", "2"][..], args].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: a usage error; {stderr}"
        );
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(
            !out.join("manifest.jsonl").exists(),
            "{args:?} wrote a manifest"
        );
    }
}

#[test]
fn a_noise_file_of_the_wrong_shape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The latent model's noise is [2, 4, 4]; the conditional model's file is [3, 1, 8, 8].
    let wrong = golden("diffusion/tiny_cond", "initial_noise.npy");
    let out = dir.path().join("out");
    let output = generate(
        "diffusion/tiny_latent",
        &out,
        &["-n", "3", "--initial-noise", wrong.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--initial-noise") && stderr.contains("32 values per row"),
        "{stderr}"
    );
    let short = generate(
        "diffusion/tiny_cond",
        &dir.path().join("short"),
        &["-n", "4", "--initial-noise", wrong.to_str().unwrap()],
    );
    assert!(!short.status.success(), "4 samples from a file of 3 rows");
}

#[test]
fn diffusion_options_on_a_model_that_is_not_diffusion_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for option in [["--steps", "10"], ["--prompt", "a chest x-ray"]] {
        let output = run(medigan(&dir.path().join("home"))
            .args(["--offline", "generate", "00900", "-n", "1"])
            .args(option)
            .arg("-o")
            .arg(dir.path().join("out")));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{option:?}");
        assert!(
            stderr.contains("not a diffusion model"),
            "{option:?}: {stderr}"
        );
    }
}

fn cli(case: &str, home: &Path) -> std::process::Command {
    let mut command = medigan(home);
    command.arg("--offline").arg("--catalog").arg(fixture(case));
    command
}

#[test]
fn info_shows_the_sampler_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(cli("diffusion/tiny_cond", dir.path()).args(["info", "00961"]));
    assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("12 steps") && text.contains("guidance 3") && text.contains("--scheduler"),
        "{text}"
    );
    assert!(text.contains("onnx diffusion"), "{text}");
}

#[test]
fn the_model_test_pipeline_passes_a_diffusion_package() {
    let dir = tempfile::tempdir().unwrap();
    for case in ["diffusion/tiny_cond", "diffusion/tiny_latent"] {
        let output = run(cli(case, dir.path()).args(["--json", "test", model_id(case)]));
        let reports: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        assert!(
            output.status.success(),
            "{case}: {reports} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(reports[0]["verdict"], "pass", "{case}: {reports}");
    }
}

#[test]
fn evaluate_embeds_the_samples_of_a_diffusion_model() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    assert_success(&generate(
        "diffusion/tiny_cond",
        &real,
        &["-n", "10", "--seed", "9", "-q"],
    ));
    let extractor =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid/extractor.onnx");
    let output = run(cli("diffusion/tiny_cond", dir.path())
        .args(["--json", "evaluate", "00961", "-n", "10", "--real"])
        .arg(&real)
        .arg("--extractor")
        .arg(format!("onnx:{}", extractor.display())));
    assert_success(&output);
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let text = report.to_string();
    assert!(text.contains("FID"), "{text}");
}

#[test]
fn volumes_are_written_as_nifti_with_the_declared_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = run(cli("diffusion/tiny_volume", dir.path())
        .args(["generate", "00963", "-n", "2", "--format", "nifti", "-o"])
        .arg(&out));
    assert_success(&output);
    for i in 0..2 {
        let path = out.join(format!("{i:05}.nii"));
        let volume = medigan::formats::nifti::read(&path).expect("a NIfTI file");
        assert_eq!(volume.dims, [8, 8, 4], "x, y, z of [1, 4, 8, 8]");
        assert!(volume.values.iter().all(|v| v.is_finite()));
        let bytes = std::fs::read(&path).unwrap();
        let pixdim: Vec<f32> = (1..4)
            .map(|k| {
                let at = 76 + 4 * k;
                f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
            })
            .collect();
        assert_eq!(
            pixdim,
            [0.5, 0.5, 2.5],
            "spacing [2.5, 0.5, 0.5] as x, y, z"
        );
    }
}

#[test]
fn resume_completes_a_damaged_run_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-n",
        "6",
        "--seed",
        "3",
        "--batch",
        "2",
        "--scheduler",
        "euler-a",
    ];
    let whole = dir.path().join("whole");
    assert_success(&generate("diffusion/tiny_cond", &whole, &args));
    let files = common::png_files(&whole);
    // An interrupted run: two samples missing, one damaged.
    std::fs::remove_file(whole.join("00001.png")).unwrap();
    std::fs::remove_file(whole.join("00004.png")).unwrap();
    std::fs::write(whole.join("00002.png"), b"not a png").unwrap();
    assert_success(&generate(
        "diffusion/tiny_cond",
        &whole,
        &[&args[..], &["--resume"]].concat(),
    ));
    assert_eq!(common::png_files(&whole), files);
}
