//! Every file the tool writes gets the mode a plain `File::create` gives: 0666 less the umask
//! (not tempfile's 0600). Samples of every format with their manifest, the package cache and
//! its records, a cached catalogue, the feature cache, a dataset manifest and the legacy hash
//! lock are written into temporary folders, then every file in them is checked.

#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use medigan::catalog::CatalogSettings;
use medigan::evaluate::extractor::InputNormalization;
use medigan::evaluate::{EvaluateOptions, ImageSet, OnnxExtractorConfig, OnnxExtractorSpec, embed};
use medigan::generate::GenerateRequest;
use medigan::home::Home;
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::runtime::BackendKind;
use medigan::{Generators, Settings};
use medigan_testkit::{Route, TestServer};

const DCGAN: &str = "90001_FIXTURE_DCGAN";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The process's umask, from `/proc/self/status`.
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

/// Every regular file below `dir` with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                found.push((entry.path(), mode));
            }
        }
    }
    found
}

#[test]
fn every_file_the_tool_writes_has_mode_0666_less_the_umask() {
    let expected = 0o666 & !umask();
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let gens = Generators::new(Settings {
        home: Home::new(home.path()),
        catalog: CatalogSettings {
            explicit: vec![fixtures().join("dcgan/medigan.json").display().to_string()],
            offline: true,
            ..Default::default()
        },
        backend: Some(BackendKind::Tract),
        verify: false,
    });
    // Samples of every format, with their manifests; the package cache and its records.
    let request = GenerateRequest {
        num_samples: 2,
        seed: 1,
        ..GenerateRequest::default()
    };
    for format in Format::ALL {
        let dir = out.path().join(format.name());
        gens.generate(DCGAN, &request, &dir, format, &NoProgress)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
    }
    // A dataset manifest over the PNG run.
    medigan::dataset::merge(&out.path().join("png")).unwrap();
    // A cached catalogue (`catalog update`).
    let server = TestServer::start();
    let snapshot = std::fs::read(fixtures().join("../../models/upstream-snapshot.json")).unwrap();
    server.route("GET", "/catalog.json", Route::ok(snapshot));
    let settings = CatalogSettings::default();
    let home_ref = Home::new(home.path());
    medigan::catalog::source::update(&settings, &home_ref, Some(&server.url("/catalog.json")))
        .unwrap();
    // The feature cache.
    let set = ImageSet::from_folder(&out.path().join("png")).unwrap();
    let extractor = OnnxExtractorSpec::resolve(OnnxExtractorConfig {
        graph: fixtures().join("fid/extractor.onnx"),
        input_size: None,
        normalization: InputNormalization::FID,
        output: None,
        backend: Some(BackendKind::Tract),
    })
    .unwrap();
    let cache = home.path().join("features");
    let options = EvaluateOptions {
        cache_dir: Some(cache.clone()),
        ..EvaluateOptions::default()
    };
    embed(&set, &extractor, &options, &NoProgress).unwrap();
    // The legacy packages' hash lock.
    medigan::legacy::TrustLock::in_home(home.path())
        .record("https://example.org/model.zip", &"0".repeat(64))
        .unwrap();

    let written: Vec<_> = [out.path(), home.path()]
        .iter()
        .flat_map(|dir| modes(dir))
        .collect();
    let names = |ext: &str| {
        written
            .iter()
            .filter(|(p, _)| p.to_string_lossy().ends_with(ext))
            .count()
    };
    for ext in [
        ".png",
        ".npy",
        ".dcm",
        ".nii",
        ".nii.gz",
        ".jsonl",
        "dataset-manifest.json",
    ] {
        assert!(names(ext) > 0, "no {ext} file was written: {written:?}");
    }
    assert!(
        std::fs::read_dir(&cache).unwrap().count() >= 2,
        "feature cache"
    );
    let wrong: Vec<_> = written
        .iter()
        .filter(|(_, mode)| *mode != expected)
        .collect();
    assert!(
        wrong.is_empty(),
        "files not of mode {expected:o} (0666 less umask {:o}): {wrong:#?}",
        umask()
    );
}
