//! Diffusion packages through the library: in memory and as a stream, each sample the same as
//! the one a run to disk writes, on tract and (when found) onnxruntime.

mod common;

use medigan::generate::{DiffusionOptions, GenerateRequest};
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::runtime::{BackendKind, find_onnxruntime};

const MODEL: &str = "00961_TINY_COND_DIFFUSION";

fn request(num_samples: u64, batch_size: usize) -> GenerateRequest {
    GenerateRequest {
        num_samples,
        seed: 11,
        batch_size,
        label: Some("a".into()),
        diffusion: DiffusionOptions {
            steps: Some(5),
            scheduler: Some("dpm++".into()),
            guidance: None,
            spacing: None,
            prompt: None,
        },
        ..GenerateRequest::default()
    }
}

fn backends() -> Vec<BackendKind> {
    let mut backends = vec![BackendKind::Tract];
    if find_onnxruntime().is_ok() {
        backends.push(BackendKind::Ort);
    }
    backends
}

#[test]
fn in_memory_stream_and_disk_give_the_same_samples() {
    let catalog = common::fixture_dir("diffusion/tiny_cond").join("medigan.json");
    for backend in backends() {
        let home = tempfile::tempdir().unwrap();
        let gens = common::offline_generators(home.path(), &catalog, backend);
        let in_memory = gens
            .generate_samples(MODEL, &request(5, 5))
            .unwrap()
            .samples;
        let streamed: Vec<_> = gens
            .stream(MODEL, &request(5, 2))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(in_memory.len(), 5);
        for (a, b) in in_memory.iter().zip(&streamed) {
            assert_eq!(a.index, b.index);
            assert_eq!(a.image, b.image, "{backend}: sample {} differs", a.index);
            assert_eq!(a.label.as_deref(), Some("a"));
            assert_eq!(a.image.shape(), [1, 8, 8]);
        }
        let dir = home.path().join("npy");
        gens.generate(MODEL, &request(5, 3), &dir, Format::Npy, &NoProgress)
            .unwrap();
        for sample in &in_memory {
            let bytes = std::fs::read(dir.join(format!("{:05}.npy", sample.index))).unwrap();
            let (written, _) = medigan::formats::npy::decode(&bytes).unwrap();
            assert_eq!(
                written, sample.image,
                "{backend}: the file of {} differs",
                sample.index
            );
        }
    }
}

#[test]
fn a_model_description_names_its_sampler() {
    let catalog = common::fixture_dir("diffusion/tiny_latent").join("medigan.json");
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &catalog, BackendKind::Tract);
    let model = gens
        .load_model("00962_TINY_LATENT_DIFFUSION", &NoProgress)
        .unwrap();
    let described = model.describe();
    assert_eq!(described.kind, "diffusion");
    let diffusion = described.diffusion.expect("a diffusion description");
    assert_eq!(diffusion.scheduler, "DDIMScheduler");
    assert_eq!(diffusion.noise_shape, [2, 4, 4]);
    assert!(diffusion.latent_decoder);
    assert_eq!(described.image_shape, Some(vec![1, 8, 8]));
}

