//! `medigan convert PATH` on the diffusers pipeline fixtures (`tests/fixtures/convert_diffusion/`,
//! written by `scripts/make_convert_diffusion_fixtures.py`): each pipeline converts, verifies
//! against its own loop, and the converted package then generates through the native runtime
//! with no Python on the path, equal to the pipeline's loop (golden samples) within 1e-4
//! relative from the same initial noise. A pipeline that cannot be converted is refused with the
//! reason and leaves nothing at the destination (no Python needed: the refusal comes from the
//! folder's JSON). Skipped (a failure under CI=true) without torch, diffusers or onnx.

use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::convert::{assert_ok, medigan_offline, read_npy, relative};
use common::{medigan, run};

/// Relative tolerance: max |native - pipeline| / max |pipeline| (issue #27: 1e-4).
const TOLERANCE: f64 = 1e-4;
/// The golden samples' steps (the fixture script's STEPS).
const STEPS: &str = "10";

fn fixture(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/convert_diffusion")
        .join(name);
    assert!(
        dir.join("model_index.json").is_file(),
        "missing {}: run `python3 scripts/make_convert_diffusion_fixtures.py`",
        dir.display()
    );
    dir
}

/// The Python with torch, diffusers and onnx, or `None` after a visible skip.
fn python(test: &str) -> Option<String> {
    match medigan_testkit::python_importing(&["torch", "diffusers", "onnx"]) {
        Ok(python) => Some(python),
        Err(why) => {
            medigan_testkit::skip(test, &why);
            None
        }
    }
}

/// Converts `name`, checks the report and the package, then generates the golden run from the
/// package with an empty PATH and no MEDIGAN_PYTHON, and compares it with the golden samples.
fn convert_and_generate(name: &str, id: &str, label: Option<&str>) {
    convert_and_generate_with(name, id, label, None);
}

/// [`convert_and_generate`] with `MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES=threshold` when given:
/// then every graph must come with its external-data file, declared with size and sha256, and
/// the package generates the golden run on tract and on onnxruntime (when found).
fn convert_and_generate_with(name: &str, id: &str, label: Option<&str>, threshold: Option<&str>) {
    let test = format!("converting the diffusers fixture {name}");
    let Some(python) = python(&test) else {
        return;
    };
    let source = fixture(name);
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("package");
    let mut convert = medigan_offline(home.path(), &python);
    if let Some(threshold) = threshold {
        convert.env("MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES", threshold);
    }
    let output = run(convert
        .args(["--json", "convert"])
        .arg(&source)
        .args([
            "--install-dependencies",
            "--samples",
            "3",
            "--steps",
            STEPS,
            "--id",
            id,
            "-o",
        ])
        .arg(&out));
    assert_ok(&output);
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let verification = &report["verification"];
    assert_eq!(verification["passed"], true, "{report:#}");
    for run in verification["runs"].as_array().unwrap() {
        let rel = run["max_relative_error"].as_f64().unwrap();
        eprintln!(
            "{name} {}: max abs {:.3e}, relative {rel:.3e}; converted in {:.1} s",
            run["run"],
            run["max_abs_error"].as_f64().unwrap(),
            report["seconds"].as_f64().unwrap()
        );
        assert!(rel <= TOLERANCE, "{name}: {run}");
    }

    // The package: scheduler config and licence carried unchanged, provenance, the card.
    for (from, to) in [
        ("scheduler/scheduler_config.json", "scheduler_config.json"),
        ("LICENSE", "LICENSE"),
    ] {
        assert_eq!(
            std::fs::read(source.join(from)).unwrap(),
            std::fs::read(out.join(to)).unwrap(),
            "{to} is the source's {from}"
        );
    }
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(out.join("medigan.json")).unwrap()).unwrap();
    let execution = &metadata[id]["execution"];
    assert_eq!(execution["converted_from"]["source"], "diffusers");
    assert_eq!(
        execution["converted_from"]["sha256"],
        report["source_sha256"]
    );
    assert_eq!(
        execution["onnx"]["diffusion"]["scheduler"],
        "scheduler_config.json"
    );
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        card.contains("## Verification") && card.contains("**equal**"),
        "{card}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".medigan-convert-")
        })
        .collect();
    assert!(leftovers.is_empty(), "staging folders left: {leftovers:?}");

    let onnx = &execution["onnx"];
    let declared = [
        ("denoiser.onnx", &onnx["external_data"]),
        (
            "decoder.onnx",
            &onnx["diffusion"]["decoder"]["external_data"],
        ),
    ];
    for (graph, list) in declared {
        if threshold.is_none() || !out.join(graph).exists() {
            assert!(list.is_null(), "{graph}: {list}");
            continue;
        }
        let file = format!("{graph}.data");
        assert_eq!(list[0]["file"], file.as_str(), "{graph}: {list}");
        let size = std::fs::metadata(out.join(&file)).unwrap().len();
        assert_eq!(list[0]["size"], size, "{graph}: {list}");
        assert!(
            std::fs::metadata(out.join(graph)).unwrap().len() < size,
            "{graph} keeps its weights in {file}"
        );
    }

    // The converted package alone, no Python anywhere on the path: on the default backend, or
    // with external data on each backend.
    let backends: Vec<Option<(&str, Option<PathBuf>)>> = match threshold {
        None => vec![None],
        Some(_) => {
            let mut backends = vec![Some(("tract", None))];
            if let Ok(library) = medigan::runtime::find_onnxruntime() {
                backends.push(Some(("ort", Some(library.path))));
            }
            backends
        }
    };
    for backend in backends {
        generate_golden(&home, &out, &source, id, label, name, backend);
    }
}

