//! The environment in one table: every `MEDIGAN_*` variable, what it sets and how its value is
//! read (the setting each gives in a facade is `Generators::environment`). The library, the CLI and the Python bindings read these variables only through here,
//! so one value means the same setting in all three (the scheduler's own variables,
//! `SLURM_*` and `JOB_COMPLETION_INDEX`, are read by `generate::shard_env`).
//!
//! How a value is read depends on its [`Kind`]; unset and empty are the same. A value that
//! cannot be read (`MEDIGAN_BACKEND=gpu`, `MEDIGAN_MAX_SAMPLE_BYTES=lots`) is warned about and
//! the default used. A flag is on unless it is empty, `0`, `false`, `no`, `off`, `n` or `f`
//! (any case), so `MEDIGAN_OFFLINE=2` is offline everywhere.

use std::ffi::OsString;
use std::path::PathBuf;

/// How a variable's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// On or off: off for empty, `0`, `false`, `no`, `off`, `n`, `f` (any case), else on.
    Flag,
    /// A file or folder, taken as it is.
    Path,
    /// Text, trimmed (a URL, a program).
    Text,
    /// A comma-separated list (catalogue sources).
    List,
    /// Words separated by white space (command-line arguments).
    Words,
    /// A whole number of bytes or seconds.
    WholeNumber,
    /// Seconds, fractions allowed.
    Seconds,
    /// One of a few words, any case: each group of words gives the setting named by its first
    /// (`MEDIGAN_BACKEND`: `ort` or `onnxruntime` give `ort`).
    Choice(&'static [&'static [&'static str]]),
}

/// One environment variable: its name, how it is read, what it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The name, e.g. `MEDIGAN_HOME`.
    pub name: &'static str,
    /// How its value is read.
    pub kind: Kind,
    /// What it sets, and its default.
    pub meaning: &'static str,
}

const fn var(name: &'static str, kind: Kind, meaning: &'static str) -> Variable {
    Variable {
        name,
        kind,
        meaning,
    }
}

