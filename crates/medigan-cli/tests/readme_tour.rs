//! The README followed as written (issue #31): the main job and the tour's command lines, taken
//! from `README.md` itself in their order, run offline in one empty folder with a fresh home,
//! `medigan` (and `cargo run --release -p medigan-cli --`) replaced by the built binary. Each
//! must exit 0, and at the end every (unsharded) run folder they wrote passes `dataset verify`.

use std::path::{Path, PathBuf};

mod common;
use common::{medigan, run};

/// `README.md` at the root of the repository.
fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of the first ```sh block after the heading `heading`.
fn sh_block(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no heading `{heading}`"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a ```sh block") + "```sh\n".len();
    let close = rest[open..].find("```").expect("the block's end") + open;
    rest[open..close].lines().map(str::to_string).collect()
}

/// The arguments of one README command line: the comment cut off, the program prefix
/// (`medigan` or `cargo run ... --`) removed; `None` for a line that is not a medigan command.
fn arguments(line: &str) -> Option<Vec<String>> {
    let command = line.split(" #").next().unwrap_or("").trim();
    let rest = command
        .strip_prefix("medigan ")
        .or_else(|| command.strip_prefix("cargo run --release -p medigan-cli -- "))?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The output folder (`-o DIR`) of a command.
fn output_folder(args: &[String]) -> Option<&str> {
    let at = args.iter().position(|a| a == "-o")?;
    args.get(at + 1).map(String::as_str)
}

fn run_line(dir: &Path, home: &Path, line: &str, args: &[String]) {
    let output = run(medigan(home)
        .current_dir(dir)
        .env("MEDIGAN_OFFLINE", "1")
        .args(args));
    assert!(
        output.status.success(),
        "README line `{line}` exited with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_readme_main_job_and_tour_run_as_written_in_one_empty_folder() {
    let readme = readme();
    let main_job = sh_block(&readme, "## The main job, offline");
    let tour = sh_block(&readme, "## A tour of the command line");
    assert!(tour.len() >= 10, "the tour has its commands: {tour:?}");
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut runs: Vec<String> = Vec::new();
    for line in main_job.iter().chain(&tour) {
        let Some(args) = arguments(line) else {
            assert!(
                line.trim().is_empty(),
                "a line of the README's blocks that is not a medigan command: `{line}`"
            );
            continue;
        };
        run_line(dir.path(), home.path(), line, &args);
        // Whole runs are verified at the end; a shard alone is part of a run.
        let sharded = args.iter().any(|a| a == "--shard");
        if args.iter().any(|a| a == "generate")
            && !sharded
            && let Some(out) = output_folder(&args)
            && !runs.iter().any(|r| r == out)
        {
            runs.push(out.to_string());
        }
    }
    assert!(
        runs.len() >= 3,
        "the main job and the tour write runs: {runs:?}"
    );
    for out in &runs {
        let verify = ["dataset".to_string(), "verify".to_string(), out.clone()];
        let line = format!("medigan dataset verify {out}");
        let output = run(medigan(home.path())
            .current_dir(dir.path())
            .env("MEDIGAN_OFFLINE", "1")
            .args(&verify));
        assert!(
            output.status.success(),
            "`{line}` after the tour:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn readme_lines_are_read_as_their_commands() {
    assert_eq!(
        arguments("medigan info 1                 # one model"),
        Some(vec!["info".to_string(), "1".to_string()])
    );
    assert_eq!(
        arguments("cargo run --release -p medigan-cli -- --offline generate 00900 -n 16 -o out/"),
        Some(
            ["--offline", "generate", "00900", "-n", "16", "-o", "out/"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(arguments("sbatch --array=0-63 x.sbatch"), None);
}