/// Generates the golden run from the converted package `out` and compares it with the golden
/// samples of the fixture `source`.
fn generate_golden(
    home: &tempfile::TempDir,
    out: &std::path::Path,
    source: &std::path::Path,
    id: &str,
    label: Option<&str>,
    name: &str,
    backend: Option<(&str, Option<PathBuf>)>,
) {
    let samples = home.path().join(format!(
        "samples-{}",
        backend.as_ref().map_or("default", |b| b.0)
    ));
    let noise = source.join("golden/initial_noise.npy");
    let mut generate = medigan(home.path());
    if let Some((backend, library)) = &backend {
        generate.args(["--backend", backend]);
        if let Some(library) = library {
            generate.env("ORT_DYLIB_PATH", library);
        }
    }
    generate
        .env("PATH", home.path().join("no-python"))
        .arg("--offline")
        .arg("--catalog")
        .arg(out.join("medigan.json"))
        .args([
            "generate", id, "-n", "3", "--format", "npy", "--steps", STEPS,
        ])
        .args(["--scheduler", "ddim", "--initial-noise"])
        .arg(&noise)
        .arg("-o")
        .arg(&samples);
    if let Some(label) = label {
        generate.args(["--label", label]);
    }
    let output = run(&mut generate);
    assert_ok(&output);
    let got: Vec<f32> = (0..3)
        .flat_map(|i| read_npy(&samples.join(format!("{i:05}.npy"))))
        .collect();
    let want = read_npy(&source.join(format!("golden/samples_{STEPS}_steps.npy")));
    let rel = relative(&got, &want);
    eprintln!("{name}: native generate vs the pipeline's loop: relative {rel:.3e}");
    assert!(rel <= TOLERANCE, "{name}: relative difference {rel}");
}

#[test]
fn ddim_pixel_pipeline_converts_and_generates_without_python() {
    convert_and_generate("ddim_pixel", "00000_DDIM_PIXEL", None);
}

#[test]
fn class_conditional_unet_converts_and_generates_without_python() {
    convert_and_generate("class_cond", "00001_CLASS_COND", Some("1"));
}

#[test]
fn latent_pipeline_with_autoencoder_kl_converts_and_generates_without_python() {
    convert_and_generate("latent_kl", "00002_LATENT_KL", None);
}

#[test]
fn latent_pipeline_over_the_external_data_threshold_converts_with_data_files() {
    // Every graph over 0 bytes: both graphs keep their weights in `<graph>.data`.
    convert_and_generate_with("latent_kl", "00002_LATENT_KL", None, Some("0"));
}

#[test]
fn latent_pipeline_with_a_vq_decoder_converts_and_generates_without_python() {
    convert_and_generate("latent_vq", "00003_LATENT_VQ", None);
}

/// Refused from the folder's JSON, before any environment or Python: the reason named, nothing
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
}

#[test]
fn unsupported_text_pipeline_is_refused_and_leaves_nothing() {
    assert_refused(
        "refuse_pipeline",
        "unsupported_pipeline",
        "StableDiffusionXLPipeline",
    );
}

