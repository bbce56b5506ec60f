//! Shared by the CLI tests: the `medigan` binary with a clean environment, and the paths of
//! the fixtures and the reference files.

#![allow(dead_code)]

pub mod convert;
pub mod zoo;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Scheduler settings a developer's shell may hold that would change what a test sees
/// (`--shard auto` reads them): a test run inside a Slurm job or a Kubernetes pod must not see
/// them. Every `MEDIGAN_*` variable (`medigan::env::VARIABLES`) is removed too.
const INHERITED: &[&str] = &[
    "SLURM_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
];

/// A `medigan` command with its own home and none of the caller's medigan settings.
pub fn medigan(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medigan"));
    for variable in medigan::env::VARIABLES {
        command.env_remove(variable.name);
    }
    for name in INHERITED {
        command.env_remove(name);
    }
    command.env("MEDIGAN_HOME", home).env("NO_COLOR", "1");
    command
}

/// Runs a command to the end.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("the medigan binary runs")
}

/// The one-entry catalogue of a fixture package in `tests/fixtures/`.
pub fn fixture(case: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(case)
        .join("medigan.json");
    assert!(
        path.is_file(),
        "missing fixture {}: run scripts/make_fixtures.py",
        path.display()
    );
    path
}

/// A reference file, from the repository's own copies: `medigan-global.json` is the upstream
/// catalogue snapshot `models/upstream-snapshot.json`; any other name is `tests/reference/NAME`.
pub fn reference(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = match name {
        "medigan-global.json" => root.join("models/upstream-snapshot.json"),
        other => root.join("tests/reference").join(other),
    };
    assert!(path.is_file(), "missing reference file {}", path.display());
    path
}

/// The PNG files of a folder, name -> bytes, sorted by name (manifests and hidden files left out).
pub fn png_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
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
