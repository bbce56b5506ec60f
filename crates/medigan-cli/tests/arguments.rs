//! Flag values checked by the argument parser (issue #15, item 6): a bad `--format`,
//! `--backend`, `--op`, `--order`, `--shard`, `--range` or `--extractor` exits 2 before
//! anything runs, naming the choices, and `--help` lists the same choices; `--batch 0` and
//! `--threads 0` exit 2 too (issue #31).

mod common;

use common::{medigan, run};

/// A flag, where it goes on the command line, a bad value, and the choices it must name.
struct Case {
    flag: &'static str,
    command: &'static [&'static str],
    bad: &'static str,
    choices: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        flag: "--format",
        command: &["generate", "00900", "-n", "1", "-o", "out"],
        bad: "jpeg",
        choices: &["png", "png16", "npy", "dicom", "nifti", "nifti-gz"],
    },
    Case {
        flag: "--backend",
        command: &["list"],
        bad: "gpu",
        choices: &["ort", "tract"],
    },
    Case {
        flag: "--op",
        command: &["search", "mammography"],
        bad: "nand",
        choices: &["and", "or", "xor"],
    },
    Case {
        flag: "--order",
        command: &["rank", "FID"],
        bad: "up",
        choices: &["asc", "desc"],
    },
    Case {
        flag: "--shard",
        command: &["generate", "00900", "-n", "4", "-o", "out"],
        bad: "5/4",
        choices: &["K/N", "auto"],
    },
    Case {
        flag: "--range",
        command: &["fid", "real", "synthetic"],
        bad: "1,0",
        choices: &["MIN,MAX"],
    },
    Case {
        flag: "--extractor",
        command: &["fid", "real", "synthetic"],
        bad: "vgg",
        choices: &["inception", "onnx:PATH"],
    },
];

#[test]
fn a_bad_value_exits_2_naming_the_choices_and_writes_nothing() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let output = run(medigan(&dir.path().join("home"))
            .current_dir(dir.path())
            .args(case.command)
            .args([case.flag, case.bad]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{}: {stderr}", case.flag);
        assert!(
            stderr.contains(&format!("invalid value '{}' for '{}", case.bad, case.flag)),
            "{}: {stderr}",
            case.flag
        );
        for choice in case.choices {
            assert!(
                stderr.contains(choice),
                "{} lacks `{choice}`: {stderr}",
                case.flag
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{}: wrote {left:?}", case.flag);
    }
}

/// Issue #31: `--batch 0` and `--threads 0` are usage errors (exit 2) before anything runs,
/// for `generate` and for the metric commands.
#[test]
fn zero_batch_or_threads_exits_2_and_writes_nothing() {
    let commands: [&[&str]; 2] = [
        &["generate", "00900", "-n", "1", "-o", "out"],
        &["fid", "real", "synthetic"],
    ];
    for command in commands {
        for flag in ["--batch", "--threads"] {
            let dir = tempfile::tempdir().unwrap();
            let output = run(medigan(&dir.path().join("home"))
                .current_dir(dir.path())
                .arg("--offline")
                .args(command)
                .args([flag, "0"]));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command:?} {flag} 0: {stderr}"
            );
            assert!(
                stderr.contains(&format!("invalid value '0' for '{flag}"))
                    && stderr.contains("at least 1"),
                "{command:?} {flag} 0: {stderr}"
            );
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{flag}: wrote {left:?}");
        }
    }
}

#[test]
fn help_lists_the_choices() {
    for case in CASES {
        let home = tempfile::tempdir().unwrap();
        let output = run(medigan(home.path()).args(&case.command[..1]).arg("--help"));
        assert_eq!(output.status.code(), Some(0), "{}", case.flag);
        let help = String::from_utf8_lossy(&output.stdout);
        let section = option_help(&help, case.flag)
            .unwrap_or_else(|| panic!("{} is not in the help: {help}", case.flag));
        for choice in case.choices {
            assert!(
                section.contains(choice),
                "{} help lacks `{choice}`: {section}",
                case.flag
            );
        }
    }
}

#[test]
fn aliases_and_case_are_still_read() {
    let home = tempfile::tempdir().unwrap();
    let catalog = common::reference("medigan-global.json");
    for args in [
        &["search", "mammography", "--op", "OR"][..],
        &["rank", "FID", "--order", "descending"],
        &["--backend", "onnxruntime", "list"],
    ] {
        let output = run(medigan(home.path())
            .arg("--catalog")
            .arg(&catalog)
            .args(args));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let asc = run(medigan(home.path())
        .arg("--catalog")
        .arg(&catalog)
        .args(["rank", "FID", "--order", "asc", "--json"]));
    let plain = run(medigan(home.path())
        .arg("--catalog")
        .arg(&catalog)
        .args(["rank", "FID", "--json"]));
    let desc = run(medigan(home.path())
        .arg("--catalog")
        .arg(&catalog)
        .args(["rank", "FID", "--desc", "--json"]));
    assert_eq!(asc.stdout, plain.stdout);
    assert_ne!(asc.stdout, desc.stdout);
    let both = run(medigan(home.path()).args(["rank", "FID", "--order", "asc", "--desc"]));
    assert_eq!(both.status.code(), Some(2));
}

/// The lines of `--help` that describe `flag`: its own line to the next option's.
fn option_help(help: &str, flag: &str) -> Option<String> {
    let is_option = |line: &str| {
        let indent = line.len() - line.trim_start().len();
        (1..8).contains(&indent) && line.trim_start().starts_with('-')
    };
    let names = |line: &str| {
        line.split_whitespace()
            .any(|word| word.trim_end_matches(',') == flag)
    };
    let mut lines = help.lines().skip_while(|l| !(is_option(l) && names(l)));
    let first = lines.next()?;
    let rest: Vec<&str> = lines
        .take_while(|l| !is_option(l) && (l.is_empty() || l.starts_with(' ')))
        .collect();
    Some(format!("{first}\n{}", rest.join("\n")))
}
