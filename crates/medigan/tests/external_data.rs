//! Graphs whose weights live in external-data files (what a graph over protobuf's 2 GB limit
//! must do): a package whose graphs keep their tensors in `<graph>.data`, declared with size
//! and sha256 in `execution.onnx.external_data` (and `diffusion.decoder.external_data`),
//! generates exactly what the same graphs stored inline do, on tract and onnxruntime (when
//! found); a missing, corrupt, resized, undeclared or unnamed data file, and a location that
//! leaves the package, are refused before any graph is loaded, and a refused package does not
//! stay in the cache.
//!
//! The external-data packages are made here from the committed fixtures
//! (`tests/fixtures/dcgan`, `tests/fixtures/diffusion/tiny_latent`): every initializer's bytes
//! but the shape operands' are moved into the data file (`location`, `offset`, `length`), as `onnx.save_model(...,
//! save_as_external_data=True, all_tensors_to_one_file=True)` writes them.

#![cfg(all(feature = "tract", feature = "inception"))]

mod common;

use std::path::{Path, PathBuf};

use medigan::Generators;
use medigan::generate::{DiffusionOptions, GenerateRequest};
use medigan::progress::NoProgress;
use medigan::runtime::{BackendKind, find_onnxruntime};
use prost::Message;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tract_onnx::pb::{ModelProto, StringStringEntryProto, tensor_proto::DataLocation};

const DCGAN: &str = "90001_FIXTURE_DCGAN";
const LATENT: &str = "00962_TINY_LATENT_DIFFUSION";

fn backends() -> Vec<BackendKind> {
    let mut backends = vec![BackendKind::Tract];
    if find_onnxruntime().is_ok() {
        backends.push(BackendKind::Ort);
    }
    backends
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `graph` (a copy of `source`) with every initializer's bytes moved into `location`
/// next to it; returns the declaration of the data file.
fn externalize(source: &Path, graph: &Path, location: &str) -> Value {
    let mut model = ModelProto::decode(std::fs::read(source).unwrap().as_slice()).unwrap();
    let mut data = Vec::new();
    let graph_proto = model.graph.as_mut().unwrap();
    // Shape operands (Reshape's shape, Resize's scales) stay inline, as onnx keeps tensors
    // under 1 KiB inline: onnxruntime's shape inference cannot read them from a file.
    let shape_operands: Vec<String> = graph_proto
        .node
        .iter()
        .filter(|n| {
            ["Reshape", "Resize", "Expand", "Tile", "Slice", "Pad"].contains(&n.op_type.as_str())
        })
        .flat_map(|n| n.input.iter().skip(1).cloned())
        .collect();
    for tensor in &mut graph_proto.initializer {
        assert!(!tensor.raw_data.is_empty(), "{}: raw_data", tensor.name);
        if shape_operands.contains(&tensor.name) {
            continue;
        }
        let offset = data.len();
        data.extend_from_slice(&tensor.raw_data);
        let entry = |key: &str, value: String| StringStringEntryProto {
            key: key.into(),
            value,
        };
        tensor.external_data = vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", tensor.raw_data.len().to_string()),
        ];
        tensor.raw_data.clear();
        tensor.data_location = Some(DataLocation::External as i32);
        // Aligned as onnx aligns large tensors, so that a loader may map them.
        data.resize(data.len().next_multiple_of(64), 0);
    }
    assert!(!data.is_empty());
    std::fs::write(graph, model.encode_to_vec()).unwrap();
    let path = graph.parent().unwrap().join(location);
    std::fs::write(&path, &data).unwrap();
    json!([{"file": location, "size": data.len(), "sha256": sha256(&data)}])
}

