//! Offline bundles (issue 29 item 3): `medigan bundle export` in one fresh home, `medigan bundle
//! import` into another with the network forbidden (`--offline`, pip with `--no-index` and no
//! other wheels), then `generate` of a native fixture and a legacy zoo fixture there.
//!
//! The legacy fixture is `00915_ZOO_PIN_A` (numpy and `medigan_zoo_dep==1.0`): its wheelhouse is
//! the fixture wheel `medigan_zoo_dep-1.0`, taken by `pip download` from the zoo's local
//! `deps/` folder (`--no-index --find-links`); numpy is left out with `--skip-dependency`, as a
//! site would leave out what its Python already has. No wheel is downloaded from an index.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::zoo::{Zoo, assert_ok, file_names, zoo_dir};
use common::{fixture, medigan, run};

const LEGACY: &str = "00915_ZOO_PIN_A";
const NATIVE: &str = "90001_FIXTURE_DCGAN";

/// `medigan bundle export LEGACY NATIVE -o OUT` from `home`, with the zoo and the dcgan fixture.
fn export(home: &Path, out: &Path) -> Output {
    let deps = zoo_dir().join("deps");
    run(medigan(home)
        .env(
            "MEDIGAN_PIP_ARGS",
            format!("--no-index --find-links={}", deps.display()),
        )
        .arg("--offline")
        .arg("--catalog")
        .arg(zoo_dir().join("zoo-catalog.json"))
        .arg("--catalog")
        .arg(fixture("dcgan"))
        .args(["--json", "bundle", "export", LEGACY, NATIVE, "-o"])
        .arg(out)
        .args([
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.11",
            "--skip-dependency",
            "numpy",
        ]))
}

/// `medigan --offline bundle import BUNDLE` into `home`, pip kept off any index.
fn import(home: &Path, bundle: &Path) -> Output {
    run(medigan(home)
        .env("MEDIGAN_PIP_ARGS", "--no-index")
        .args(["--offline", "--json", "bundle", "import"])
        .arg(bundle))
}

/// The member names of a tar file with the offset of each one's data.
fn members(bundle: &Path) -> Vec<(String, u64, u64)> {
    let file = std::fs::File::open(bundle).unwrap();
    let mut archive = tar::Archive::new(file);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            (name, e.raw_file_position(), e.size())
        })
        .collect()
}

#[test]
fn a_bundle_moves_models_between_homes_and_generates_offline() {
    let Some(zoo) = Zoo::start("a_bundle_moves_models_between_homes_and_generates_offline") else {
        return;
    };
    let started = std::time::Instant::now();
    let bundle = zoo.path("site.tar");
    let exported = export(zoo.home(), &bundle);
    assert_ok(&exported);
    let report: Value = serde_json::from_slice(&exported.stdout).unwrap();
    assert_eq!(report["models"], serde_json::json!([LEGACY, NATIVE]));
    assert_eq!(report["wheels"], 1, "{report}");
    let names: Vec<String> = members(&bundle).into_iter().map(|m| m.0).collect();
    assert!(names.contains(&"bundle.json".to_string()), "{names:?}");
    assert!(
        names.contains(&"wheelhouse/medigan_zoo_dep-1.0-py3-none-any.whl".to_string()),
        "{names:?}"
    );
    println!("export: {:.1} s", started.elapsed().as_secs_f64());

    let site = tempfile::tempdir().unwrap();
    let imported = import(site.path(), &bundle);
    assert_ok(&imported);
    assert!(site.path().join("wheelhouse-v1").is_dir());
    println!("import: {:.1} s", started.elapsed().as_secs_f64());

    // At the site: no --catalog (the imported entries are in the user catalogue), offline, pip
    // with no index and no other wheels than the imported wheelhouse.
    for (model, count) in [(NATIVE, 3), (LEGACY, 2)] {
        let out = site.path().join(format!("out-{model}"));
        let generated = run(medigan(site.path())
            .env("MEDIGAN_PIP_ARGS", "--no-index")
            .args([
                "--offline",
                "generate",
                model,
                "-n",
                &count.to_string(),
                "-o",
            ])
            .arg(&out)
            .arg("--install-dependencies"));
        assert_ok(&generated);
        let pngs: Vec<String> = file_names(&out)
            .into_iter()
            .filter(|n| n.ends_with(".png"))
            .collect();
        assert_eq!(pngs.len(), count, "{model}: {pngs:?}");
    }
    println!("generate: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_damaged_bundle_is_refused_with_the_member_named_and_the_home_unchanged() {
    let Some(zoo) = Zoo::start("a_damaged_bundle_is_refused") else {
        return;
    };
    let bundle = zoo.path("site.tar");
    assert_ok(&export(zoo.home(), &bundle));
    let (member, offset, size) = members(&bundle)
        .into_iter()
        .find(|(name, _, size)| name.starts_with("packages/") && *size > 0)
        .expect("a package file in the bundle");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = usize::try_from(offset + size / 2).unwrap();
    bytes[at] ^= 0x01;
    let damaged: PathBuf = zoo.path("damaged.tar");
    std::fs::write(&damaged, bytes).unwrap();

    let site = tempfile::tempdir().unwrap();
    let refused = import(site.path(), &damaged);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(said.contains(&member), "{member} not named in: {said}");
    for bucket in ["packages-v1", "catalog-v1", "wheelhouse-v1"] {
        assert!(!site.path().join(bucket).exists(), "{bucket} was written");
    }
    // The undamaged bundle still imports.
    assert_ok(&import(site.path(), &bundle));
}