/// The medigan home (cache folder); `--cache-dir` wins over it.
pub const HOME: Variable = var(
    "MEDIGAN_HOME",
    Kind::Path,
    "the cache folder (default: the platform cache folder + medigan)",
);
/// Catalogue sources replacing the default ones; `--catalog` wins over it.
pub const CATALOG: Variable = var(
    "MEDIGAN_CATALOG",
    Kind::List,
    "catalogue files or URLs replacing the default sources",
);
/// The URL of the upstream catalogue.
pub const CATALOG_URL: Variable = var(
    "MEDIGAN_CATALOG_URL",
    Kind::Text,
    "the URL `catalog update` downloads the upstream catalogue from",
);
/// Never touch the network (`--offline`).
pub const OFFLINE: Variable = var(
    "MEDIGAN_OFFLINE",
    Kind::Flag,
    "never touch the network (as --offline)",
);
/// The ONNX backend (`--backend`).
pub const BACKEND: Variable = var(
    "MEDIGAN_BACKEND",
    Kind::Choice(&[&["ort", "onnxruntime"], &["tract"], &["auto"]]),
    "the ONNX backend (default auto: ort when its library is found, else tract)",
);
/// Hash every file of a cached package before use (`--verify`).
pub const VERIFY: Variable = var(
    "MEDIGAN_VERIFY",
    Kind::Flag,
    "hash every file of a cached package before it is used (as --verify)",
);
/// Seconds one batch of native inference may take.
pub const INFERENCE_TIMEOUT: Variable = var(
    "MEDIGAN_INFERENCE_TIMEOUT",
    Kind::WholeNumber,
    "seconds one batch of native inference may take (0: no limit; default 600)",
);
/// Bytes one declared sample may hold.
pub const MAX_SAMPLE_BYTES: Variable = var(
    "MEDIGAN_MAX_SAMPLE_BYTES",
    Kind::WholeNumber,
    "bytes one declared sample (image + mask) may hold (default 2 GiB)",
);
/// Bytes of samples generated into memory at once.
pub const MAX_IN_MEMORY_BYTES: Variable = var(
    "MEDIGAN_MAX_IN_MEMORY_BYTES",
    Kind::WholeNumber,
    "bytes of samples generated into memory at once (default: the memory available)",
);
/// Bytes one command may download from an object store.
pub const STORE_MAX_BYTES: Variable = var(
    "MEDIGAN_STORE_MAX_BYTES",
    Kind::WholeNumber,
    "bytes one command may download from an object store (default 64 GiB)",
);
/// Bytes over which `medigan convert` writes a graph's tensors to an external-data file.
pub const EXTERNAL_DATA_THRESHOLD: Variable = var(
    "MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES",
    Kind::WholeNumber,
    "bytes over which `medigan convert` writes an exported graph's tensors to an external-data file `<graph>.data` (default 2000000000, under protobuf's 2 GiB limit; lower it to test)",
);
/// Milliseconds between uploads of a run's finished files to its store.
pub const STORE_UPLOAD_MS: Variable = var(
    "MEDIGAN_STORE_UPLOAD_MS",
    Kind::WholeNumber,
    "milliseconds between uploads of a running `generate -o URL`'s finished files (default 2000)",
);
/// The Python that creates legacy models' environments.
pub const PYTHON: Variable = var(
    "MEDIGAN_PYTHON",
    Kind::Text,
    "the Python that creates legacy models' environments (default python3)",
);
/// Extra `pip install` arguments for legacy models' environments.
pub const PIP_ARGS: Variable = var(
    "MEDIGAN_PIP_ARGS",
    Kind::Words,
    "extra arguments of pip install in legacy models' environments (e.g. --no-index)",
);
/// Seconds one batch of a legacy model may take.
pub const LEGACY_TIMEOUT: Variable = var(
    "MEDIGAN_LEGACY_TIMEOUT",
    Kind::Seconds,
    "seconds one batch of a legacy model may take (0: no limit; default 3600)",
);
/// A local copy of the FID Inception weights (`--inception-weights`).
pub const FID_WEIGHTS: Variable = var(
    "MEDIGAN_FID_WEIGHTS",
    Kind::Path,
    "a local copy of the FID Inception weights (as --inception-weights)",
);
/// Where the FID Inception weights are downloaded from.
pub const FID_WEIGHTS_URL: Variable = var(
    "MEDIGAN_FID_WEIGHTS_URL",
    Kind::Text,
    "the URL the FID Inception weights are downloaded from (default: pytorch-fid's release)",
);
/// The Zenodo API of `contribute` (tests).
pub const ZENODO_URL: Variable = var(
    "MEDIGAN_ZENODO_URL",
    Kind::Text,
    "the Zenodo base URL of contribute (tests)",
);
/// The GitHub API of `contribute` (tests).
pub const GITHUB_API_URL: Variable = var(
    "MEDIGAN_GITHUB_API_URL",
    Kind::Text,
    "the GitHub API base URL of contribute (tests)",
);
/// What the CLI logs, as a `tracing` filter.
pub const LOG: Variable = var(
    "MEDIGAN_LOG",
    Kind::Text,
    "what the CLI logs, a tracing filter such as debug or medigan=info (default: by -v/-q)",
);

/// Every variable, in the order `medigan env` lists them.
pub const VARIABLES: [Variable; 20] = [
    HOME,
    CATALOG,
    CATALOG_URL,
    OFFLINE,
    BACKEND,
    VERIFY,
    INFERENCE_TIMEOUT,
    MAX_SAMPLE_BYTES,
    MAX_IN_MEMORY_BYTES,
    STORE_MAX_BYTES,
    STORE_UPLOAD_MS,
    EXTERNAL_DATA_THRESHOLD,
    PYTHON,
    PIP_ARGS,
    LEGACY_TIMEOUT,
    FID_WEIGHTS,
    FID_WEIGHTS_URL,
    ZENODO_URL,
    GITHUB_API_URL,
    LOG,
];

