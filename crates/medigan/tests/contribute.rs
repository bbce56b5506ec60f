//! The contribution pieces that need no network: the reproducible zip and the package checks.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use medigan::contribute::{
    ContributeRequest, METADATA_FILE, Package, PackageKind, Token, contribute, pack_dir,
};
use medigan::home::Home;
use medigan::progress::NoProgress;
use medigan::{Generators, Settings};
use sha2::{Digest, Sha256};

fn fixture() -> PathBuf {
    common::fixture_dir("dcgan")
}

#[test]
fn packing_twice_gives_the_same_bytes_and_the_right_hash() {
    let replaced = br#"{"replaced": true}"#;
    let first = pack_dir(&fixture(), &[(METADATA_FILE, replaced)], None).unwrap();
    let second = pack_dir(&fixture(), &[(METADATA_FILE, replaced)], None).unwrap();
    assert!(first.bytes == second.bytes, "same input, different bytes");
    assert_eq!(first.sha256, hex::encode(Sha256::digest(&first.bytes)));
    let mut sorted = first.files.clone();
    sorted.sort();
    assert_eq!(first.files, sorted, "entries are sorted");

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(first.bytes)).unwrap();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        assert_eq!(entry.unix_mode(), Some(0o100644), "{}", entry.name());
        let time = entry.last_modified().unwrap();
        assert_eq!(
            (time.year(), time.month(), time.day()),
            (1980, 1, 1),
            "{}",
            entry.name()
        );
        if entry.name() == METADATA_FILE {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).unwrap();
            assert_eq!(text, replaced, "the completed medigan.json is packed");
        }
    }
}

/// A legacy package `00100_OLD_GAN` in `dir`: complete but for a `generate` function in
/// `__init__.py` and its weights file.
fn incomplete_legacy_package(dir: &Path) {
    let entry = serde_json::json!({"00100_OLD_GAN": {
        "execution": {"package_name": "x", "package_link": ".", "model_name": "weights",
            "extension": ".pt", "image_size": [64, 64], "dependencies": ["torch"],
            "generate_method": {"name": "generate", "args": {"base": ["model_file"], "custom": {}}}},
        "selection": {"performance": {}, "organ": ["lung"], "modality": ["CT"], "license": "MIT"},
        "description": {"title": "Old GAN", "comment": "A GAN.", "authors": [{"name": "Doe, J"}]}
    }});
    std::fs::write(dir.join("medigan.json"), entry.to_string()).unwrap();
    std::fs::write(dir.join("README.md"), "card").unwrap();
    std::fs::write(dir.join("LICENSE"), "MIT").unwrap();
    std::fs::write(dir.join("__init__.py"), "def sample(n):\n    pass\n").unwrap();
}

/// The same package, complete.
fn legacy_package(dir: &Path) {
    incomplete_legacy_package(dir);
    std::fs::write(
        dir.join("__init__.py"),
        "import torch\n\ndef generate(model_file, num_samples):\n    pass\n",
    )
    .unwrap();
    std::fs::write(dir.join("weights.pt"), b"\0").unwrap();
}

#[test]
fn a_legacy_package_is_checked_statically() {
    let dir = tempfile::tempdir().unwrap();
    incomplete_legacy_package(dir.path());
    let package = Package::open(dir.path()).unwrap();
    assert_eq!(package.kind, PackageKind::Legacy);
    let problems = package.problems("00100_OLD_GAN");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("__init__.py has no `def generate(")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`weights.pt`") && p.contains("missing")),
        "{problems:?}"
    );

    legacy_package(dir.path());
    assert_eq!(
        Package::open(dir.path()).unwrap().problems("00100_OLD_GAN"),
        Vec::<String>::new()
    );
}

#[test]
fn offline_contribute_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("pkg");
    std::fs::create_dir(&package).unwrap();
    legacy_package(&package);
    let server = medigan_testkit::TestServer::start();
    let mut settings = Settings {
        home: Home::new(dir.path().join("home")),
        ..Settings::from_env()
    };
    settings.catalog.offline = true;
    let request = ContributeRequest {
        dir: package,
        id: "00100_OLD_GAN".into(),
        zip_path: dir.path().join("out/00100_OLD_GAN.zip"),
        dry_run: false,
        publish: false,
        zenodo_url: server.url(""),
        zenodo_token: Token::new("zenodo-secret"),
        open_issue: true,
        github_api: server.url("/gh"),
        catalog_repo: "owner/catalog".into(),
        github_token: Token::new("github-secret"),
    };
    let err = contribute(
        &Generators::new(settings),
        &request,
        &mut |_| None,
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("offline"), "{err}");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn the_issue_alone_proposes_the_entry_at_the_given_link() {
    use medigan::contribute::{IssueRequest, open_entry_issue};
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("pkg");
    std::fs::create_dir(&package).unwrap();
    let server = medigan_testkit::TestServer::start();
    server.route(
        "POST",
        "/gh/repos/owner/catalog/issues",
        medigan_testkit::Route::ok(r#"{"html_url": "https://github.com/owner/catalog/issues/7"}"#)
            .with_status(201),
    );
    let settings = Settings {
        home: Home::new(dir.path().join("home")),
        ..Settings::from_env()
    };
    let generators = Generators::new(settings);
    let mut request = IssueRequest {
        dir: package.clone(),
        id: "00100_OLD_GAN".into(),
        package_link: "https://zenodo.org/records/1/files/00100_OLD_GAN.zip?download=1".into(),
        github_api: server.url("/gh"),
        catalog_repo: "owner/catalog".into(),
        token: Token::new("github-secret").unwrap(),
    };
    incomplete_legacy_package(&package);
    let err = open_entry_issue(&generators, &request).unwrap_err();
    assert!(err.to_string().contains("__init__.py"), "{err}");
    assert!(
        server.requests().is_empty(),
        "a package that is not ready sends nothing"
    );

    legacy_package(&package);
    let report = open_entry_issue(&generators, &request).unwrap();
    assert_eq!(report.url, "https://github.com/owner/catalog/issues/7");
    let execution = &report.entry["00100_OLD_GAN"]["execution"];
    assert_eq!(execution["package_link"], request.package_link.as_str());
    let packed = pack_dir(&package, &[], None).unwrap();
    assert_eq!(execution["sha256"].as_str().unwrap().len(), 64);
    assert_ne!(
        execution["sha256"],
        packed.sha256.as_str(),
        "hashed with the id's medigan.json"
    );
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    let text = body["body"].as_str().unwrap();
    assert!(text.contains(&request.package_link), "{text}");
    assert!(!text.contains("github-secret"));

    request.token = Token::new("expired").unwrap();
    server.route(
        "POST",
        "/gh/repos/owner/catalog/issues",
        medigan_testkit::Route::status(401),
    );
    let err = open_entry_issue(&generators, &request).unwrap_err();
    assert!(
        err.to_string().contains("GitHub token was refused"),
        "{err}"
    );
}
