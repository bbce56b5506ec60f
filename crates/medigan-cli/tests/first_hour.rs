//! Regressions of issue #20, "the first hour of a new user": what a fresh install must get
//! right offline, and the messages that must point the way out.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{medigan, run};

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The PNG files of a folder with their bytes, sorted by name.
fn pngs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn manifest_header(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// The cached `generator.onnx` of the bundled model (installed by a first run).
fn cached_graph(home: &Path) -> PathBuf {
    let packages = home.join("packages-v1");
    std::fs::read_dir(&packages)
        .unwrap()
        .map(|e| e.unwrap().path().join("generator.onnx"))
        .find(|p| p.is_file())
        .expect("the bundled package is installed")
}

/// Flips 64 bytes in the middle of `path`, keeping its size.
fn flip_bytes(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b = !*b;
    }
    std::fs::write(path, bytes).unwrap();
}

fn generate(home: &Path, out: &Path, extra: &[&str]) -> Output {
    run(medigan(home)
        .args(["--offline", "generate", "00900", "-n", "3", "--seed", "5"])
        .args(extra)
        .arg("-o")
        .arg(out))
}

#[test]
fn a_corrupted_cached_package_is_repaired_and_never_used() {
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    assert_success(&generate(home.path(), &first, &[]));
    let graph = cached_graph(home.path());
    let pristine = std::fs::read(&graph).unwrap();
    flip_bytes(&graph);

    let second = home.path().join("second");
    assert_success(&generate(home.path(), &second, &[]));
    assert_eq!(pngs(&second), pngs(&first), "the same images as before");
    assert_eq!(
        manifest_header(&second)["package_sha256"],
        manifest_header(&first)["package_sha256"]
    );
    assert!(
        std::fs::read(&graph).unwrap() == pristine,
        "the cached graph is restored from the bundled archive"
    );

    flip_bytes(&graph);
    let tested = run(medigan(home.path()).args(["--offline", "test", "00900"]));
    assert_success(&tested);
    assert!(std::fs::read(&graph).unwrap() == pristine);
}

#[test]
fn a_corrupted_file_with_its_old_time_is_caught_by_verify() {
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    assert_success(&generate(home.path(), &first, &[]));
    let graph = cached_graph(home.path());
    let pristine = std::fs::read(&graph).unwrap();
    let modified = std::fs::metadata(&graph).unwrap().modified().unwrap();
    flip_bytes(&graph);
    let file = std::fs::File::options().write(true).open(&graph).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);

    let verified = home.path().join("verified");
    assert_success(&generate(home.path(), &verified, &["--verify"]));
    assert_eq!(pngs(&verified), pngs(&first));
    assert!(std::fs::read(&graph).unwrap() == pristine);
}

#[test]
fn fid_checks_its_folders_before_downloading_the_weights() {
    let home = tempfile::tempdir().unwrap();
    let server = medigan_testkit::TestServer::start();
    server.route(
        "GET",
        "/weights.pth",
        medigan_testkit::Route::ok(vec![0u8; 16]),
    );
    let (real, synthetic) = (home.path().join("real"), home.path().join("synthetic"));
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&synthetic).unwrap();
    let output = run(medigan(home.path())
        .env("MEDIGAN_FID_WEIGHTS_URL", server.url("/weights.pth"))
        .arg("fid")
        .arg(&real)
        .arg(&synthetic));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no images in"), "{}", stderr(&output));
    assert!(server.requests().is_empty(), "nothing is downloaded");
}

#[test]
fn a_failed_weights_download_names_the_local_file_way_in_plain_text() {
    let home = tempfile::tempdir().unwrap();
    let images = home.path().join("images");
    assert_success(&generate(home.path(), &images, &[]));
    let server = medigan_testkit::TestServer::start();
    server.route("GET", "/weights.pth", medigan_testkit::Route::status(404));
    let output = run(medigan(home.path())
        .env("MEDIGAN_FID_WEIGHTS_URL", server.url("/weights.pth"))
        .arg("fid")
        .arg(&images)
        .arg(&images));
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("--inception-weights FILE") && text.contains("MEDIGAN_FID_WEIGHTS=FILE"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour codes off a terminal: {text:?}");
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
}
