//! `medigan convert PATH` on the MONAI bundle fixtures (`tests/fixtures/convert_monai/`, written
//! by `scripts/make_convert_monai_fixtures.py`): the 2D latent diffusion bundle converts,
//! verifies against MONAI's own `LatentDiffusionInferer.sample`, and the converted package then
//! generates through the native runtime with no Python on the path, equal to MONAI's loop
//! (golden samples) within 1e-4 relative from the same initial noise. A bundle that cannot be
//! converted is refused from its JSON configs, before any Python, with the reason, and leaves
//! nothing at the destination. The same for the 3D rectified-flow bundle shaped like
//! `maisi_ct_generative` (`maisi_3d`, class label + spacing inputs, NIfTI volumes). Skipped (a
//! failure under CI=true) without torch, monai, einops or onnx (and nibabel for the 3D one).

use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::convert::{assert_ok, medigan_offline, read_npy, relative};
use common::{medigan, run};

/// Relative tolerance: max |native - MONAI| / max |MONAI| (issue #27: 1e-4).
const TOLERANCE: f64 = 1e-4;
/// The golden samples' steps (the fixture script's STEPS).
const STEPS: &str = "10";

fn fixture(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/convert_monai")
        .join(name);
    assert!(
        dir.join("configs/inference.json").is_file(),
        "missing {}: run `python3 scripts/make_convert_monai_fixtures.py`",
        dir.display()
    );
    dir
}

#[test]
fn latent_diffusion_bundle_converts_and_generates_without_python() {
    let test = "converting the MONAI bundle fixture ldm_2d";
    let python = match medigan_testkit::python_importing(&["torch", "monai", "einops", "onnx"]) {
        Ok(python) => python,
        Err(why) => return medigan_testkit::skip(test, &why),
    };
    let source = fixture("ldm_2d");
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("package");
    let id = "00000_LDM_2D";
    let output = run(medigan_offline(home.path(), &python)
        .args(["--json", "convert"])
        .arg(&source)
        .args(["--install-dependencies", "--samples", "3", "--steps", STEPS])
        .args(["--id", id, "-o"])
        .arg(&out));
    assert_ok(&output);
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["source"], "monai_bundle", "{report:#}");
    assert_eq!(report["verification"]["passed"], true, "{report:#}");
    let run0 = &report["verification"]["runs"][0];
    let rel = run0["max_relative_error"].as_f64().unwrap();
    eprintln!(
        "ldm_2d: max abs {:.3e}, relative {rel:.3e}; converted in {:.1} s",
        run0["max_abs_error"].as_f64().unwrap(),
        report["seconds"].as_f64().unwrap()
    );
    assert!(rel <= TOLERANCE, "{run0}");

    // The package: the scheduler's MONAI arguments, metadata.json carried, the licence kept.
    let scheduler: Value =
        serde_json::from_slice(&std::fs::read(out.join("scheduler_config.json")).unwrap()).unwrap();
    assert_eq!(
        scheduler["_target_"],
        "monai.networks.schedulers.DDPMScheduler"
    );
    assert_eq!(scheduler["schedule"], "scaled_linear_beta");
    assert_eq!(scheduler["beta_start"], 0.0015);
    assert!(scheduler.get("_requires_").is_none(), "{scheduler}");
    assert_eq!(
        std::fs::read(source.join("LICENSE")).unwrap(),
        std::fs::read(out.join("LICENSE")).unwrap()
    );
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(out.join("medigan.json")).unwrap()).unwrap();
    let entry = &metadata[id];
    let from = &entry["execution"]["converted_from"];
    assert_eq!(from["source"], "monai_bundle");
    assert_eq!(from["bundle"], "ldm_2d");
    assert_eq!(from["sha256"], report["source_sha256"]);
    let diffusion = &entry["execution"]["onnx"]["diffusion"];
    assert_eq!(diffusion["steps"], 50, "the bundle's set_timesteps");
    assert_eq!(diffusion["decoder"]["scaling_factor"], 0.7);
    assert_eq!(
        entry["execution"]["onnx"]["outputs"][0]["range"],
        serde_json::json!([0.0, 1.0])
    );
    assert_eq!(entry["selection"]["license"], "MIT License");
    assert!(
        entry["description"]["comment"]
            .as_str()
            .unwrap()
            .contains("shaped like brats_mri_axial_slices"),
        "{entry:#}"
    );
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        card.contains("LatentDiffusionInferer.sample") && card.contains("**equal**"),
        "{card}"
    );

    // The converted package alone, no Python anywhere on the path.
    let samples = home.path().join("samples");
    let noise = source.join("golden/initial_noise.npy");
    let output = run(medigan(home.path())
        .env("PATH", home.path().join("no-python"))
        .arg("--offline")
        .arg("--catalog")
        .arg(out.join("medigan.json"))
        .args([
            "generate", id, "-n", "3", "--format", "npy", "--steps", STEPS,
        ])
        .args(["--scheduler", "monai-ddim", "--initial-noise"])
        .arg(&noise)
        .arg("-o")
        .arg(&samples));
    assert_ok(&output);
    let got: Vec<f32> = (0..3)
        .flat_map(|i| read_npy(&samples.join(format!("{i:05}.npy"))))
        .collect();
    let want = read_npy(&source.join(format!("golden/samples_{STEPS}_steps.npy")));
    let rel = relative(&got, &want);
    eprintln!("ldm_2d: native generate vs MONAI's inferer: relative {rel:.3e}");
    assert!(rel <= TOLERANCE, "relative difference {rel}");
}

