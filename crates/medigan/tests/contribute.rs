//! The contribution pieces that need no network: the reproducible zip and the package checks.

mod common;

use std::io::Read;
use std::path::PathBuf;

use medigan::contribute::{METADATA_FILE, Package, PackageKind, pack_dir};
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

#[test]
fn a_legacy_package_is_checked_statically() {
    let dir = tempfile::tempdir().unwrap();
    let entry = serde_json::json!({"00100_OLD_GAN": {
        "execution": {"package_name": "x", "package_link": ".", "model_name": "weights",
            "extension": ".pt", "image_size": [64, 64], "dependencies": ["torch"],
            "generate_method": {"name": "generate", "args": {"base": ["model_file"], "custom": {}}}},
        "selection": {"performance": {}, "organ": ["lung"], "modality": ["CT"], "license": "MIT"},
        "description": {"title": "Old GAN", "comment": "A GAN.", "authors": [{"name": "Doe, J"}]}
    }});
    std::fs::write(dir.path().join("medigan.json"), entry.to_string()).unwrap();
    std::fs::write(dir.path().join("README.md"), "card").unwrap();
    std::fs::write(dir.path().join("LICENSE"), "MIT").unwrap();
    std::fs::write(dir.path().join("__init__.py"), "def sample(n):\n    pass\n").unwrap();
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

    std::fs::write(
        dir.path().join("__init__.py"),
        "import torch\n\ndef generate(model_file, num_samples):\n    pass\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("weights.pt"), b"\0").unwrap();
    assert_eq!(
        Package::open(dir.path()).unwrap().problems("00100_OLD_GAN"),
        Vec::<String>::new()
    );
}