impl Variable {
    /// The value in this process's environment; `None` when unset or empty.
    pub fn raw(&self) -> Option<OsString> {
        std::env::var_os(self.name).filter(|v| !v.is_empty())
    }

    fn text_value(&self) -> Option<String> {
        self.raw().map(|v| v.to_string_lossy().into_owned())
    }

    /// A [`Kind::Flag`]: whether it is on.
    pub fn flag(&self) -> bool {
        parse_flag(self.text_value().as_deref())
    }

    /// A [`Kind::Path`].
    pub fn path(&self) -> Option<PathBuf> {
        self.raw().map(PathBuf::from)
    }

    /// A [`Kind::Text`], trimmed; `None` when blank.
    pub fn text(&self) -> Option<String> {
        parse_text(self.text_value().as_deref())
    }

    /// A [`Kind::List`]: the comma-separated items, trimmed, blanks left out.
    pub fn list(&self) -> Vec<String> {
        parse_list(self.text_value().as_deref())
    }

    /// A [`Kind::Words`]: the words.
    pub fn words(&self) -> Vec<String> {
        parse_words(self.text_value().as_deref())
    }

    /// A [`Kind::WholeNumber`]; `None` when unset or unreadable (warned about).
    pub fn whole_number(&self) -> Option<u64> {
        warn_unreadable(self, parse_whole_number(self.text_value().as_deref()))
    }

    /// A [`Kind::Seconds`]; `None` when unset or unreadable (warned about).
    pub fn seconds(&self) -> Option<f64> {
        warn_unreadable(self, parse_seconds(self.text_value().as_deref()))
    }

    /// A [`Kind::Choice`]: the setting its value names (the first word of its group); `None`
    /// when unset or unreadable (warned about). Which setting a word means is the reader's
    /// business (`runtime::BackendKind::from_setting` for `MEDIGAN_BACKEND`).
    pub fn choice(&self) -> Option<&'static str> {
        warn_unreadable(self, parse_choice(self.kind, self.text_value().as_deref()))
    }

    /// The variable's value in the environment now, as its [`Kind`] reads it, in words: what a
    /// front end reports as the setting the environment gives (`MEDIGAN_OFFLINE=2` reads `true`).
    pub fn reading_now(&self) -> String {
        self.reading(self.text_value().as_deref())
    }

    /// How `value` reads as this variable: the setting it gives, `(default)` or
    /// `(unreadable: default)`.
    pub fn reading(&self, value: Option<&str>) -> String {
        let value = value.filter(|v| !v.is_empty());
        let unreadable = || "(unreadable: default)".to_string();
        let number = |n: Option<String>| n.unwrap_or_else(|| "(default)".into());
        match self.kind {
            Kind::Flag => parse_flag(value).to_string(),
            Kind::Path => number(value.map(str::to_string)),
            Kind::Text => number(parse_text(value)),
            Kind::List => parse_list(value).join(","),
            Kind::Words => parse_words(value).join(" "),
            Kind::WholeNumber => match parse_whole_number(value) {
                Ok(n) => number(n.map(|n| n.to_string())),
                Err(()) => unreadable(),
            },
            Kind::Seconds => match parse_seconds(value) {
                Ok(s) => number(s.map(|s| s.to_string())),
                Err(()) => unreadable(),
            },
            Kind::Choice(groups) => match parse_choice(self.kind, value) {
                Ok(setting) => setting.unwrap_or(default_choice(groups)).to_string(),
                Err(()) => unreadable(),
            },
        }
    }
}