/// Refused from the bundle's JSON, before any environment or Python: the reason named, nothing
/// at the destination (an empty destination folder stays empty).
fn assert_refused(name: &str, kind: &str, words: &str) {
    let home = tempfile::tempdir().unwrap();
    for out in [home.path().join("new"), home.path().join("empty")] {
        if out.ends_with("empty") {
            std::fs::create_dir(&out).unwrap();
        }
        let output = run(medigan(home.path())
            .env("MEDIGAN_PYTHON", "/nonexistent/python3")
            .args(["--offline", "convert"])
            .arg(fixture(name))
            .args(["--install-dependencies", "-o"])
            .arg(&out));
        assert!(!output.status.success(), "{name} was converted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(kind) && stderr.contains(words), "{stderr}");
        let left = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "{name}: files at the destination");
    }
    let names: Vec<String> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(
        names.iter().all(|n| n == "empty" || !n.starts_with('.')),
        "{names:?}"
    );
    assert!(!home.path().join("envs-v1/convert-monai").exists());
}

#[test]
fn bundle_whose_inferer_is_its_own_script_is_refused_and_leaves_nothing() {
    assert_refused(
        "refuse_script",
        "custom_code",
        "scripts.ldm_sampler.LDMSampler",
    );
}

#[test]
fn bundle_with_cross_attention_conditioning_is_refused_and_leaves_nothing() {
    assert_refused("refuse_text", "conditioning", "with_conditioning");
}

#[test]
fn dry_run_of_a_bundle_says_what_it_would_do() {
    let home = tempfile::tempdir().unwrap();
    for (name, action, words) in [
        (
            "ldm_2d",
            "convert",
            "AutoencoderKL decoder (scale_factor 0.7)",
        ),
        ("refuse_script", "refuse", "bundle's own code"),
        ("maisi_3d", "convert", "MAISI-shaped"),
        ("refuse_maisi_region", "refuse", "body-region"),
    ] {
        let output = run(medigan(home.path())
            .args(["--offline", "--json", "convert"])
            .arg(fixture(name))
            .arg("--dry-run"));
        assert_ok(&output);
        let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(rows[0]["action"], action, "{rows}");
        assert!(
            rows[0]["detail"].as_str().unwrap().contains(words),
            "{rows}"
        );
        assert!(
            rows[0]["dependencies"]
                .as_array()
                .unwrap()
                .contains(&Value::from("monai==1.6.1")),
            "{rows}"
        );
    }
}

