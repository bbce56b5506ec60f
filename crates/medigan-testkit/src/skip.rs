//! Checks that cannot run because something from outside Rust is missing (a Python package,
//! onnxruntime, a browser, `dciodvfy`) say so instead of passing silently.
//!
//! A test calls [`skip`] (or [`skip_allowed_in_ci`]) and returns. The call prints
//! `SKIPPED: <test>: <what> (<why>)` to stderr, appends the same line to the file named by
//! [`SKIP_LOG_VAR`] when it is set (`scripts/test.sh` sets it and lists every skip at the end,
//! since cargo hides the output of passing tests), and, under `CI=true`, fails the test: CI
//! installs every prerequisite, so a skip there means a check that CI believes it runs did not.
//!
//! ```no_run
//! use medigan_testkit::{python_importing, skip};
//! let python = match python_importing(&["torch"]) {
//!     Ok(python) => python,
//!     Err(why) => return skip("the torch reference", &why),
//! };
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

/// The environment variable naming the file that collects one line per skipped check.
pub const SKIP_LOG_VAR: &str = "MEDIGAN_SKIP_LOG";

/// Reports that `what` did not run because of `why` (what is missing, and how to get it).
///
/// # Panics
/// Under `CI=true`, after reporting: CI is expected to have every prerequisite.
pub fn skip(what: &str, why: &str) {
    let line = report(what, why);
    assert!(
        !in_ci(),
        "{line}\nCI=true, and CI is expected to run this check: install what is missing \
         (see .ci/run), or use skip_allowed_in_ci if CI cannot have it"
    );
}

/// Like [`skip`], but also allowed under `CI=true`: for prerequisites CI cannot always install
/// (a Debian package missing from some releases, a large optional download).
pub fn skip_allowed_in_ci(what: &str, why: &str) {
    report(what, &format!("{why}; allowed in CI"));
}

/// `python3` (or `$MEDIGAN_TEST_PYTHON`) when it can import every module of `modules`, else
/// the reason, naming the modules and the interpreter's own error.
pub fn python_importing(modules: &[&str]) -> Result<String, String> {
    let python = std::env::var("MEDIGAN_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python)
        .arg("-c")
        .arg(format!("import {}", modules.join(", ")))
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("no error message");
            Err(format!(
                "{python} cannot import {} ({last}); pip install {}",
                modules.join(", "),
                pip_names(modules)
            ))
        }
        Err(e) => Err(format!(
            "cannot start {python} to import {} ({e})",
            modules.join(", ")
        )),
    }
}

/// The pip package names of importable module names (`PIL` is `Pillow`).
fn pip_names(modules: &[&str]) -> String {
    let names: Vec<&str> = modules
        .iter()
        .map(|m| match *m {
            "PIL" => "Pillow",
            "pytorch_fid" => "pytorch-fid",
            other => other,
        })
        .collect();
    names.join(" ")
}

/// Prints the skip line and appends it to the log; returns it.
fn report(what: &str, why: &str) -> String {
    let line = format!("SKIPPED: {}: {what} ({})", current_test(), one_line(why));
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR)
        && let Err(e) = append_line(Path::new(&path), &line)
    {
        let path = path.to_string_lossy();
        eprintln!("cannot append to {SKIP_LOG_VAR}={path}: {e}");
    }
    line
}

/// One write of a whole line with O_APPEND, so lines of parallel tests do not interleave.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(format!("{line}\n").as_bytes())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `<test binary>::<test name>`: the harness names each test's thread after the test.
fn current_test() -> String {
    let mut name = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| strip_hash(&stem).to_string())
        .unwrap_or_default();
    if let Some(test) = std::thread::current().name().filter(|n| *n != "main") {
        if !name.is_empty() {
            name.push_str("::");
        }
        let _ = write!(name, "{test}");
    }
    name
}

/// `formats-0123abcd` -> `formats` (cargo's suffix on test binaries).
fn strip_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((base, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            base
        }
        _ => stem,
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_hash_suffix_is_removed_and_other_names_kept() {
        assert_eq!(strip_hash("formats-0123456789abcdef"), "formats");
        assert_eq!(strip_hash("medigan-cli"), "medigan-cli");
        assert_eq!(strip_hash("runtime_conformance"), "runtime_conformance");
    }

    #[test]
    fn a_missing_module_names_the_module_and_how_to_install_it() {
        let why = python_importing(&["medigan_no_such_module_xyz"]).unwrap_err();
        assert!(why.contains("medigan_no_such_module_xyz"), "{why}");
    }

    #[test]
    fn each_skip_adds_one_line_to_the_log() {
        let log = std::env::temp_dir().join(format!("medigan-skip-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        append_line(&log, "SKIPPED: a: first (why)").unwrap();
        append_line(&log, "SKIPPED: b: second (why)").unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        assert_eq!(text, "SKIPPED: a: first (why)\nSKIPPED: b: second (why)\n");
    }
}
