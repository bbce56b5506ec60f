//! The legacy runtime through the library: samples of a package in the original format come
//! back as ordinary `Sample`s (channels first, 0..255, masks kept), consent is required, and a
//! package that hangs is stopped at the time limit.

use std::path::Path;
use std::time::Duration;

use medigan::catalog::CatalogSettings;
use medigan::error::Hint;
use medigan::generate::GenerateRequest;
use medigan::home::Home;
use medigan::legacy::{LegacyError, LegacySettings};
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::sample::sample_seed;
use medigan::{Error, Generators, Settings};
use medigan_testkit::ZipBuilder;
use serde_json::json;

/// Whether `python3`, from which legacy environments are made, has numpy (the fixtures'
/// generate functions import it); reports the test as skipped when not. CI installs numpy.
fn python_has_numpy() -> bool {
    match medigan_testkit::python_importing(&["numpy"]) {
        Ok(_) => true,
        Err(why) => {
            medigan_testkit::skip("the legacy package run", &why);
            false
        }
    }
}

/// A catalogue with one entry in the original format whose package is a local zip holding
/// `init_py` as its `__init__.py`.
fn generators(home: &Path, init_py: &str, install: bool, timeout: u64) -> Generators {
    generators_with(home, init_py, install, timeout, json!({}))
}

/// Like [`generators`], with `method` merged into `execution.generate_method` (e.g. an
/// `input_latent_vector_size`, custom arguments).
fn generators_with(
    home: &Path,
    init_py: &str,
    install: bool,
    timeout: u64,
    method: serde_json::Value,
) -> Generators {
    let zip = ZipBuilder::new()
        .file("__init__.py", init_py.as_bytes())
        .file("model.bin", b"weights")
        .finish();
    let package = home.join("package.zip");
    std::fs::write(&package, zip).unwrap();
    let mut catalog = json!({
        "90201_LEGACY_LIB": {
            "execution": {
                "package_name": "90201_LEGACY_LIB",
                "package_link": package.display().to_string(),
                "model_name": "model",
                "extension": ".bin",
                "image_size": [8, 8],
                "dependencies": [],
                "generate_method": {
                    "name": "generate",
                    "args": {"base": ["model_file", "num_samples", "output_path", "save_images"],
                             "custom": {}},
                },
            },
            "selection": {"performance": {"FID": null}, "modality": ["MMG"]},
            "description": {"title": "legacy library fixture"},
        }
    });
    if let (Some(target), Some(extra)) = (
        catalog["90201_LEGACY_LIB"]["execution"]["generate_method"].as_object_mut(),
        method.as_object(),
    ) {
        for (key, value) in extra {
            target.insert(key.clone(), value.clone());
        }
    }
    let catalog_path = home.join("global.json");
    std::fs::write(&catalog_path, serde_json::to_vec(&catalog).unwrap()).unwrap();
    let gens = Generators::new(Settings {
        home: Home::new(home.join("home")),
        catalog: CatalogSettings {
            explicit: vec![catalog_path.display().to_string()],
            offline: true,
            ..Default::default()
        },
        backend: None,
        verify: false,
    });
    gens.set_legacy_settings(LegacySettings {
        install_dependencies: install,
        timeout: Some(Duration::from_secs(timeout)),
        ..LegacySettings::default()
    });
    gens
}

const IMAGE_AND_MASK: &str = r#"
import numpy as np

def generate(model_file, num_samples, output_path, save_images):
    assert open(model_file, "rb").read() == b"weights"
    out = []
    for i in range(num_samples):
        image = np.full((8, 8, 3), 0.5, dtype=np.float32)  # HWC in 0..1
        mask = np.zeros((8, 8), dtype=bool)
        mask[:4] = True
        out.append((image, mask))
    return out
"#;

#[test]
fn samples_come_back_channels_first_in_byte_range_with_masks() {
    if !python_has_numpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gens = generators(dir.path(), IMAGE_AND_MASK, true, 600);
    let request = GenerateRequest {
        num_samples: 3,
        seed: 5,
        batch_size: 2,
        ..GenerateRequest::default()
    };
    let samples = gens.generate_samples("90201", &request).unwrap().samples;
    assert_eq!(samples.len(), 3);
    for (i, sample) in samples.iter().enumerate() {
        assert_eq!(sample.index, i as u64);
        assert_eq!(sample.image.shape(), &[3, 8, 8]);
        assert!(sample.image.iter().all(|&v| (v - 127.5).abs() < 1e-3));
        let mask = sample.mask.as_ref().expect("the mask of the pair");
        assert_eq!(mask.shape(), &[1, 8, 8]);
        assert_eq!(mask[[0, 0, 0]], 255.0);
        assert_eq!(mask[[0, 7, 0]], 0.0);
    }
    let chosen: Vec<_> = gens
        .stream_indices("90201", &request, vec![2, 0])
        .unwrap()
        .map(|s| s.unwrap().index)
        .collect();
    assert_eq!(chosen, vec![2, 0]);
}