/// A copy of the fixture folder `case` in `dir`, its graphs with external data.
fn external_package(case: &str, dir: &Path) -> PathBuf {
    let source = common::fixture_dir(case);
    copy_dir(&source, dir);
    let catalog = dir.join("medigan.json");
    let mut metadata: Value = serde_json::from_slice(&std::fs::read(&catalog).unwrap()).unwrap();
    let entry = metadata
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    let onnx = &mut entry["execution"]["onnx"];
    let graph = onnx["graph"].as_str().unwrap().to_string();
    onnx["external_data"] = externalize(
        &source.join(&graph),
        &dir.join(&graph),
        &format!("{graph}.data"),
    );
    if let Some(decoder) = onnx.pointer_mut("/diffusion/decoder") {
        let graph = decoder["graph"].as_str().unwrap().to_string();
        decoder["external_data"] = externalize(
            &source.join(&graph),
            &dir.join(&graph),
            &format!("{graph}.data"),
        );
    }
    std::fs::write(&catalog, serde_json::to_string_pretty(&metadata).unwrap()).unwrap();
    catalog
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

fn edit_catalog(catalog: &Path, edit: impl FnOnce(&mut Value)) {
    let mut metadata: Value = serde_json::from_slice(&std::fs::read(catalog).unwrap()).unwrap();
    let entry = metadata
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    edit(&mut entry["execution"]["onnx"]);
    std::fs::write(catalog, serde_json::to_string_pretty(&metadata).unwrap()).unwrap();
}

fn request(model: &str) -> GenerateRequest {
    let mut request = GenerateRequest {
        num_samples: 3,
        seed: 7,
        batch_size: 2,
        ..GenerateRequest::default()
    };
    if model == LATENT {
        request.diffusion = DiffusionOptions {
            steps: Some(4),
            ..DiffusionOptions::default()
        };
    }
    request
}

fn samples(gens: &Generators, model: &str) -> Vec<ndarray::ArrayD<f32>> {
    gens.generate_samples(model, &request(model))
        .unwrap()
        .samples
        .into_iter()
        .map(|s| s.image)
        .collect()
}

/// The error of loading `model` from `catalog` (a fresh home), as text.
fn load_error(catalog: &Path, model: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), catalog, BackendKind::Tract);
    match gens.load_model(model, &NoProgress) {
        Ok(_) => panic!("{model} loaded from {}", catalog.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn external_data_graphs_generate_what_their_inline_graphs_do() {
    for (case, model) in [("dcgan", DCGAN), ("diffusion/tiny_latent", LATENT)] {
        let dir = tempfile::tempdir().unwrap();
        let catalog = external_package(case, &dir.path().join("pkg"));
        let graph = dir.path().join("pkg").join(if model == DCGAN {
            "model.onnx"
        } else {
            "denoiser.onnx"
        });
        let proto = ModelProto::decode(std::fs::read(&graph).unwrap().as_slice()).unwrap();
        assert!(
            proto
                .graph
                .unwrap()
                .initializer
                .iter()
                .any(|t| t.raw_data.is_empty() && !t.external_data.is_empty()),
            "the graph keeps its weights in the data file"
        );
        for backend in backends() {
            let home = tempfile::tempdir().unwrap();
            let inline_catalog = common::fixture_dir(case).join("medigan.json");
            let inline = samples(
                &common::offline_generators(home.path(), &inline_catalog, backend),
                model,
            );
            let home = tempfile::tempdir().unwrap();
            let external = samples(
                &common::offline_generators(home.path(), &catalog, backend),
                model,
            );
            assert_eq!(inline.len(), 3);
            assert_eq!(inline, external, "{case} on {backend}");
        }
    }
}

#[test]
fn a_missing_corrupt_or_resized_data_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let catalog = external_package("diffusion/tiny_latent", &pkg);
    let data = pkg.join("decoder.onnx.data");
    let good = std::fs::read(&data).unwrap();
    let field = "execution.onnx.diffusion.decoder.external_data";

    std::fs::remove_file(&data).unwrap();
    let error = load_error(&catalog, LATENT);
    assert!(error.contains("`decoder.onnx.data`"), "{error}");
    assert!(error.contains("missing from the package"), "{error}");
    assert!(error.contains(field), "{error}");

    let mut corrupt = good.clone();
    corrupt[0] ^= 0x40;
    std::fs::write(&data, &corrupt).unwrap();
    let error = load_error(&catalog, LATENT);
    assert!(error.contains("corrupt or replaced"), "{error}");
    assert!(error.contains(&sha256(&good)), "{error}");

    std::fs::write(&data, &good[..good.len() - 1]).unwrap();
    let error = load_error(&catalog, LATENT);
    assert!(
        error.contains(&format!(
            "{} bytes, declared {}",
            good.len() - 1,
            good.len()
        )),
        "{error}"
    );

    // Restored, it loads.
    std::fs::write(&data, &good).unwrap();
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &catalog, BackendKind::Tract);
    gens.load_model(LATENT, &NoProgress).unwrap();
}