#[test]
fn a_bad_diffusion_declaration_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::fixture_dir("diffusion/tiny_cond").join("medigan.json");
    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    let at = |field: &str| format!("/{MODEL}/execution/onnx/diffusion/{field}");
    let cases = [
        (
            "denoiser/timestep_type",
            serde_json::json!("int8"),
            "diffusion.denoiser.timestep_type",
        ),
        ("steps", serde_json::json!(0), "diffusion.steps"),
        (
            "noise/shape",
            serde_json::json!([8, 8]),
            "diffusion.noise.shape",
        ),
        (
            "decoder",
            serde_json::json!({"graph": "../d.onnx", "input": "z", "output": "image"}),
            "diffusion.decoder.graph",
        ),
        // A spacing input takes its default from the image output's `spacing`, absent here.
        (
            "conditioning",
            serde_json::json!([{"name": "spacing_tensor", "kind": "spacing"}]),
            "diffusion.conditioning[0]",
        ),
        (
            "conditioning",
            serde_json::json!([{"name": "s", "kind": "spacing", "scale": 0}]),
            "diffusion.conditioning[0].scale",
        ),
        (
            "conditioning",
            serde_json::json!([{"name": "r", "kind": "body_region"}]),
            "diffusion.conditioning[0].kind",
        ),
        // A prompt input needs its embeddings file and distinct, non-empty prompts; another
        // kind takes none of the prompt fields.
        (
            "conditioning",
            serde_json::json!([{"name": "e", "kind": "prompt", "prompts": ["a"]}]),
            "diffusion.conditioning[0]",
        ),
        (
            "conditioning",
            serde_json::json!([{"name": "e", "kind": "prompt", "embeddings": "e.npy", "prompts": ["a", "a"]}]),
            "diffusion.conditioning[0]",
        ),
        (
            "conditioning",
            serde_json::json!([{"name": "e", "kind": "prompt", "embeddings": "e.npy", "prompts": [""]}]),
            "diffusion.conditioning[0]",
        ),
        (
            "conditioning",
            serde_json::json!([{"name": "e", "kind": "prompt", "embeddings": "../e.npy", "prompts": ["a"]}]),
            "diffusion.conditioning[0]",
        ),
        (
            "conditioning",
            serde_json::json!([{"name": "s", "kind": "spacing", "prompts": ["a"]}]),
            "diffusion.conditioning[0]",
        ),
    ];
    for (i, (field, value, named)) in cases.into_iter().enumerate() {
        let mut bad = entry.clone();
        let slot = match bad.pointer_mut(&at(field)) {
            Some(slot) => slot,
            None => {
                bad.pointer_mut(&format!("/{MODEL}/execution/onnx/diffusion"))
                    .and_then(serde_json::Value::as_object_mut)
                    .unwrap()
                    .insert(field.into(), serde_json::Value::Null);
                bad.pointer_mut(&at(field)).unwrap()
            }
        };
        *slot = value;
        let case = dir
            .path()
            .join(format!("{i}-{}-{named}", field.replace('/', "_")));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("medigan.json"), bad.to_string()).unwrap();
        let gens = common::offline_generators(
            &case.join("home"),
            &case.join("medigan.json"),
            BackendKind::Tract,
        );
        let error = match gens.get_config_by_id(MODEL) {
            Ok(_) => String::from("accepted"),
            Err(e) => format!("{e}"),
        };
        assert!(error.contains(named), "{field}: {error}");
    }
}

#[test]
fn spacing_is_refused_for_a_model_without_a_spacing_input() {
    let catalog = common::fixture_dir("diffusion/tiny_cond").join("medigan.json");
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &catalog, BackendKind::Tract);
    let mut asked = request(1, 1);
    asked.diffusion.spacing = Some(medigan::generate::Spacing::parse("1.5,1.5,2").unwrap());
    let error = gens
        .generate_samples(MODEL, &asked)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("--spacing") && error.contains("no spacing input"),
        "{error}"
    );
    for bad in ["0,1,1", "1,x", "1,2,3,4", "nan"] {
        let error = medigan::generate::Spacing::parse(bad)
            .unwrap_err()
            .to_string();
        assert!(error.contains("spacing"), "{bad}: {error}");
    }
}

#[test]
fn a_prompt_is_refused_for_a_model_without_a_prompt_input() {
    let catalog = common::fixture_dir("diffusion/tiny_cond").join("medigan.json");
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &catalog, BackendKind::Tract);
    let mut asked = request(1, 1);
    asked.diffusion.prompt = Some("a chest x-ray".into());
    let error = gens
        .generate_samples(MODEL, &asked)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("prompt") && error.contains("takes no prompt"),
        "{error}"
    );
}