#[test]
fn without_consent_the_error_names_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let gens = generators(dir.path(), IMAGE_AND_MASK, false, 600);
    let error = gens
        .generate_samples("90201", &GenerateRequest::default())
        .unwrap_err();
    match &error {
        Error::Legacy(e) => assert!(matches!(**e, LegacyError::ConsentNeeded { .. }), "{e}"),
        other => panic!("expected the consent error, got {other}"),
    }
    assert!(error.hint().unwrap().contains("install_dependencies"));
    assert!(!dir.path().join("home/envs-v1/90201_LEGACY_LIB").exists());
}

#[test]
fn a_package_that_hangs_is_stopped_at_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let hangs = "import time\n\ndef generate(model_file, num_samples, output_path, save_images):\n    print('working on it')\n    time.sleep(600)\n";
    let gens = generators(dir.path(), hangs, true, 5);
    let started = std::time::Instant::now();
    let error = gens
        .generate_samples("90201", &GenerateRequest::default())
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "stopped in time"
    );
    assert!(error.contains("did not answer within 5 s"), "{error}");
    assert!(error.contains("90201_LEGACY_LIB"), "{error}");
    assert!(
        error.contains("working on it"),
        "the model's own output: {error}"
    );
}

/// A package with a latent, as the zoo's GANs: `input_latent_vector` (float32, `[n, 16, 1, 1]`)
/// becomes a 4x4 uint8 image `clip(z * 10 + 128)`, so each sample shows its latent exactly.
const LATENT_MODEL: &str = r#"
import numpy as np

def generate(model_file, num_samples, output_path, save_images, input_latent_vector=None):
    z = input_latent_vector
    if z is None:
        z = np.random.randn(num_samples, 16, 1, 1).astype(np.float32)
    assert z.dtype == np.float32, z.dtype
    assert z.shape == (num_samples, 16, 1, 1), z.shape
    return [np.clip(z[i, :, 0, 0] * 10 + 128, 0, 255).astype(np.uint8).reshape(4, 4)
            for i in range(num_samples)]
"#;

/// The image [`LATENT_MODEL`] makes of a latent.
fn latent_image(latent: &[f32]) -> Vec<f32> {
    latent
        .iter()
        .map(|v| f32::from((v * 10.0 + 128.0).clamp(0.0, 255.0) as u8))
        .collect()
}

fn latent_generators(home: &Path) -> Generators {
    generators_with(
        home,
        LATENT_MODEL,
        true,
        600,
        json!({"input_latent_vector_size": 16}),
    )
}

/// The table's cells "in memory" and "stream" for a legacy model with a latent: sample `i` is
/// the package run on the latent drawn from `(seed, i)`, whatever the batch.
#[test]
fn cell_in_memory_and_stream_legacy_with_latent_each_sample_gets_its_seeded_latent() {
    if !python_has_numpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gens = latent_generators(dir.path());
    let model = gens.load_model("90201", &NoProgress).unwrap();
    assert_eq!(model.describe().kind, "legacy");
    assert_eq!(model.describe().latent_size, Some(16));
    let request = |batch_size| GenerateRequest {
        num_samples: 5,
        seed: 3,
        batch_size,
        ..GenerateRequest::default()
    };
    let samples = gens.generate_samples("90201", &request(5)).unwrap().samples;
    for sample in &samples {
        assert_eq!(sample.seed, sample_seed(3, sample.index));
        let latent = model.seeded_latent(sample.seed).unwrap();
        assert_eq!(sample.image.shape(), &[1, 4, 4]);
        assert_eq!(
            sample.image.iter().copied().collect::<Vec<_>>(),
            latent_image(&latent)
        );
    }
    let streamed: Vec<_> = gens
        .stream("90201", &request(2))
        .unwrap()
        .map(|s| s.unwrap().image)
        .collect();
    let images: Vec<_> = samples.iter().map(|s| s.image.clone()).collect();
    assert_eq!(streamed, images, "batch 2 gives the samples of batch 5");
}

