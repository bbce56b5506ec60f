//! One Python virtual environment per legacy model: `<home>/envs-v1/<model id>/`.
//!
//! The environment is created with the user's Python (`python3 -m venv --system-site-packages`,
//! or `MEDIGAN_PYTHON`) and the model's `execution.dependencies` are installed into it with pip.
//! System site packages are visible so that large packages the user already has (numpy, torch)
//! are not downloaded again; anything the model pins is installed into its own environment and
//! shadows the system copy, so models with conflicting pins do not disturb each other.
//!
//! When the base interpreter's pip takes `--python` (pip 22.3 or newer), the environment is
//! made `--without-pip` and that pip installs into it: the environment then carries no pip or
//! setuptools of its own that would shadow the base interpreter's, so a torch that requires a
//! newer setuptools than `venv` bundles installs with `MEDIGAN_PIP_ARGS=--no-index` (issue 29,
//! item 4). With an older or no base pip, the environment gets its own pip, as before.
//!
//! ```text
//! envs-v1/<model id>/
//! ├── bin/python ...            the virtual environment
//! └── .medigan-env.json         written last: package sha256 and dependencies it was made for
//! ```
//! An environment without its marker (an interrupted set-up) or made for other dependencies is
//! created again, and only with consent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::{LegacyError, LegacySettings};

/// How much of the end of each output of `venv` or pip is kept for an error message.
const STEP_OUTPUT_BYTES: usize = 64 * 1024;

/// The marker file written when an environment is complete.
pub const ENV_MARKER: &str = ".medigan-env.json";

/// A ready environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// The environment's directory.
    pub dir: PathBuf,
    /// Its Python interpreter.
    pub python: PathBuf,
}