/// The variable with this name, if medigan reads it.
pub fn find(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

fn warn_unreadable<T>(variable: &Variable, parsed: Result<Option<T>, ()>) -> Option<T> {
    parsed.unwrap_or_else(|()| {
        let value = variable.text_value().unwrap_or_default();
        tracing::warn!(
            "ignoring {}={value:?}: expected {}; using the default",
            variable.name,
            expected(variable.kind)
        );
        None
    })
}

fn expected(kind: Kind) -> String {
    match kind {
        Kind::WholeNumber => "a whole number".into(),
        Kind::Seconds => "a number of seconds".into(),
        Kind::Choice(groups) => {
            let settings: Vec<&str> = groups.iter().filter_map(|g| g.first().copied()).collect();
            match settings.split_last() {
                Some((last, [])) => (*last).to_string(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => "a value".into(),
            }
        }
        _ => "a value".into(),
    }
}

/// The setting an unset [`Kind::Choice`] gives: its last group's (`auto`).
fn default_choice(groups: &'static [&'static [&'static str]]) -> &'static str {
    groups.last().and_then(|g| g.first()).copied().unwrap_or("")
}

fn parse_flag(value: Option<&str>) -> bool {
    const OFF: [&str; 7] = ["", "0", "false", "no", "off", "n", "f"];
    value.is_some_and(|v| !OFF.iter().any(|off| off.eq_ignore_ascii_case(v.trim())))
}

fn parse_text(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn parse_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_words(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn parse_whole_number(value: Option<&str>) -> Result<Option<u64>, ()> {
    match parse_text(value) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ()),
    }
}

fn parse_seconds(value: Option<&str>) -> Result<Option<f64>, ()> {
    match parse_text(value) {
        None => Ok(None),
        Some(v) => match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Some(s)),
            _ => Err(()),
        },
    }
}

fn parse_choice(kind: Kind, value: Option<&str>) -> Result<Option<&'static str>, ()> {
    let Kind::Choice(groups) = kind else {
        return Err(());
    };
    match parse_text(value) {
        None => Ok(None),
        Some(v) => groups
            .iter()
            .find(|group| group.iter().any(|word| word.eq_ignore_ascii_case(&v)))
            .and_then(|group| group.first().copied())
            .map(Some)
            .ok_or(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_named_once_and_prefixed() {
        for (i, v) in VARIABLES.iter().enumerate() {
            assert!(v.name.starts_with("MEDIGAN_"), "{}", v.name);
            assert!(!v.meaning.is_empty());
            assert_eq!(find(v.name), Some(&VARIABLES[i]), "{} twice", v.name);
        }
    }

    #[test]
    fn a_flag_is_on_unless_it_says_off() {
        for on in ["1", "2", "true", "YES", "on", "y", " t "] {
            assert!(parse_flag(Some(on)), "{on:?}");
        }
        for off in ["", "0", "false", "No", "OFF", "n", "f", " 0 "] {
            assert!(!parse_flag(Some(off)), "{off:?}");
        }
        assert!(!parse_flag(None));
        assert_eq!(OFFLINE.reading(Some("2")), "true");
    }

    #[test]
    fn each_kind_reads_its_values_and_refuses_the_rest() {
        assert_eq!(CATALOG.reading(Some(" a.json , ,b.json")), "a.json,b.json");
        assert_eq!(PIP_ARGS.reading(Some(" --no-index  -q ")), "--no-index -q");
        assert_eq!(CATALOG_URL.reading(Some("  ")), "(default)");
        assert_eq!(INFERENCE_TIMEOUT.reading(Some(" 30 ")), "30");
        assert_eq!(
            INFERENCE_TIMEOUT.reading(Some("-1")),
            "(unreadable: default)"
        );
        assert_eq!(LEGACY_TIMEOUT.reading(Some("0.5")), "0.5");
        assert_eq!(LEGACY_TIMEOUT.reading(Some("NaN")), "(unreadable: default)");
        assert_eq!(BACKEND.reading(Some("ONNXRUNTIME")), "ort");
        assert_eq!(BACKEND.reading(Some("auto")), "auto");
        assert_eq!(BACKEND.reading(None), "auto");
        assert_eq!(BACKEND.reading(Some("gpu")), "(unreadable: default)");
        assert_eq!(HOME.reading(Some("/x y")), "/x y");
    }
}