/// The done-when of issue #13: `-n 40 --seed 3` equals itself with batch 1 and with the four
/// shards unioned, file for file.
#[test]
fn legacy_with_latent_runs_are_the_same_at_batch_1_and_unioned_over_4_shards() {
    if !python_has_numpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gens = latent_generators(dir.path());
    let run = |out: &str, batch_size: usize, shard: Option<&str>| {
        let request = GenerateRequest {
            num_samples: 40,
            seed: 3,
            batch_size,
            shard: shard.map(|s| s.parse().unwrap()),
            ..GenerateRequest::default()
        };
        let out = dir.path().join(out);
        gens.generate("90201", &request, &out, Format::Png, &NoProgress)
            .unwrap();
        out
    };
    let whole = run("whole", 16, None);
    let batch1 = run("batch1", 1, None);
    let sharded = dir.path().join("sharded");
    for k in 1..=4 {
        let part = run(&format!("shard{k}"), 7, Some(&format!("{k}/4")));
        for file in std::fs::read_dir(&part).unwrap() {
            let file = file.unwrap();
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".png") {
                std::fs::create_dir_all(&sharded).unwrap();
                std::fs::copy(file.path(), sharded.join(name)).unwrap();
            }
        }
    }
    let pngs = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let expected = pngs(&whole);
    assert_eq!(expected.len(), 40);
    assert!(pngs(&batch1) == expected, "batch 1 differs from batch 16");
    assert!(
        pngs(&sharded) == expected,
        "the shards differ from the whole run"
    );
    let manifest = std::fs::read_to_string(whole.join("manifest.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
    assert_eq!(header["arguments"]["input_latent_vector"]["size"], 16);
    assert!(
        header["arguments"]["seeding"]
            .as_str()
            .unwrap()
            .contains("numpy and torch"),
        "{header}"
    );
}

/// The table's cell "callable" for a legacy model: the generate function is made (with
/// consent) and gives the seeded samples on each call; a fixed latent reaches every sample.
#[test]
fn cell_callable_legacy_with_latent_and_a_fixed_latent_reaches_the_package() {
    if !python_has_numpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gens = latent_generators(dir.path());
    let defaults = GenerateRequest {
        num_samples: 2,
        seed: 8,
        ..GenerateRequest::default()
    };
    let function = gens
        .get_generate_function("90201", defaults.clone())
        .unwrap();
    assert_eq!(function.model_id(), "90201_LEGACY_LIB");
    let first = function.call().unwrap();
    assert_eq!(first, function.call().unwrap());

    let latent: Vec<f32> = (0..16).map(|i| i as f32 / 4.0 - 2.0).collect();
    let out = dir.path().join("fixed");
    gens.generate_with_latent(
        "90201",
        &defaults,
        latent.clone(),
        &out,
        Format::Npy,
        &NoProgress,
    )
    .unwrap();
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(manifest.lines().nth(1).unwrap()).unwrap();
    let written = std::fs::read(out.join(line["file"].as_str().unwrap())).unwrap();
    let header_len = u16::from_le_bytes([written[8], written[9]]) as usize;
    let values: Vec<f32> = written[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(values, latent_image(&latent));

    let error = gens
        .generate_with_latent(
            "90201",
            &defaults,
            vec![0.0; 3],
            &out,
            Format::Npy,
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("3 values given") && error.contains("has 16"),
        "{error}"
    );
}

/// The table's column "legacy without latent": the package is called on whole blocks of 8
/// samples, each seeded with its first sample's seed, so the same run gives the same samples
/// at any batch size (issue #26 item 15), and consent is still needed.
#[test]
fn cell_in_memory_legacy_without_latent_is_seeded_per_block() {
    if !python_has_numpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let draws = "import numpy as np\n\ndef generate(model_file, num_samples, output_path, save_images):\n    return [np.random.randint(0, 255, (4, 4)).astype(np.uint8) for _ in range(num_samples)]\n";
    let gens = generators(dir.path(), draws, true, 600);
    let model = gens.load_model("90201", &NoProgress).unwrap();
    assert_eq!(model.describe().latent_size, None);
    let request = GenerateRequest {
        num_samples: 4,
        seed: 1,
        batch_size: 2,
        ..GenerateRequest::default()
    };
    let first = gens.generate_samples("90201", &request).unwrap().samples;
    assert_eq!(
        first,
        gens.generate_samples("90201", &request).unwrap().samples
    );
    assert_ne!(first[0].image, first[1].image);
    let other_batch = GenerateRequest {
        batch_size: 3,
        ..request.clone()
    };
    assert_eq!(
        gens.generate_samples("90201", &other_batch)
            .unwrap()
            .samples,
        first,
        "batches of 3 give the samples of batches of 2"
    );
    let error = gens
        .generate_with_latent(
            "90201",
            &request,
            vec![0.0; 4],
            dir.path(),
            Format::Png,
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("has no latent input"), "{error}");
}

/// A package that answers with the wrong number of samples, or writes nothing, is named with
/// what it gave, and the run leaves no finished-looking output.
#[test]
fn a_package_returning_too_few_samples_or_nothing_is_named_and_leaves_no_manifest() {
    if !python_has_numpy() {
        return;
    }
    for (init_py, said) in [
        (
            "import numpy as np\n\ndef generate(model_file, num_samples, output_path, save_images):\n    return [np.zeros((4, 4), np.uint8)]\n",
            "the generate function gave 1",
        ),
        (
            "def generate(model_file, num_samples, output_path, save_images):\n    return None\n",
            "gave 0",
        ),
        (
            "def generate(model_file, num_samples, output_path, save_images):\n    return 'text'\n",
            "not an image",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let gens = generators(dir.path(), init_py, true, 600);
        let request = GenerateRequest {
            num_samples: 3,
            ..GenerateRequest::default()
        };
        let out = dir.path().join("out");
        let error = gens
            .generate("90201", &request, &out, Format::Png, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(error.contains("90201_LEGACY_LIB"), "{error}");
        assert!(error.contains(said), "{said}: {error}");
        assert!(!out.join("manifest.jsonl").exists());
    }
}