#[test]
fn the_graph_and_its_declaration_must_name_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let catalog = external_package("dcgan", &pkg);

    // A graph naming a file the entry does not list (the declaration left out).
    edit_catalog(&catalog, |onnx| {
        onnx.as_object_mut().unwrap().remove("external_data");
    });
    let error = load_error(&catalog, DCGAN);
    assert!(
        error.contains("names the external-data file `model.onnx.data`, which execution.onnx.external_data does not list"),
        "{error}"
    );

    // An entry listing a file the graph does not name (an inline graph).
    let catalog = external_package("dcgan", &dir.path().join("pkg2"));
    std::fs::copy(
        common::fixture_dir("dcgan").join("model.onnx"),
        dir.path().join("pkg2/model.onnx"),
    )
    .unwrap();
    let error = load_error(&catalog, DCGAN);
    assert!(
        error.contains("lists `model.onnx.data`, which the graph does not name"),
        "{error}"
    );
}

#[test]
fn a_location_outside_the_package_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let catalog = external_package("dcgan", &pkg);
    // The graph points one folder up, where a file of the right content waits: a loader that
    // followed it would run weights from outside the package.
    let source = pkg.join("model.onnx");
    let outside = dir.path().join("model.onnx.data");
    std::fs::copy(pkg.join("model.onnx.data"), &outside).unwrap();
    for location in ["../model.onnx.data", outside.to_str().unwrap()] {
        let mut model = ModelProto::decode(std::fs::read(&source).unwrap().as_slice()).unwrap();
        for tensor in &mut model.graph.as_mut().unwrap().initializer {
            for entry in &mut tensor.external_data {
                if entry.key == "location" {
                    entry.value = location.into();
                }
            }
        }
        let escaping = pkg.join("escaping.onnx");
        std::fs::write(&escaping, model.encode_to_vec()).unwrap();
        edit_catalog(&catalog, |onnx| {
            onnx["graph"] = json!("escaping.onnx");
            onnx["external_data"][0]["file"] = json!("model.onnx.data");
        });
        let error = load_error(&catalog, DCGAN);
        assert!(
            error.contains(&format!(
                "names the external-data file `{location}`, refused"
            )),
            "{error}"
        );
        // The backends refuse it too, for a graph no package declares (a user's extractor).
        let spec: medigan::catalog::OnnxSpec = serde_json::from_value(json!({
            "graph": "escaping.onnx",
            "inputs": [{"name": "z", "kind": "latent", "shape": [100, 1, 1]}],
            "outputs": [{"name": "image", "kind": "image", "shape": [1, 32, 32], "range": [-1, 1]}]
        }))
        .unwrap();
        let options = medigan::runtime::SessionOptions::default();
        let error = medigan::runtime::TractSession::load(&escaping, &spec, &options)
            .expect_err("tract refuses it")
            .to_string();
        assert!(error.contains("refused"), "{error}");
        if find_onnxruntime().is_ok() {
            let error = medigan::runtime::OrtSession::load(&escaping, &spec, &options)
                .expect_err("onnxruntime refuses it")
                .to_string();
            assert!(error.contains("refused"), "{error}");
        }
    }
    // A declaration naming a file outside the package is a catalogue error.
    let problems = medigan::catalog::validate::validate_entry(
        DCGAN,
        &json!({"execution": {"runtime": "onnx", "onnx": {
            "graph": "model.onnx", "inputs": [], "outputs": [],
            "external_data": [{"file": "../x.data", "size": 1, "sha256": "0".repeat(64)}]}}}),
    );
    assert!(
        problems
            .iter()
            .any(|p| p.path == "execution.onnx.external_data[0].file"
                && p.message.contains("leaves the package")),
        "{problems:?}"
    );
}