#[test]
fn text_pipeline_without_prompts_is_refused_and_leaves_nothing() {
    assert_refused("text_sd", "needs_prompts", "--prompts FILE");
}

/// The golden samples' steps of the text fixture (scripts/make_convert_text_fixture.py).
const TEXT_STEPS: &str = "8";

/// The prompts of the text fixture, one per line.
fn text_prompts() -> Vec<String> {
    std::fs::read_to_string(fixture("text_sd").join("prompts.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn text_conditioned_pipeline_converts_with_prompt_embeddings_and_generates_without_python() {
    let test = "converting the text-conditioned diffusers fixture";
    let Some(python) =
        medigan_testkit::python_importing(&["torch", "diffusers", "onnx", "transformers"])
            .map_err(|why| medigan_testkit::skip(test, &why))
            .ok()
    else {
        return;
    };
    let source = fixture("text_sd");
    let prompts = text_prompts();
    assert_eq!(prompts.len(), 2);
    let id = "00004_TEXT_SD";
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("package");
    let output = run(medigan_offline(home.path(), &python)
        .args(["--json", "convert"])
        .arg(&source)
        .arg("--prompts")
        .arg(source.join("prompts.txt"))
        .args([
            "--install-dependencies",
            "--samples",
            "2",
            "--steps",
            TEXT_STEPS,
            "--id",
            id,
            "-o",
        ])
        .arg(&out));
    assert_ok(&output);
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let verification = &report["verification"];
    assert_eq!(verification["passed"], true, "{report:#}");
    let runs = verification["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one reference run per prompt: {report:#}");
    for (run, prompt) in runs.iter().zip(&prompts) {
        assert!(
            run["run"].as_str().unwrap().contains(prompt.as_str()),
            "{run}"
        );
        let rel = run["max_relative_error"].as_f64().unwrap();
        eprintln!(
            "text_sd {}: max abs {:.3e}, relative {rel:.3e}; converted in {:.1} s",
            run["run"],
            run["max_abs_error"].as_f64().unwrap(),
            report["seconds"].as_f64().unwrap()
        );
        assert!(rel <= TOLERANCE, "{run}");
    }

    // The package: the prompts declared, their embeddings hashed, no text encoder.
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(out.join("medigan.json")).unwrap()).unwrap();
    let diffusion = &metadata[id]["execution"]["onnx"]["diffusion"];
    let conditioning = &diffusion["conditioning"][0];
    assert_eq!(conditioning["kind"], "prompt", "{diffusion:#}");
    assert_eq!(conditioning["name"], "encoder_hidden_states");
    assert_eq!(conditioning["prompts"], serde_json::json!(prompts));
    assert_eq!(diffusion["guidance_scale"], 7.5);
    let embeddings = out.join(conditioning["embeddings"].as_str().unwrap());
    let bytes = std::fs::read(&embeddings).unwrap();
    use sha2::Digest;
    assert_eq!(
        conditioning["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    let (table, _) = medigan::formats::npy::decode(&bytes).unwrap();
    assert_eq!(table.shape(), &[3, 48, 16], "two prompts and the empty one");
    let files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files
            .iter()
            .any(|f| f.contains("text_encoder") || f.contains("tokenizer")),
        "{files:?}"
    );
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        card.contains("No tokenizer or text-encoder graph") && card.contains(&prompts[1]),
        "{card}"
    );

    // `medigan info` lists the prompts to choose from.
    let output = run(medigan(home.path())
        .arg("--offline")
        .arg("--catalog")
        .arg(out.join("medigan.json"))
        .args(["info", id]));
    assert_ok(&output);
    let info = String::from_utf8_lossy(&output.stdout);
    assert!(
        info.contains("2 prompts (--prompt") && prompts.iter().all(|p| info.contains(p.as_str())),
        "{info}"
    );

    // Each prompt, from the package alone with no Python anywhere on the path, equals the
    // pipeline's own loop; the two prompts give different samples.
    let noise = source.join("golden/initial_noise.npy");
    let generate = |prompt: &str, samples: &std::path::Path| {
        let mut command = medigan(home.path());
        command
            .env("PATH", home.path().join("no-python"))
            .arg("--offline")
            .arg("--catalog")
            .arg(out.join("medigan.json"))
            .args([
                "generate", id, "-n", "2", "--format", "npy", "--steps", TEXT_STEPS,
            ])
            .args(["--prompt", prompt, "--initial-noise"])
            .arg(&noise)
            .arg("-o")
            .arg(samples);
        run(&mut command)
    };
    let mut goldens = Vec::new();
    for (p, prompt) in prompts.iter().enumerate() {
        let samples = home.path().join(format!("samples-{p}"));
        let output = generate(prompt, &samples);
        assert_ok(&output);
        let got: Vec<f32> = (0..2)
            .flat_map(|i| read_npy(&samples.join(format!("{i:05}.npy"))))
            .collect();
        let want = read_npy(&source.join(format!("golden/samples_{TEXT_STEPS}_steps_{p}.npy")));
        let rel = relative(&got, &want);
        eprintln!("text_sd prompt {p}: native generate vs the pipeline's loop: relative {rel:.3e}");
        assert!(
            rel <= TOLERANCE,
            "prompt {prompt:?}: relative difference {rel}"
        );
        let manifest = std::fs::read_to_string(samples.join("manifest.jsonl")).unwrap();
        let header: Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
        assert_eq!(
            header["arguments"]["diffusion"]["prompt"],
            prompt.as_str(),
            "{header}"
        );
        goldens.push(want);
    }
    let apart = relative(&goldens[0], &goldens[1]);
    assert!(
        apart > 100.0 * TOLERANCE,
        "the prompts barely change the samples: {apart}"
    );

    // A prompt the package does not declare: refused, naming the declared ones, nothing written.
    let samples = home.path().join("samples-unknown");
    let output = generate("chest x-ray, cardiomegaly", &samples);
    assert!(!output.status.success(), "an undeclared prompt generated");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--prompt") && prompts.iter().all(|p| stderr.contains(p.as_str())),
        "{stderr}"
    );
    let left = std::fs::read_dir(&samples).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "files written for an undeclared prompt");
}

