//! What a user sees after the commonest mistakes (issue #15, item 5): the exit code and all of
//! stderr, snapshotted with insta (`tests/snapshots/`). Paths of the test's own folder and of
//! the repository are redacted (`[TMP]`, `[REPO]`), so the snapshots hold on any machine.
//! After a deliberate change of wording: `INSTA_UPDATE=always cargo test -p medigan-cli --test
//! error_snapshots`, then read the diff of the `.snap` files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, medigan, reference, run};

/// A test's folder (the working directory) with its own medigan home.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        Scene {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `medigan ARGS` run in the folder.
    fn medigan(&self, args: &[&str]) -> Command {
        let mut command = medigan(&self.path().join("home"));
        command.current_dir(self.path()).args(args);
        command
    }

    /// Exit code and stderr of `command`, with paths redacted.
    fn outcome(&self, command: &mut Command) -> String {
        let output = run(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut text = stderr.into_owned();
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (path, label) in [(self.path().to_path_buf(), "[TMP]"), (repo, "[REPO]")] {
            if let Ok(canonical) = path.canonicalize() {
                text = text.replace(&canonical.display().to_string(), label);
            }
            text = text.replace(&path.display().to_string(), label);
        }
        format!("exit code: {:?}\n{text}", output.status.code())
    }

    /// Writes `text` to `name` in the folder and gives its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

/// Snapshots the outcome of `medigan ARGS` in a fresh scene.
macro_rules! mistake {
    ($name:ident, $args:expr) => {
        #[test]
        fn $name() {
            let scene = Scene::new();
            let outcome = scene.outcome(&mut scene.medigan(&$args));
            insta::assert_snapshot!(stringify!($name), outcome);
        }
    };
}

fn upstream() -> String {
    reference("medigan-global.json").display().to_string()
}

#[test]
fn unknown_model_id() {
    let scene = Scene::new();
    let catalog = upstream();
    let outcome = scene.outcome(&mut scene.medigan(&[
        "info",
        "00002_DCGAN_MMG_MAS_ROI",
        "--catalog",
        &catalog,
    ]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn unknown_model_id_as_json() {
    let scene = Scene::new();
    let catalog = upstream();
    let outcome = scene.outcome(&mut scene.medigan(&[
        "info",
        "00002_DCGAN_MMG_MAS_ROI",
        "--json",
        "--catalog",
        &catalog,
    ]));
    insta::assert_snapshot!(outcome);
}

mistake!(
    bad_format,
    [
        "generate", "00900", "-n", "1", "-o", "out", "--format", "jpeg"
    ]
);
mistake!(bad_backend, ["--backend", "gpu", "list"]);
mistake!(
    bad_search_operator,
    ["search", "mammography", "--op", "nand"]
);
mistake!(bad_order, ["rank", "FID", "--order", "up"]);
mistake!(
    bad_shard,
    [
        "generate", "00900", "-n", "4", "-o", "out", "--shard", "5/4"
    ]
);
mistake!(
    shards_without_shard_auto,
    [
        "generate", "00900", "-n", "4", "-o", "out", "--shard", "1/2", "--shards", "3"
    ]
);
mistake!(bad_range, ["fid", "real", "synthetic", "--range", "1,0"]);
mistake!(
    bad_extractor,
    ["fid", "real", "synthetic", "--extractor", "vgg"]
);
mistake!(unknown_flag, ["list", "--bogus"]);
mistake!(unknown_subcommand, ["generat", "00900"]);
mistake!(zero_samples, ["generate", "00900", "-n", "0", "-o", "out"]);
mistake!(
    negative_seed,
    ["generate", "00900", "-o", "out", "--seed", "-1"]
);
mistake!(missing_output_folder_flag, ["generate", "00900", "-n", "1"]);
mistake!(
    resume_and_overwrite,
    [
        "generate",
        "00900",
        "-n",
        "1",
        "-o",
        "out",
        "--resume",
        "--overwrite"
    ]
);
mistake!(missing_real_folder, ["fid", "real", "synthetic"]);
mistake!(unknown_cache_entry, ["cache", "rm", "deadbeef"]);
mistake!(dataset_folder_missing, ["dataset", "verify", "nowhere"]);
mistake!(
    catalogue_file_missing,
    ["--catalog", "nowhere.json", "list"]
);
mistake!(
    offline_without_a_cached_catalogue,
    [
        "--offline",
        "--catalog",
        "https://example.invalid/catalog.json",
        "list"
    ]
);

#[test]
fn output_folder_under_a_file() {
    let scene = Scene::new();
    scene.write("notes.txt", "a file, not a folder");
    let outcome = scene.outcome(&mut scene.medigan(&[
        "generate",
        "00900",
        "-n",
        "1",
        "-o",
        "notes.txt/out",
        "--backend",
        "tract",
    ]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn catalogue_file_not_json() {
    let scene = Scene::new();
    let catalog = scene.write("catalog.json", "{\"00001_X\": {\"execution\": ");
    let outcome = scene.outcome(&mut scene.medigan(&["--catalog", &catalog, "list"]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn catalogue_field_of_the_wrong_type_is_named_by_its_path() {
    let scene = Scene::new();
    let text = std::fs::read_to_string(fixture("dcgan")).unwrap();
    let mut catalog: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = &mut catalog["90001_FIXTURE_DCGAN"];
    entry["execution"]["image_size"] = serde_json::json!("32x32");
    entry["selection"]["organ"] = serde_json::json!(7);
    let path = scene.write("catalog.json", &catalog.to_string());
    let outcome = scene.outcome(&mut scene.medigan(&["--catalog", &path, "list"]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn label_for_a_model_without_classes() {
    let scene = Scene::new();
    let catalog = fixture("dcgan").display().to_string();
    let outcome = scene.outcome(&mut scene.medigan(&[
        "--catalog",
        &catalog,
        "--backend",
        "tract",
        "generate",
        "90001",
        "-n",
        "1",
        "-o",
        "out",
        "--label",
        "malignant",
    ]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn consent_missing_for_a_legacy_model() {
    let scene = Scene::new();
    let catalog = common::zoo::zoo_catalog().display().to_string();
    let outcome = scene.outcome(&mut scene.medigan(&[
        "--catalog",
        &catalog,
        "generate",
        "00910",
        "-n",
        "1",
        "-o",
        "out",
    ]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn init_model_into_a_folder_with_files() {
    let scene = Scene::new();
    std::fs::create_dir(scene.path().join("my-model")).unwrap();
    scene.write("my-model/notes.txt", "already here");
    let outcome = scene.outcome(&mut scene.medigan(&["init-model", "my-model"]));
    insta::assert_snapshot!(outcome);
}

#[test]
fn offline_without_a_cached_package() {
    let scene = Scene::new();
    let catalog = upstream();
    let mut command = scene.medigan(&[
        "--catalog",
        &catalog,
        "generate",
        "00002",
        "-n",
        "1",
        "-o",
        "out",
        "--install-dependencies",
    ]);
    let outcome = scene.outcome(command.env("MEDIGAN_OFFLINE", "2"));
    insta::assert_snapshot!(outcome);
}