/// The package folder `pkg` (catalogue `catalog`) as `pkg.zip` in `dir`, and a catalogue file
/// linking to it.
fn zipped(pkg: &Path, catalog: &Path, dir: &Path) -> PathBuf {
    let zip_path = dir.join("pkg.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for name in ["model.onnx", "model.onnx.data", "medigan.json", "LICENSE"] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(pkg.join(name)).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    let mut metadata: Value = serde_json::from_slice(&std::fs::read(catalog).unwrap()).unwrap();
    metadata[DCGAN]["execution"]["package_link"] = json!(zip_path.display().to_string());
    let zipped_catalog = dir.join("zipped.json");
    std::fs::write(&zipped_catalog, metadata.to_string()).unwrap();
    zipped_catalog
}

#[test]
fn cache_verify_names_a_data_file_changed_after_install_and_the_next_use_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let catalog = external_package("dcgan", &pkg);
    let zipped_catalog = zipped(&pkg, &catalog, dir.path());
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &zipped_catalog, BackendKind::Tract);
    gens.load_model(DCGAN, &NoProgress).unwrap();
    let installed = gens.store().list().unwrap();
    let data = installed[0].dir.join("model.onnx.data");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    let report = gens.store().verify(&installed[0].sha256).unwrap();
    assert_eq!(report.changed, ["model.onnx.data"], "{report:?}");
    // The next use sees the change and installs the package afresh from its archive.
    let gens = common::offline_generators(home.path(), &zipped_catalog, BackendKind::Tract);
    gens.load_model(DCGAN, &NoProgress).unwrap();
    assert_eq!(
        std::fs::read(&data).unwrap(),
        std::fs::read(pkg.join("model.onnx.data")).unwrap()
    );
    assert!(gens.store().verify(&installed[0].sha256).unwrap().is_ok());
}

#[test]
fn a_cached_package_with_a_corrupt_data_file_does_not_stay_installed() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let catalog = external_package("dcgan", &pkg);
    let data = pkg.join("model.onnx.data");
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 70;
    bytes[last] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    // The package as a zip archive: installed into the cache, then checked.
    let zipped_catalog = zipped(&pkg, &catalog, dir.path());
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &zipped_catalog, BackendKind::Tract);
    let error = format!("{:#}", gens.load_model(DCGAN, &NoProgress).err().unwrap());
    assert!(error.contains("corrupt or replaced"), "{error}");
    assert!(
        gens.store().list().unwrap().is_empty(),
        "the refused package stayed in the cache"
    );
}

/// What the export scripts run after `torch.onnx.export` (`convert/external_data.py`), driven
/// with the dcgan fixture's graph as the export: `write_graph(path, export_into)`.
const DRIVER: &str = r#"
import json, shutil, sys, time

class Refusal(Exception):
    pass

request = json.loads(sys.argv[1])
configure_external_data(request)
started = time.perf_counter()
location = write_graph(request["graph"], lambda staged: shutil.copy(request["source"], staged))
print(json.dumps({"location": location, "seconds": time.perf_counter() - started}))
"#;

