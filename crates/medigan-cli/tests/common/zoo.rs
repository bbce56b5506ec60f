//! The zoo fixtures (`tests/fixtures/zoo/`, written by `scripts/make_zoo_fixtures.py`): packages
//! in the original medigan format, shaped like the real zoo, run through the `medigan` binary.
//!
//! [`Zoo::start`] gives a test a private `MEDIGAN_HOME`, the zoo catalogue and pip arguments that
//! keep every install off any index (the pinned fixture dependency comes from the local wheels
//! in `deps/`; torch, numpy and OpenCV from the system Python, which the environments see).
//! Consent is given per command ([`Zoo::generate`], [`Zoo::test_model`] pass
//! `--install-dependencies`). Without torch or OpenCV in `python3` the test is skipped with a
//! visible `SKIPPED:` line, except under `CI=true`, where CI has installed them and a missing
//! one is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use super::{medigan, run};

/// The Python modules the zoo packages import.
pub const ZOO_MODULES: &[&str] = &["numpy", "torch", "cv2"];

/// The zoo fixture folder.
pub fn zoo_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/zoo");
    assert!(
        dir.join("zoo-catalog.json").is_file(),
        "missing {}: run `python3 scripts/make_zoo_fixtures.py`",
        dir.join("zoo-catalog.json").display()
    );
    dir
}

/// The zoo catalogue (upstream format, package links relative to it).
pub fn zoo_catalog() -> PathBuf {
    zoo_dir().join("zoo-catalog.json")
}

/// Why the zoo packages cannot run here (`python3` cannot import torch, cv2 or numpy), or
/// `None` when they can. Asked once per test binary: importing torch takes seconds.
fn missing_python() -> Option<&'static str> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        let probe = Command::new("python3")
            .arg("-c")
            .arg(format!("import {}", ZOO_MODULES.join(", ")))
            .output();
        match probe {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "python3 cannot import {} ({}); install them with `pip install -r \
                 scripts/requirements-zoo.txt`",
                ZOO_MODULES.join(", "),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Err(e) => Some(format!("no python3 ({e})")),
        }
    })
    .as_deref()
}

/// A test's view of the zoo: its own home, the zoo catalogue, pip kept off any index.
pub struct Zoo {
    home: tempfile::TempDir,
    catalog: PathBuf,
    deps: PathBuf,
}

impl Zoo {
    /// The zoo for `test`, or `None` after printing `SKIPPED: <test>: <reason>` when the
    /// packages' Python modules are missing (a failure under `CI=true`).
    pub fn start(test: &str) -> Option<Zoo> {
        if let Some(why) = missing_python() {
            // CI installs them (.ci/run), so there a missing module is a failure, not a skip.
            medigan_testkit::skip(&format!("the zoo run of {test}"), why);
            return None;
        }
        let dir = zoo_dir();
        Some(Zoo {
            home: tempfile::tempdir().expect("a temporary home"),
            catalog: dir.join("zoo-catalog.json"),
            deps: dir.join("deps"),
        })
    }

    /// The private `MEDIGAN_HOME` (also a place for a test's output folders).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A path inside the private home.
    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// `medigan --offline --catalog <zoo>` with the private home; pip installs only from the
    /// fixture wheels and what the system Python has (`--no-index`, dependencies resolved: the
    /// environment carries no setuptools of its own to shadow the one torch requires).
    pub fn medigan(&self) -> Command {
        let mut command = medigan(self.home.path());
        command
            .env(
                "MEDIGAN_PIP_ARGS",
                format!("--no-index --find-links={}", self.deps.display()),
            )
            .arg("--offline")
            .arg("--catalog")
            .arg(&self.catalog);
        command
    }

    /// `medigan generate MODEL -o OUT --install-dependencies EXTRA...`.
    pub fn generate(&self, model: &str, out: &Path, extra: &[&str]) -> Output {
        run(self
            .medigan()
            .args(["generate", model, "-o"])
            .arg(out)
            .arg("--install-dependencies")
            .args(extra))
    }

    /// `medigan test MODEL --install-dependencies --json`: its exit code and the model's report.
    pub fn test_model(&self, model: &str) -> (Option<i32>, Value) {
        let output = run(self
            .medigan()
            .args(["test", model, "--install-dependencies", "--json"]));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "`medigan test {model}` printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code(), report[0].clone())
    }
}

/// Panics with the command's output unless it succeeded.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "command failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The file lines of a run's `manifest.jsonl` (after its header line).
pub fn manifest_files(dir: &Path) -> Vec<Value> {
    let path = dir.join("manifest.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no manifest {}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| serde_json::from_str(line).expect("a manifest line is JSON"))
        .collect()
}

/// The sorted file names of a folder.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A PNG as (width, height, channels, 8-bit values).
pub fn read_png(path: &Path) -> (u32, u32, u8, Vec<u8>) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let channels = image.color().channel_count();
    let (width, height) = (image.width(), image.height());
    let values = match channels {
        1 => image.to_luma8().into_raw(),
        2 => image.to_luma_alpha8().into_raw(),
        3 => image.to_rgb8().into_raw(),
        _ => image.to_rgba8().into_raw(),
    };
    (width, height, channels, values)
}
