//! Helpers shared by the integration tests: where the fixtures are, and a facade over one of
//! them.
#![allow(dead_code)]

use std::ops::Range;
use std::path::{Path, PathBuf};

use medigan::catalog::CatalogSettings;
use medigan::generate::SampleRequest;
use medigan::home::Home;
use medigan::runtime::BackendKind;
use medigan::sample::sample_seed;
use medigan::{Generators, Settings};
use tempfile::TempDir;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A reference file, from the repository's own copies: `medigan-global.json` is the upstream
/// catalogue snapshot `models/upstream-snapshot.json`; any other name is `tests/reference/NAME`.
pub fn shared_reference(name: &str) -> PathBuf {
    let path = match name {
        "medigan-global.json" => repo_root().join("models/upstream-snapshot.json"),
        other => repo_root().join("tests/reference").join(other),
    };
    assert!(path.is_file(), "missing reference file {}", path.display());
    path
}

/// `tests/fixtures/<sub>` of the repository (`""` for the folder itself).
pub fn fixtures(sub: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(sub)
}

/// The fixture package `tests/fixtures/<case>/` (with its `medigan.json`).
pub fn fixture_dir(case: &str) -> PathBuf {
    let dir = fixtures(case);
    assert!(
        dir.join("medigan.json").is_file(),
        "missing fixture {}: write it with `python3 scripts/make_fixtures.py`",
        dir.display()
    );
    dir
}

/// `reference.json` of the fixture folder `tests/fixtures/<sub>/`.
pub fn reference_json(sub: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures(sub).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An offline facade in `home` reading only the catalogue file `catalog`, on `backend`.
pub fn offline_generators(home: &Path, catalog: &Path, backend: BackendKind) -> Generators {
    Generators::new(Settings {
        home: Home::new(home),
        catalog: CatalogSettings {
            explicit: vec![catalog.display().to_string()],
            offline: true,
            ..Default::default()
        },
        backend: Some(backend),
        verify: false,
    })
}

/// The requests of batch `b` (of `batch_size`) of a run over `indices` with seed `seed`:
/// unconditional, no input, latents drawn from each sample's seed.
pub fn batch_requests(
    indices: Range<u64>,
    batch_size: usize,
    b: usize,
    seed: u64,
) -> Vec<SampleRequest> {
    let start = indices.start + (b * batch_size) as u64;
    (start..(start + batch_size as u64).min(indices.end))
        .map(|index| SampleRequest {
            index,
            seed: sample_seed(seed, index),
            class: None,
            input: None,
            latent: None,
        })
        .collect()
}

/// The fixture packages of `tests/fixtures/` (written by `scripts/make_fixtures.py`) and their
/// model ids.
pub const FIXTURE_IDS: &[(&str, &str)] = &[
    ("dcgan", "90001_FIXTURE_DCGAN"),
    ("conditional", "90002_FIXTURE_CONDITIONAL"),
    ("image_mask", "90003_FIXTURE_IMAGE_MASK"),
    ("image_to_image", "90004_FIXTURE_IMAGE_TO_IMAGE"),
    ("volume3d", "90005_FIXTURE_VOLUME3D"),
    ("rgb", "90006_FIXTURE_RGB"),
];

/// The model id of the fixture package `case`.
pub fn fixture_id(case: &str) -> &'static str {
    FIXTURE_IDS
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, id)| *id)
        .unwrap_or_else(|| panic!("no fixture `{case}`"))
}

/// A facade over one fixture package, with its own temporary home.
pub struct Fixture {
    /// The model id.
    pub id: &'static str,
    /// The facade, reading only the fixture's catalogue.
    pub gens: Generators,
    _home: TempDir,
}

impl Fixture {
    /// Model `id` of the catalogue file `catalog`, on `backend`.
    pub fn at(id: &'static str, catalog: &Path, backend: BackendKind) -> Fixture {
        let home = TempDir::new().expect("temporary home");
        let gens = offline_generators(home.path(), catalog, backend);
        Fixture {
            id,
            gens,
            _home: home,
        }
    }

    /// The fixture package `case` (`dcgan`, `image_mask`, ...) on `backend`.
    pub fn of(case: &str, backend: BackendKind) -> Fixture {
        Fixture::at(
            fixture_id(case),
            &fixture_dir(case).join("medigan.json"),
            backend,
        )
    }
}

/// The largest absolute difference between two arrays of the same shape.
pub fn max_abs_diff<D: ndarray::Dimension>(
    a: &ndarray::Array<f32, D>,
    b: &ndarray::Array<f32, D>,
) -> f32 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