impl PythonEnv {
    /// The command that runs `script` with this environment's Python in `run_dir` (never the
    /// user's working folder), unbuffered, without the user's site packages or bytecode files,
    /// with stdin, stdout and stderr piped: how the bridge and the converter talk to a model.
    pub fn script_command(&self, script: &Path, run_dir: &Path) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg("-u")
            .arg(script)
            .current_dir(run_dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONNOUSERSITE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Marker {
    model: String,
    package_sha256: String,
    dependencies: Vec<String>,
}

/// The environment directory of `model_id` in `envs_dir`.
pub fn env_dir(envs_dir: &Path, model_id: &str) -> PathBuf {
    let safe: String = model_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    envs_dir.join(safe)
}

fn python_in(dir: &Path) -> PathBuf {
    if cfg!(windows) {
        dir.join("Scripts").join("python.exe")
    } else {
        dir.join("bin").join("python")
    }
}

/// Checks, before anything is downloaded, that running this model needs no new consent: it is
/// given (`install_dependencies`), or an environment exists made for these dependencies and for
/// the package the catalogue or the trust lock pins (`expected_sha256`). A package whose hash is
/// not known yet has never been prepared, so it needs consent.
pub fn check_consent(
    envs_dir: &Path,
    model_id: &str,
    expected_sha256: Option<&str>,
    dependencies: &[String],
    settings: &LegacySettings,
) -> Result<(), LegacyError> {
    if settings.install_dependencies {
        return Ok(());
    }
    let dir = env_dir(envs_dir, model_id);
    let found: Option<Marker> = std::fs::read(dir.join(ENV_MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let reusable = found.is_some_and(|m| {
        m.model == model_id
            && m.dependencies == dependencies
            && expected_sha256.is_some_and(|sha| sha.eq_ignore_ascii_case(&m.package_sha256))
    }) && python_in(&dir).exists();
    if reusable {
        return Ok(());
    }
    Err(LegacyError::ConsentNeeded {
        model: model_id.to_string(),
        dependencies: dependencies.to_vec(),
        env: dir,
    })
}

/// The environment of a model, created (with consent) when missing or made for other
/// dependencies.
pub fn ensure(
    envs_dir: &Path,
    model_id: &str,
    package_sha256: &str,
    dependencies: &[String],
    settings: &LegacySettings,
) -> Result<PythonEnv, LegacyError> {
    let dir = env_dir(envs_dir, model_id);
    let env = PythonEnv {
        python: python_in(&dir),
        dir: dir.clone(),
    };
    let wanted = Marker {
        model: model_id.to_string(),
        package_sha256: package_sha256.to_string(),
        dependencies: dependencies.to_vec(),
    };
    let found: Option<Marker> = std::fs::read(dir.join(ENV_MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if found.as_ref() == Some(&wanted) && env.python.exists() {
        return Ok(env);
    }
    if !settings.install_dependencies {
        return Err(LegacyError::ConsentNeeded {
            model: model_id.to_string(),
            dependencies: dependencies.to_vec(),
            env: dir,
        });
    }
    let result = create(&env, model_id, dependencies, settings).and_then(|()| {
        let text = serde_json::to_vec_pretty(&wanted).unwrap_or_default();
        let marker = dir.join(ENV_MARKER);
        crate::fs::write_atomically(&marker, &text).map_err(LegacyError::io("write", &marker))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.map(|()| env)
}

fn create(
    env: &PythonEnv,
    model_id: &str,
    dependencies: &[String],
    settings: &LegacySettings,
) -> Result<(), LegacyError> {
    if env.dir.exists() {
        std::fs::remove_dir_all(&env.dir).map_err(LegacyError::io("remove", &env.dir))?;
    }
    if let Some(parent) = env.dir.parent() {
        std::fs::create_dir_all(parent).map_err(LegacyError::io("create directory", parent))?;
    }
    tracing::info!(
        "creating the environment of `{model_id}` in `{}`",
        env.dir.display()
    );
    let base_pip = base_pip_takes_python(&settings.python);
    let mut venv = Command::new(&settings.python);
    // `-I`: `-m` would otherwise import from the working directory first (issue #14, defect 1).
    venv.args(["-I", "-m", "venv", "--system-site-packages"]);
    if base_pip {
        venv.arg("--without-pip");
    }
    venv.arg(&env.dir);
    run_step(
        model_id,
        env,
        &mut venv,
        format!("`{} -m venv`", settings.python),
        |cause| LegacyError::PythonMissing {
            model: model_id.to_string(),
            python: settings.python.clone(),
            cause,
        },
    )?;
    if dependencies.is_empty() {
        return Ok(());
    }
    let mut pip = if base_pip {
        let mut pip = Command::new(&settings.python);
        pip.args(["-I", "-m", "pip", "--python"]).arg(&env.python);
        pip
    } else {
        let mut pip = Command::new(&env.python);
        pip.args(["-I", "-m", "pip"]);
        pip
    };
    pip.args(["install", "--disable-pip-version-check", "--no-input"]);
    if dependencies.iter().all(|d| is_local(d)) {
        pip.arg("--no-index");
    }
    // A wheelhouse imported from an offline bundle: install from it only (see `bundle`).
    let wheelhouse = env
        .dir
        .parent()
        .and_then(Path::parent)
        .map(|root| crate::home::Home::new(root).wheelhouse_dir())
        .filter(|dir| dir.is_dir());
    if let Some(dir) = wheelhouse {
        pip.arg("--no-index").arg("--find-links").arg(dir);
    }
    pip.args(&settings.pip_args).args(dependencies);
    tracing::info!("installing {} for `{model_id}`", dependencies.join(" "));
    let step = format!("`pip install {}`", dependencies.join(" "));
    run_step(model_id, env, &mut pip, step, |cause| {
        LegacyError::EnvSetup {
            model: model_id.to_string(),
            env: env.dir.clone(),
            step: "starting pip".into(),
            output: cause.to_string(),
        }
    })
}

/// Whether `python`'s own pip can install into another environment (`pip --python`, pip 22.3
/// or newer).
fn base_pip_takes_python(python: &str) -> bool {
    let mut probe = Command::new(python);
    probe.args(["-I", "-m", "pip", "--version"]);
    let limit = Some(std::time::Duration::from_secs(60));
    let Ok(done) = crate::child::run_bounded(&mut probe, b"", limit, 4096) else {
        return false;
    };
    done.status.success() && pip_version_takes_python(&String::from_utf8_lossy(&done.stdout))
}

/// Whether `pip --version`'s line (`pip 23.2.1 from ...`) names pip 22.3 or newer.
fn pip_version_takes_python(line: &str) -> bool {
    let Some(version) = line.strip_prefix("pip ") else {
        return false;
    };
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (22, 3),
        _ => false,
    }
}

/// A requirement that names a local wheel, archive or directory rather than a PyPI name.
fn is_local(requirement: &str) -> bool {
    requirement.starts_with("file:") || Path::new(requirement).exists()
}

fn run_step(
    model_id: &str,
    env: &PythonEnv,
    command: &mut Command,
    step: String,
    spawn_error: impl FnOnce(std::io::Error) -> LegacyError,
) -> Result<(), LegacyError> {
    // Contained and tracked (its process group dies with a signalled medigan), with a
    // bounded tail of its output kept.
    let output =
        crate::child::run_bounded(command, b"", None, STEP_OUTPUT_BYTES).map_err(spawn_error)?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(LegacyError::EnvSetup {
        model: model_id.to_string(),
        env: env.dir.clone(),
        step,
        output: super::last_lines(&text, 12),
    })
}

#[cfg(test)]
mod tests {
    use super::pip_version_takes_python;

    #[test]
    fn pip_22_3_and_newer_take_python() {
        assert!(pip_version_takes_python(
            "pip 23.2.1 from /usr/lib/python3/pip (python 3.11)\n"
        ));
        assert!(pip_version_takes_python("pip 22.3 from x"));
        assert!(pip_version_takes_python("pip 100.0 from x"));
        assert!(!pip_version_takes_python("pip 22.2.2 from x"));
        assert!(!pip_version_takes_python("pip 9.0.1 from x"));
        assert!(!pip_version_takes_python("No module named pip"));
        assert!(!pip_version_takes_python(""));
    }
}