#[test]
fn converting_a_bundle_needs_consent_for_its_environment() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("package");
    let output = run(medigan(home.path())
        .args(["--offline", "convert"])
        .arg(fixture("ldm_2d"))
        .arg("-o")
        .arg(&out));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs your consent")
            && stderr.contains("monai==1.6.1")
            && stderr.contains("--install-dependencies"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert!(!home.path().join("envs-v1/convert-monai").exists());
}

/// The 3D bundle shaped like `maisi_ct_generative` (`maisi_3d`, written by
/// `scripts/make_convert_maisi_fixture.py`): converted and verified against MAISI's sampling loop
/// (reproduced in the export environment from MONAI's RFlowScheduler, the networks and
/// SlidingWindowInferer), then generated with no Python on the path equal to the fixture
/// script's own run of that loop, and written as NIfTI volumes that nibabel reads with the
/// spacing the model was conditioned on.
#[test]
fn maisi_shaped_3d_bundle_converts_and_writes_volumes_with_their_spacing() {
    let test = "converting the MONAI bundle fixture maisi_3d";
    let python =
        match medigan_testkit::python_importing(&["torch", "monai", "einops", "onnx", "nibabel"]) {
            Ok(python) => python,
            Err(why) => return medigan_testkit::skip(test, &why),
        };
    let source = fixture("maisi_3d");
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("package");
    let id = "00000_MAISI_3D";
    let output = run(medigan_offline(home.path(), &python)
        .args(["--json", "convert"])
        .arg(&source)
        .args(["--install-dependencies", "--samples", "2", "--steps", STEPS])
        .args(["--id", id, "-o"])
        .arg(&out));
    assert_ok(&output);
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["verification"]["passed"], true, "{report:#}");
    let run0 = &report["verification"]["runs"][0];
    assert_eq!(run0["run"], "class 1", "the bundle's modality: {run0}");
    let rel = run0["max_relative_error"].as_f64().unwrap();
    eprintln!(
        "maisi_3d: max abs {:.3e}, relative {rel:.3e}; converted in {:.1} s",
        run0["max_abs_error"].as_f64().unwrap(),
        report["seconds"].as_f64().unwrap()
    );
    assert!(rel <= TOLERANCE, "{run0}");

    // The package declares what MAISI's script did: class label, spacing x 100, windows.
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(out.join("medigan.json")).unwrap()).unwrap();
    let onnx = &metadata[id]["execution"]["onnx"];
    assert_eq!(onnx["inputs"][0]["name"], "class_labels", "{onnx:#}");
    assert_eq!(onnx["inputs"][0]["classes"].as_array().unwrap().len(), 4);
    assert_eq!(
        onnx["outputs"][0]["shape"],
        serde_json::json!([1, 32, 32, 16])
    );
    assert_eq!(
        onnx["outputs"][0]["spacing"],
        serde_json::json!([1.5, 1.5, 2.0])
    );
    let diffusion = &onnx["diffusion"];
    assert_eq!(diffusion["noise"]["shape"], serde_json::json!([4, 8, 8, 4]));
    assert_eq!(diffusion["denoiser"]["timestep_type"], "float32");
    assert_eq!(diffusion["denoiser"]["prediction"], "flow");
    assert_eq!(diffusion["steps"], 30, "the bundle's num_inference_steps");
    assert_eq!(
        diffusion["conditioning"],
        serde_json::json!([{"name": "spacing_tensor", "kind": "spacing", "scale": 100.0}])
    );
    let decoder = &diffusion["decoder"];
    assert_eq!(
        decoder["sliding_window"]["roi"],
        serde_json::json!([4, 4, 4])
    );
    assert_eq!(decoder["sliding_window"]["overlap"], 0.25);
    let scale = decoder["scaling_factor"].as_f64().unwrap();
    assert!(
        (scale - 0.8).abs() < 1e-6,
        "the checkpoint's scale_factor: {scale}"
    );
    let scheduler: Value =
        serde_json::from_slice(&std::fs::read(out.join("scheduler_config.json")).unwrap()).unwrap();
    assert_eq!(
        scheduler["_target_"],
        "monai.networks.schedulers.RFlowScheduler"
    );
    assert_eq!(scheduler["use_timestep_transform"], true);

    // The converted package alone, no Python anywhere on the path: MAISI's loop, again.
    let generate = |args: &[&str], dir: &str| {
        let mut command = medigan(home.path());
        command
            .env("PATH", home.path().join("no-python"))
            .arg("--offline")
            .arg("--catalog")
            .arg(out.join("medigan.json"))
            .args(["generate", id, "--steps", STEPS, "--label", "1"])
            .args(args)
            .arg("-o")
            .arg(home.path().join(dir));
        run(&mut command)
    };
    let noise = source.join("golden/initial_noise.npy");
    let noise = noise.to_str().unwrap();
    let output = generate(
        &["-n", "2", "--format", "npy", "--initial-noise", noise],
        "npy",
    );
    assert_ok(&output);
    let got: Vec<f32> = (0..2)
        .flat_map(|i| read_npy(&home.path().join(format!("npy/{i:05}.npy"))))
        .collect();
    let want = read_npy(&source.join(format!("golden/samples_{STEPS}_steps.npy")));
    let rel = relative(&got, &want);
    eprintln!("maisi_3d: native generate vs MAISI's loop: relative {rel:.3e}");
    assert!(rel <= TOLERANCE, "relative difference {rel}");

    // NIfTI: the declared spacing by default, `--spacing` when given (and fed to the network:
    // the volume differs); nibabel's zooms are x, y, z = the reversed [D, H, W].
    let zooms = |dir: &str| -> Vec<f64> {
        let script = "import json, sys, nibabel\nimage = nibabel.load(sys.argv[1])\n\
                      print(json.dumps([float(z) for z in image.header.get_zooms()]))";
        let read = run(std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(home.path().join(dir).join("00000.nii")));
        assert_ok(&read);
        serde_json::from_slice(&read.stdout).unwrap()
    };
    assert_ok(&generate(&["-n", "1", "--format", "nifti"], "declared"));
    assert_eq!(zooms("declared"), [2.0, 1.5, 1.5]);
    let asked = ["-n", "1", "--format", "nifti", "--spacing", "1.25,1.25,3"];
    assert_ok(&generate(&asked, "asked"));
    assert_eq!(zooms("asked"), [3.0, 1.25, 1.25]);
    let voxels = |dir: &str| std::fs::read(home.path().join(dir).join("00000.nii")).unwrap();
    assert_ne!(
        voxels("declared")[352..],
        voxels("asked")[352..],
        "the spacing reaches the network"
    );
    let manifest = std::fs::read_to_string(home.path().join("asked/manifest.jsonl")).unwrap();
    assert!(
        manifest.contains(r#""spacing":[1.25,1.25,3.0]"#),
        "{manifest}"
    );

    // A spacing of the wrong length is refused before anything is written.
    let output = generate(
        &["-n", "1", "--format", "nifti", "--spacing", "1,1"],
        "refused",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--spacing") && stderr.contains("3 spatial axes"),
        "{stderr}"
    );
    assert!(!home.path().join("refused/00000.nii").exists());
}

#[test]
fn maisi_bundle_with_body_region_inputs_is_refused_and_leaves_nothing() {
    assert_refused(
        "refuse_maisi_region",
        "conditioning",
        "include_top_region_index_input",
    );
}
