//! The legacy runtime through the library: samples of a package in the original format come
//! back as ordinary `Sample`s (channels first, 0..255, masks kept), consent is required, and a
//! package that hangs is stopped at the time limit.

use std::path::Path;
use std::time::Duration;

use medigan::catalog::CatalogSettings;
use medigan::generate::GenerateRequest;
use medigan::home::Home;
use medigan::legacy::{LegacyError, LegacySettings};
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
    let zip = ZipBuilder::new()
        .file("__init__.py", init_py.as_bytes())
        .file("model.bin", b"weights")
        .finish();
    let package = home.join("package.zip");
    std::fs::write(&package, zip).unwrap();
    let catalog = json!({
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
    let catalog_path = home.join("global.json");
    std::fs::write(&catalog_path, serde_json::to_vec(&catalog).unwrap()).unwrap();
    let gens = Generators::new(Settings {
        home: Home::new(home.join("home")),
        catalog: CatalogSettings {
            explicit: vec![catalog_path.display().to_string()],
            offline: true,
            ..Default::default()
        },
        offline: true,
        backend: None,
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
    let samples = gens.generate_samples("90201", &request).unwrap();
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