fn write_graph(python: &str, source: &Path, graph: &Path, threshold: Option<u64>) -> Value {
    let script = format!(
        "{}\n{DRIVER}",
        include_str!("../src/convert/external_data.py")
    );
    let request = json!({"graph": graph, "source": source, "external_data_threshold": threshold});
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(request.to_string())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_converter_writes_a_graph_over_the_threshold_with_declared_external_data() {
    let python = match medigan_testkit::python_importing(&["onnx"]) {
        Ok(python) => python,
        Err(why) => {
            medigan_testkit::skip("the external-data export of the converter", &why);
            return;
        }
    };
    let fixture = common::fixture_dir("dcgan");
    let dir = tempfile::tempdir().unwrap();
    let (inline_pkg, external_pkg) = (dir.path().join("inline"), dir.path().join("external"));
    let mut seconds = Vec::new();
    for (pkg, threshold) in [(&inline_pkg, None), (&external_pkg, Some(100_000))] {
        copy_dir(&fixture, pkg);
        std::fs::remove_file(pkg.join("model.onnx")).unwrap();
        let answer = write_graph(
            &python,
            &fixture.join("model.onnx"),
            &pkg.join("model.onnx"),
            threshold,
        );
        seconds.push(answer["seconds"].as_f64().unwrap());
        let catalog = pkg.join("medigan.json");
        let mut metadata: Value =
            serde_json::from_slice(&std::fs::read(&catalog).unwrap()).unwrap();
        medigan::convert::package::declare_external_data(&mut metadata, pkg).unwrap();
        std::fs::write(&catalog, metadata.to_string()).unwrap();
        let declared = &metadata[DCGAN]["execution"]["onnx"]["external_data"];
        match threshold {
            // The 249 kB graph is under the default threshold: written as it was exported.
            None => {
                assert_eq!(answer["location"], Value::Null);
                assert!(declared.is_null(), "{declared}");
                assert_eq!(
                    std::fs::read(pkg.join("model.onnx")).unwrap(),
                    std::fs::read(fixture.join("model.onnx")).unwrap()
                );
            }
            Some(_) => {
                assert_eq!(answer["location"], "model.onnx.data");
                let data = std::fs::read(pkg.join("model.onnx.data")).unwrap();
                assert_eq!(
                    declared,
                    &json!([{"file": "model.onnx.data", "size": data.len(), "sha256": sha256(&data)}])
                );
                assert!(std::fs::metadata(pkg.join("model.onnx")).unwrap().len() < 10_000);
                // Nothing else is left next to the graph (no staging folder, no stray tensors).
                let mut names: Vec<String> = std::fs::read_dir(pkg)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                assert!(
                    names.iter().all(|n| !n.starts_with(".export-")),
                    "{names:?}"
                );
            }
        }
    }
    for backend in backends() {
        let mut runs = Vec::new();
        for pkg in [&inline_pkg, &external_pkg] {
            let home = tempfile::tempdir().unwrap();
            let gens = common::offline_generators(home.path(), &pkg.join("medigan.json"), backend);
            // Load (package checks, session) and generate 3 samples.
            let started = std::time::Instant::now();
            let images = samples(&gens, DCGAN);
            runs.push((images, started.elapsed()));
        }
        assert_eq!(runs[0].0, runs[1].0, "{backend}");
        eprintln!(
            "{backend}: write_graph inline {:.3} s / external {:.3} s; load + 3 samples inline {:?} / external {:?}",
            seconds[0], seconds[1], runs[0].1, runs[1].1
        );
    }
}

#[test]
fn a_bundle_carries_the_data_files_and_the_site_generates_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = external_package("dcgan", &dir.path().join("pkg"));
    let home = tempfile::tempdir().unwrap();
    let gens = common::offline_generators(home.path(), &catalog, BackendKind::Tract);
    let want = samples(&gens, DCGAN);
    let bundle = dir.path().join("site.tar");
    let report = medigan::bundle::export(
        &gens,
        &[DCGAN.to_string()],
        &bundle,
        &medigan::bundle::ExportOptions::default(),
    )
    .unwrap();
    // The graph, its data file, medigan.json, LICENSE, README.md and the fixture's .npy files.
    let packaged = std::fs::read_dir(dir.path().join("pkg")).unwrap().count();
    assert_eq!(report.files, packaged + 1, "{report:?}");

    let site = tempfile::tempdir().unwrap();
    medigan::bundle::import(
        &medigan::home::Home::new(site.path()),
        &bundle,
        &medigan::bundle::BundleLimits::default(),
    )
    .unwrap();
    let at_site = Generators::new(medigan::Settings {
        home: medigan::home::Home::new(site.path()),
        catalog: medigan::catalog::CatalogSettings {
            offline: true,
            ..Default::default()
        },
        backend: Some(BackendKind::Tract),
        verify: false,
    });
    assert_eq!(samples(&at_site, DCGAN), want);
    let installed = at_site.store().list().unwrap();
    assert_eq!(installed.len(), 1);
    assert!(
        installed[0].dir.join("model.onnx.data").is_file(),
        "{:?}",
        installed[0]
    );
}

#[test]
fn contribute_refuses_a_package_whose_data_file_is_not_as_declared() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    external_package("dcgan", &pkg);
    let problems = || {
        medigan::contribute::Package::open(&pkg)
            .unwrap()
            .file_problems()
    };
    assert!(problems().is_empty(), "{:?}", problems());
    std::fs::remove_file(pkg.join("model.onnx.data")).unwrap();
    let found = problems();
    assert!(
        found.len() == 1
            && found[0].contains("`model.onnx.data` (execution.onnx.external_data): missing"),
        "{found:?}"
    );
}
