//! Packages in the original medigan format (the existing zoo) run through `medigan generate`:
//! each in its own environment, only with consent, pinned to the hash of their first download,
//! with the model's own error text when it fails. The packages are built here and served from
//! 127.0.0.1; their dependencies are local wheels, so nothing comes from the internet.

use std::path::{Path, PathBuf};
use std::process::Output;

use medigan_testkit::{Route, TestServer, ZipBuilder};
use serde_json::{Value, json};

mod common;
use common::{medigan, run};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

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

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "command failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    );
}

/// The generate function of the numpy fixture: one 8x8 uint8 image per sample, filled with the
/// number in the weights file plus `offset` plus the sample's place in the call. It returns the
/// images, or (save_images=True) writes them as .npy into output_path, as the originals do.
const NUMPY_MODEL: &str = r#"
import os
import numpy as np

def generate(model_file, num_samples, output_path, save_images, offset=0):
    base = int(open(model_file).read())
    images = [np.full((8, 8), base + offset + i, dtype=np.uint8) for i in range(num_samples)]
    if not save_images:
        return images
    os.makedirs(output_path, exist_ok=True)
    for i, image in enumerate(images):
        np.save(os.path.join(output_path, "sample_%03d.npy" % i), image)
"#;

/// A catalogue entry in the original format (the upstream 00005 entry with its execution part
/// replaced).
fn entry(link: &str, dependencies: &[&str], function: &str, custom: Value) -> Value {
    json!({
        "execution": {
            "package_name": "fixture",
            "package_link": link,
            "model_name": "weights",
            "extension": ".txt",
            "image_size": [8, 8],
            "dependencies": dependencies,
            "generate_method": {
                "name": function,
                "args": {
                    "base": ["model_file", "num_samples", "output_path", "save_images"],
                    "custom": custom,
                },
            },
        },
        "selection": {
            "performance": {"FID": null},
            "use_cases": [], "organ": ["breast"], "modality": ["MMG"], "vendors": [],
            "centres": [], "function": ["noise to image"], "condition": [], "dataset": [],
            "augmentations": [], "generates": ["test pattern"], "height": 8, "width": 8,
            "depth": null, "type": "fixture", "license": "MIT", "dataset_type": "public",
            "privacy_preservation": null, "tags": [], "year": "2024",
        },
        "description": {
            "title": "legacy fixture", "provided_date": null, "trained_date": null,
            "provided_after_epoch": null, "version": "0.0.1", "publication": null, "doi": [],
            "inputs": [], "comment": "test fixture",
        },
    })
}

/// A package zip in the original layout: `__init__.py` and the weights file at the top level.
fn package(init_py: &str, weights: &str) -> Vec<u8> {
    ZipBuilder::new()
        .file("__init__.py", init_py.as_bytes())
        .file("weights.txt", weights.as_bytes())
        .finish()
}

/// A legacy package served from 127.0.0.1 and a catalogue (in the test's home) naming it.
struct Served {
    server: TestServer,
    /// The package's path on the server.
    route: String,
    /// The package's URL, as the catalogue entry gives it.
    link: String,
    catalog: PathBuf,
}

/// Serves `zip` at `/ID.zip` and writes a catalogue whose one entry `id` is `entry_of(link)`.
fn serve(home: &Path, id: &str, zip: Vec<u8>, entry_of: impl FnOnce(&str) -> Value) -> Served {
    let server = TestServer::start();
    let route = format!("/{id}.zip");
    server.route("GET", &route, Route::ok(zip));
    let link = server.url(&route);
    let catalog = write_catalog(home, &[(id, entry_of(&link))]);
    Served {
        server,
        route,
        link,
        catalog,
    }
}

/// The numpy fixture (weights "40", depending on numpy, no custom arguments) served as `id`.
fn serve_numpy_model(home: &Path, id: &str) -> Served {
    serve(home, id, package(NUMPY_MODEL, "40"), |link| {
        entry(link, &["numpy"], "generate", json!({}))
    })
}