#[test]
fn custom_scheduler_is_refused_and_leaves_nothing() {
    assert_refused("refuse_scheduler", "custom_scheduler", "MyLearnedScheduler");
}

#[test]
fn dry_run_of_a_folder_says_what_it_would_do() {
    let home = tempfile::tempdir().unwrap();
    for (name, action, words) in [
        ("latent_kl", "convert", "AutoencoderKL decoder"),
        ("latent_vq", "convert", "VQModel decoder"),
        ("class_cond", "convert", "3 classes"),
        (
            "text_sd",
            "convert",
            "text-conditioned (CLIPTextModel): needs --prompts FILE",
        ),
        ("refuse_scheduler", "refuse", "MyLearnedScheduler"),
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
    }
}

#[test]
fn converting_a_folder_needs_consent_for_its_environment() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("package");
    let output = run(medigan(home.path())
        .args(["--offline", "convert"])
        .arg(fixture("ddim_pixel"))
        .arg("-o")
        .arg(&out));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs your consent") && stderr.contains("--install-dependencies"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert!(!home.path().join("envs-v1/convert-diffusers").exists());
}

/// A bad `--prompts` file, or `--prompts` for a pipeline without text conditioning, is refused
/// from the file and the folder's JSON alone: the reason named, no Python run, nothing written.
#[test]
fn bad_prompts_are_refused_before_anything_runs() {
    let home = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = home.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (
            "text_sd",
            file("twice.txt", "a chest x-ray\r\n\r\na chest x-ray\r\n"),
            "given twice",
        ),
        ("text_sd", file("blank.txt", "\n  \n"), "expected 1 to"),
        (
            "ddim_pixel",
            file("one.txt", "a chest x-ray\n"),
            "prompts_without_text",
        ),
    ];
    for (name, prompts, words) in cases {
        let out = home.path().join("out");
        let output = run(medigan(home.path())
            .env("MEDIGAN_PYTHON", "/nonexistent/python3")
            .args(["--offline", "convert"])
            .arg(fixture(name))
            .arg("--prompts")
            .arg(&prompts)
            .args(["--install-dependencies", "-o"])
            .arg(&out));
        assert!(
            !output.status.success(),
            "{name} with {prompts:?} was converted"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{name}: {stderr}");
        assert!(!out.exists(), "{name}: files at the destination");
    }
}
