//! Shared by the visualiser's tests: a server over a fixture model or the bundled one.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use medigan::catalog::CatalogSettings;
use medigan::home::Home;
use medigan::runtime::BackendKind;
use medigan::{Generators, Settings};
use medigan_viz::{RunningViz, View, VizOptions};
use tempfile::TempDir;

/// A running visualiser with its temporary home and save folder.
pub struct Served {
    pub server: RunningViz,
    pub save_dir: PathBuf,
    _home: TempDir,
}

impl Served {
    /// The absolute URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path.trim_start_matches('/'))
    }
}

fn fixture_catalog(case: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(case)
        .join("medigan.json");
    assert!(
        path.is_file(),
        "missing fixture {}: write it with `python3 scripts/make_fixtures.py`",
        path.display()
    );
    path
}

/// Serves `model` from the fixture `case` (or the bundled catalogue when `case` is `None`).
pub fn serve(case: Option<&str>, model: &str, slider_grouper: usize) -> Served {
    serve_saving_to(case, model, slider_grouper, "saved")
}

/// [`serve`], saving into the folder `save_name` of the temporary home.
pub fn serve_saving_to(
    case: Option<&str>,
    model: &str,
    slider_grouper: usize,
    save_name: &str,
) -> Served {
    let home = TempDir::new().unwrap();
    let explicit = case
        .map(|c| vec![fixture_catalog(c).display().to_string()])
        .unwrap_or_default();
    serve_in(home, explicit, model, slider_grouper, false, save_name)
}

/// Whether `python3`, from which the legacy environment is made, has numpy (the legacy
/// fixture imports it); reports the test as skipped, naming it, when not.
pub fn python_has_numpy() -> bool {
    match medigan_testkit::python_importing(&["numpy"]) {
        Ok(_) => true,
        Err(why) => {
            medigan_testkit::skip("the legacy package run", &why);
            false
        }
    }
}

/// The numpy package of a legacy model with a 16-value latent: `input_latent_vector`
/// (`[n, 16, 1, 1]`) becomes a 4x4 uint8 image `clip(z * 10 + 128)`; without one it draws
/// its own.
pub const LEGACY_LATENT_MODEL: &str = r#"
import numpy as np

def generate(model_file, num_samples, output_path, save_images, input_latent_vector=None):
    z = input_latent_vector
    if z is None:
        z = np.random.randn(num_samples, 16, 1, 1).astype(np.float32)
    return [np.clip(z[i, :, 0, 0] * 10 + 128, 0, 255).astype(np.uint8).reshape(4, 4)
            for i in range(num_samples)]
"#;

/// Serves a legacy (original Python format) model `90301_LEGACY_VIZ` whose `__init__.py` is
/// `init_py`; `latent_size` becomes its `input_latent_vector_size`. Consent is given.
pub fn serve_legacy(init_py: &str, latent_size: Option<usize>, slider_grouper: usize) -> Served {
    let home = TempDir::new().unwrap();
    let zip = medigan_testkit::ZipBuilder::new()
        .file("__init__.py", init_py.as_bytes())
        .file("model.bin", b"weights")
        .finish();
    let package = home.path().join("package.zip");
    std::fs::write(&package, zip).unwrap();
    let catalog = serde_json::json!({
        "90301_LEGACY_VIZ": {
            "execution": {
                "package_name": "90301_LEGACY_VIZ",
                "package_link": package.display().to_string(),
                "model_name": "model",
                "extension": ".bin",
                "image_size": [4, 4],
                "dependencies": [],
                "generate_method": {
                    "name": "generate",
                    "args": {"base": ["model_file", "num_samples", "output_path", "save_images"],
                             "custom": {}},
                    "input_latent_vector_size": latent_size,
                },
            },
            "selection": {"performance": {"FID": null}, "license": "MIT"},
            "description": {"title": "legacy visualiser fixture"},
        }
    });
    let path = home.path().join("global.json");
    std::fs::write(&path, serde_json::to_vec(&catalog).unwrap()).unwrap();
    let explicit = vec![path.display().to_string()];
    serve_in(home, explicit, "90301", slider_grouper, true, "saved")
}

fn serve_in(
    home: TempDir,
    explicit: Vec<String>,
    model: &str,
    slider_grouper: usize,
    consent: bool,
    save_name: &str,
) -> Served {
    let generators = Generators::new(Settings {
        home: Home::new(home.path().join("home")),
        catalog: CatalogSettings {
            explicit,
            offline: true,
            ..Default::default()
        },
        backend: Some(BackendKind::Tract),
        verify: false,
    });
    if consent {
        let mut legacy = generators.legacy_settings();
        legacy.install_dependencies = true;
        generators.set_legacy_settings(legacy);
    }
    let view = View::open(&generators, model, slider_grouper).unwrap();
    let save_dir = home.path().join(save_name);
    let server = medigan_viz::start(
        view,
        VizOptions {
            port: 0,
            save_dir: save_dir.clone(),
        },
    )
    .unwrap();
    Served {
        server,
        save_dir,
        _home: home,
    }
}