fn write_catalog(dir: &Path, entries: &[(&str, Value)]) -> PathBuf {
    let mut catalog = serde_json::Map::new();
    for (id, entry) in entries {
        catalog.insert((*id).to_string(), entry.clone());
    }
    let path = dir.join("global.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    path
}

fn generate(home: &Path, catalog: &Path, model: &str, out: &Path, extra: &[&str]) -> Output {
    run(medigan(home)
        .arg("--catalog")
        .arg(catalog)
        .args(["generate", model, "--format", "npy", "-o"])
        .arg(out)
        .args(extra))
}

/// The values of a float32 `.npy` file written by medigan (header, then little-endian data).
fn npy_values(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The manifest's file lines (after the header line).
fn manifest_files(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The first value of each image of a run, in index order.
fn image_values(dir: &Path) -> Vec<f32> {
    manifest_files(dir)
        .iter()
        .map(|f| {
            let values = npy_values(&dir.join(f["file"].as_str().unwrap()));
            assert_eq!(values.len(), 64, "one 8x8 image per file");
            values[0]
        })
        .collect()
}

#[test]
fn consent_is_asked_before_the_package_is_downloaded() {
    let home = tempfile::tempdir().unwrap();
    let served = serve_numpy_model(home.path(), "90101_LEGACY_NUMPY");
    let out = home.path().join("out");
    let refused = generate(home.path(), &served.catalog, "90101", &out, &["-n", "1"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--install-dependencies"),
        "{}",
        stderr(&refused)
    );
    assert!(
        served.server.requests().is_empty(),
        "nothing downloaded before consent"
    );
}

#[test]
fn a_numpy_package_runs_end_to_end_returning_arrays_or_writing_files() {
    if !python_has_numpy() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let served = serve(
        home.path(),
        "90101_LEGACY_NUMPY",
        package(NUMPY_MODEL, "40"),
        |link| entry(link, &["numpy"], "generate", json!({"offset": 1})),
    );
    let catalog = served.catalog;

    // Without consent nothing is installed or run, and the error says what would be.
    let refused_dir = home.path().join("refused");
    let refused = generate(home.path(), &catalog, "90101", &refused_dir, &["-n", "2"]);
    assert!(!refused.status.success());
    let text = stderr(&refused);
    assert!(
        text.contains("numpy") && text.contains("--install-dependencies"),
        "{text}"
    );
    assert!(!refused_dir.join("manifest.jsonl").exists());
    assert!(!home.path().join("envs-v1/90101_LEGACY_NUMPY").exists());

    // Arrays returned (save_images=False), catalogue default offset=1 overridden by --set.
    let arrays = home.path().join("arrays");
    let args = [
        "-n",
        "5",
        "--batch",
        "2",
        "--set",
        "offset=7",
        "--install-dependencies",
    ];
    assert_ok(&generate(home.path(), &catalog, "90101", &arrays, &args));
    // Batches of 2, 2, 1, but the package is called on the block of samples 0..8 (once: the
    // block is kept between batches), so sample i is at place i of its call.
    assert_eq!(image_values(&arrays), vec![47.0, 48.0, 49.0, 50.0, 51.0]);

    // Files written by the package (save_images=True) are read back: the same samples. The
    // environment made with consent is reused without asking again.
    let files = home.path().join("files");
    let args = [
        "-n",
        "5",
        "--batch",
        "2",
        "--set",
        "offset=7",
        "--set",
        "save_images=true",
    ];
    assert_ok(&generate(home.path(), &catalog, "90101", &files, &args));
    assert_eq!(image_values(&files), vec![47.0, 48.0, 49.0, 50.0, 51.0]);

    // The catalogue default applies when no --set is given; the env lives in the home.
    let defaults = home.path().join("defaults");
    assert_ok(&generate(
        home.path(),
        &catalog,
        "90101",
        &defaults,
        &["-n", "1"],
    ));
    assert_eq!(image_values(&defaults), vec![41.0]);
    assert!(
        home.path()
            .join("envs-v1/90101_LEGACY_NUMPY/.medigan-env.json")
            .is_file()
    );
    let paths = run(medigan(home.path()).args(["cache", "path", "--json"]));
    assert_ok(&paths);
    let paths: Value = serde_json::from_slice(&paths.stdout).unwrap();
    assert!(paths["envs"].as_str().unwrap().ends_with("envs-v1"));
}

/// A package that ignores save_images: it writes .npy files and returns nothing.
#[test]
fn a_package_that_only_writes_files_is_read_back() {
    if !python_has_numpy() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let model = r#"
import os
import numpy as np

def generate(model_file, num_samples, output_path, save_images):
    for i in range(num_samples):
        np.save(os.path.join(output_path, "img_%d.npy" % i), np.full((8, 8), 200, np.uint8))
"#;
    let served = serve(
        home.path(),
        "90102_LEGACY_FILES",
        package(model, "0"),
        |link| entry(link, &[], "generate", json!({})),
    );
    let out = home.path().join("out");
    let args = ["-n", "3", "--install-dependencies"];
    assert_ok(&generate(
        home.path(),
        &served.catalog,
        "90102",
        &out,
        &args,
    ));
    assert_eq!(image_values(&out), vec![200.0; 3]);
}

/// A wheel of the pure-Python package `medigan_fixture_dep` at `version`.
fn fixture_wheel(dir: &Path, version: &str) -> PathBuf {
    let info = format!("medigan_fixture_dep-{version}.dist-info");
    let bytes = ZipBuilder::new()
        .file(
            "medigan_fixture_dep/__init__.py",
            format!("VERSION = '{version}'\n").as_bytes(),
        )
        .file(
            &format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: medigan_fixture_dep\nVersion: {version}\n")
                .as_bytes(),
        )
        .file(
            &format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: medigan-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        .file(
            &format!("{info}/RECORD"),
            format!(
                "medigan_fixture_dep/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n"
            )
            .as_bytes(),
        )
        .finish();
    let path = dir.join(format!("medigan_fixture_dep-{version}-py3-none-any.whl"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn two_packages_pinning_conflicting_versions_each_see_their_own() {
    if !python_has_numpy() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let model = r#"
import numpy as np
import medigan_fixture_dep

def generate(model_file, num_samples, output_path, save_images):
    major = int(medigan_fixture_dep.VERSION.split(".")[0])
    return [np.full((8, 8), major, np.uint8) for _ in range(num_samples)]
"#;
    server.route("GET", "/dep.zip", Route::ok(package(model, "0")));
    let wheel1 = fixture_wheel(home.path(), "1.0");
    let wheel2 = fixture_wheel(home.path(), "2.0");
    let link = server.url("/dep.zip");
    let catalog = write_catalog(
        home.path(),
        &[
            (
                "90103_LEGACY_DEP_ONE",
                entry(&link, &[wheel1.to_str().unwrap()], "generate", json!({})),
            ),
            (
                "90104_LEGACY_DEP_TWO",
                entry(&link, &[wheel2.to_str().unwrap()], "generate", json!({})),
            ),
        ],
    );
    for (model, expected) in [("90103", 1.0), ("90104", 2.0), ("90103", 1.0)] {
        let out = home.path().join(format!("out-{model}-{expected}"));
        // The third run goes into the first one's folder again: it replaces that run.
        let args = ["-n", "2", "--install-dependencies", "--overwrite"];
        assert_ok(&generate(home.path(), &catalog, model, &out, &args));
        assert_eq!(image_values(&out), vec![expected; 2], "model {model}");
    }
}

#[test]
fn a_package_changed_after_its_first_download_is_refused() {
    if !python_has_numpy() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let Served {
        server,
        route,
        link,
        catalog,
    } = serve_numpy_model(home.path(), "90105_LEGACY_CHANGED");
    let args = ["-n", "1", "--install-dependencies"];
    assert_ok(&generate(
        home.path(),
        &catalog,
        "90105",
        &home.path().join("a"),
        &args,
    ));
    let lock: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("legacy-lock.json")).unwrap())
            .unwrap();
    let recorded = lock[&link]
        .as_str()
        .expect("the first download is recorded")
        .to_string();

    // The server now serves other bytes; the cached copy is gone, so it is downloaded again.
    server.route("GET", &route, Route::ok(package(NUMPY_MODEL, "99")));
    std::fs::remove_dir_all(home.path().join("packages-v1")).unwrap();
    let out = home.path().join("b");
    let refused = generate(home.path(), &catalog, "90105", &out, &args);
    assert!(!refused.status.success());
    let text = stderr(&refused);
    assert!(text.contains("changed since its first download"), "{text}");
    assert!(text.contains(&recorded), "{text}");
    assert!(!out.join("manifest.jsonl").exists());
}

#[test]
fn a_package_that_raises_shows_its_message_and_names_the_model() {
    let home = tempfile::tempdir().unwrap();
    let model = r#"
def helper(n):
    raise ValueError("the fixture cannot make %d samples" % n)

def generate(model_file, num_samples, output_path, save_images):
    helper(num_samples)
"#;
    let served = serve(
        home.path(),
        "90106_LEGACY_RAISES",
        package(model, "0"),
        |link| entry(link, &[], "generate", json!({})),
    );
    let out = home.path().join("out");
    let failed = generate(
        home.path(),
        &served.catalog,
        "90106",
        &out,
        &["-n", "3", "--install-dependencies"],
    );
    assert!(!failed.status.success());
    let text = stderr(&failed);
    assert!(text.contains("90106_LEGACY_RAISES"), "{text}");
    assert!(
        // -n 3 asks for one whole block of 8 samples (the bridge's fixed block).
        text.contains("ValueError: the fixture cannot make 8 samples"),
        "{text}"
    );
    assert!(
        text.contains("in helper"),
        "the traceback's last lines: {text}"
    );
    assert!(!out.join("manifest.jsonl").exists(), "nothing half-written");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(
        leftovers.iter().all(|&n| n == 0),
        "no sample files: {leftovers:?}"
    );
}

#[test]
fn a_package_without_its_generate_function_is_named_as_such() {
    if !python_has_numpy() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let served = serve(
        home.path(),
        "90107_LEGACY_NO_FUNCTION",
        package(NUMPY_MODEL, "0"),
        |link| entry(link, &[], "generate_samples", json!({})),
    );
    let out = home.path().join("out");
    let failed = generate(
        home.path(),
        &served.catalog,
        "90107",
        &out,
        &["-n", "1", "--install-dependencies"],
    );
    assert!(!failed.status.success());
    let text = stderr(&failed);
    assert!(
        text.contains("no generate function `generate_samples`")
            && text.contains("90107_LEGACY_NO_FUNCTION"),
        "{text}"
    );
}

#[test]
fn medigan_test_runs_a_legacy_package_only_with_consent() {
    if !python_has_numpy() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let served = serve_numpy_model(home.path(), "90101_LEGACY_NUMPY");
    let test = |extra: &[&str]| {
        let output = run(medigan(home.path())
            .arg("--catalog")
            .arg(&served.catalog)
            .args(["test", "90101", "--json"])
            .args(extra));
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&output)));
        (output.status.code(), report[0].clone())
    };
    let (code, skipped) = test(&[]);
    assert_eq!(code, Some(0), "{skipped}");
    assert_eq!(skipped["verdict"], "skip");
    assert!(
        skipped["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("--install-dependencies")
    );
    assert!(
        served.server.requests_to(&served.route).is_empty(),
        "nothing fetched without consent"
    );

    let (code, passed) = test(&["--install-dependencies"]);
    assert_eq!(code, Some(0), "{passed}");
    assert_eq!(passed["verdict"], "pass", "{passed}");
    let names: Vec<&str> = passed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["generate", "shape", "range", "determinism", "variation"]
    );
}

/// The table's cell "info" for legacy models, and a package that declares a latent but whose
/// function takes no `input_latent_vector`: `info` shows the latent, and the run says once
/// that the package draws its own.
#[test]
fn cell_info_legacy_with_latent_and_a_package_ignoring_the_latent_is_said_once() {
    let home = tempfile::tempdir().unwrap();
    let served = serve(
        home.path(),
        "90102_LEGACY_LATENT",
        package(NUMPY_MODEL, "40"),
        |link| {
            let mut with_latent = entry(link, &[], "generate", json!({}));
            with_latent["execution"]["generate_method"]["input_latent_vector_size"] = json!(16);
            with_latent
        },
    );
    let catalog = served.catalog;
    let info = run(medigan(home.path())
        .arg("--catalog")
        .arg(&catalog)
        .args(["info", "90102"]));
    assert_ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("latent") && text.contains("16 values (input_latent_vector"),
        "{text}"
    );
    if !python_has_numpy() {
        return;
    }
    let out = home.path().join("out");
    let output = generate(
        home.path(),
        &catalog,
        "90102",
        &out,
        &["-n", "3", "--batch", "3", "--install-dependencies"],
    );
    assert_ok(&output);
    let said = stderr(&output)
        .matches("takes no `input_latent_vector`")
        .count();
    assert_eq!(said, 1, "{}", stderr(&output));
}
