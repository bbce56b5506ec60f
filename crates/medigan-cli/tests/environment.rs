//! The environment through the command line (issue #15, item 4): each `MEDIGAN_*` variable of
//! `medigan::env` gives the setting its table row says, `medigan env --json` shows it, and a
//! flag wins over its variable. `bindings/python/tests/test_env.py` checks that Python reads
//! the same values to the same settings.

mod common;

use std::path::Path;

use common::{medigan, run};
use serde_json::Value;

/// `medigan env --json` (after `flags`) with `vars` set: variable name -> `effective`.
fn effective(home: &Path, vars: &[(&str, &str)], flags: &[&str]) -> serde_json::Map<String, Value> {
    let mut command = medigan(home);
    command.args(flags).args(["env", "--json"]);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = run(&mut command);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let object: Value = serde_json::from_slice(&output.stdout).unwrap();
    object
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, row)| (name.clone(), row["effective"].clone()))
        .collect()
}

/// A value of each variable and the setting it must give.
const CASES: &[(&str, &str, &str)] = &[
    ("MEDIGAN_HOME", "/data/medigan cache", "/data/medigan cache"),
    ("MEDIGAN_CATALOG", " a.json, ,b.json", "a.json,b.json"),
    (
        "MEDIGAN_CATALOG_URL",
        " https://example.org/c.json ",
        "https://example.org/c.json",
    ),
    ("MEDIGAN_OFFLINE", "2", "true"),
    ("MEDIGAN_OFFLINE", "yes", "true"),
    ("MEDIGAN_OFFLINE", "off", "false"),
    ("MEDIGAN_OFFLINE", "0", "false"),
    ("MEDIGAN_BACKEND", "ONNXRUNTIME", "ort"),
    ("MEDIGAN_BACKEND", "tract", "tract"),
    ("MEDIGAN_BACKEND", "gpu", "auto"),
    ("MEDIGAN_VERIFY", "1", "true"),
    ("MEDIGAN_INFERENCE_TIMEOUT", "30", "30"),
    ("MEDIGAN_INFERENCE_TIMEOUT", "soon", "(unreadable: default)"),
    ("MEDIGAN_MAX_SAMPLE_BYTES", "1000", "1000"),
    ("MEDIGAN_MAX_IN_MEMORY_BYTES", "5", "5"),
    ("MEDIGAN_STORE_MAX_BYTES", "1000", "1000"),
    ("MEDIGAN_STORE_UPLOAD_MS", "500", "500"),
    ("MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES", "1024", "1024"),
    ("MEDIGAN_PYTHON", "python3.11", "python3.11"),
    ("MEDIGAN_PIP_ARGS", " --no-index  -q", "--no-index -q"),
    ("MEDIGAN_LEGACY_TIMEOUT", "1.5", "1.5"),
    ("MEDIGAN_LEGACY_TIMEOUT", "0", "none"),
    (
        "MEDIGAN_FID_WEIGHTS",
        "/w/pt_inception.pth",
        "/w/pt_inception.pth",
    ),
    (
        "MEDIGAN_FID_WEIGHTS_URL",
        "http://127.0.0.1:9/w.pth",
        "http://127.0.0.1:9/w.pth",
    ),
    (
        "MEDIGAN_ZENODO_URL",
        "http://127.0.0.1:9/zenodo",
        "http://127.0.0.1:9/zenodo",
    ),
    (
        "MEDIGAN_GITHUB_API_URL",
        "http://127.0.0.1:9/gh",
        "http://127.0.0.1:9/gh",
    ),
    ("MEDIGAN_LOG", "debug", "debug"),
];

#[test]
fn each_variable_gives_the_setting_of_its_table_row() {
    let home = tempfile::tempdir().unwrap();
    let unset = effective(home.path(), &[], &[]);
    let listed: Vec<&str> = medigan::env::VARIABLES.iter().map(|v| v.name).collect();
    let mut shown: Vec<&str> = unset.keys().map(String::as_str).collect();
    let mut expected = listed.clone();
    shown.sort_unstable();
    expected.sort_unstable();
    assert_eq!(shown, expected);
    for variable in &listed {
        assert!(
            CASES.iter().any(|(name, ..)| name == variable),
            "{variable} has no case here"
        );
    }
    for (name, value, setting) in CASES {
        let seen = effective(home.path(), &[(name, value)], &[]);
        assert_eq!(seen[*name], *setting, "{name}={value:?}");
        for (other, reading) in &seen {
            if other != name {
                assert_eq!(reading, &unset[other], "{name}={value:?} changed {other}");
            }
        }
    }
}

#[test]
fn a_flag_wins_over_its_variable() {
    let home = tempfile::tempdir().unwrap();
    let seen = effective(
        home.path(),
        &[
            ("MEDIGAN_OFFLINE", "0"),
            ("MEDIGAN_BACKEND", "tract"),
            ("MEDIGAN_CATALOG", "a.json"),
        ],
        &["--offline", "--backend", "ort", "--catalog", "b.json"],
    );
    assert_eq!(seen["MEDIGAN_OFFLINE"], "true");
    assert_eq!(seen["MEDIGAN_BACKEND"], "ort");
    assert_eq!(seen["MEDIGAN_CATALOG"], "b.json");
    let dir = home.path().join("elsewhere");
    let seen = effective(home.path(), &[], &["--cache-dir", dir.to_str().unwrap()]);
    assert_eq!(seen["MEDIGAN_HOME"], dir.display().to_string());
}

#[test]
fn an_unreadable_value_is_warned_about_and_the_default_used() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .env("MEDIGAN_BACKEND", "gpu")
        .args(["--catalog"])
        .arg(common::reference("medigan-global.json"))
        .arg("list"));
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MEDIGAN_BACKEND=\"gpu\"") && stderr.contains("ort, tract or auto"),
        "{stderr}"
    );
}
