//! Regressions of issue #20, "the first hour of a new user": what a fresh install must get
//! right offline, and the messages that must point the way out.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{medigan, png_files, run};

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn manifest_header(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// The cached `generator.onnx` of the bundled model (installed by a first run).
fn cached_graph(home: &Path) -> PathBuf {
    let packages = home.join("packages-v1");
    std::fs::read_dir(&packages)
        .unwrap()
        .map(|e| e.unwrap().path().join("generator.onnx"))
        .find(|p| p.is_file())
        .expect("the bundled package is installed")
}

/// Flips 64 bytes in the middle of `path`, keeping its size.
fn flip_bytes(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b = !*b;
    }
    std::fs::write(path, bytes).unwrap();
}

fn generate(home: &Path, out: &Path, extra: &[&str]) -> Output {
    run(medigan(home)
        .args(["--offline", "generate", "00900", "-n", "3", "--seed", "5"])
        .args(extra)
        .arg("-o")
        .arg(out))
}

#[test]
fn a_corrupted_cached_package_is_repaired_and_never_used() {
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    assert_success(&generate(home.path(), &first, &[]));
    let graph = cached_graph(home.path());
    let pristine = std::fs::read(&graph).unwrap();
    flip_bytes(&graph);

    let second = home.path().join("second");
    assert_success(&generate(home.path(), &second, &[]));
    assert_eq!(
        png_files(&second),
        png_files(&first),
        "the same images as before"
    );
    assert_eq!(
        manifest_header(&second)["package_sha256"],
        manifest_header(&first)["package_sha256"]
    );
    assert!(
        std::fs::read(&graph).unwrap() == pristine,
        "the cached graph is restored from the bundled archive"
    );

    flip_bytes(&graph);
    let tested = run(medigan(home.path()).args(["--offline", "test", "00900"]));
    assert_success(&tested);
    assert!(std::fs::read(&graph).unwrap() == pristine);
}

#[test]
fn a_corrupted_file_with_its_old_time_is_caught_by_verify() {
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    assert_success(&generate(home.path(), &first, &[]));
    let graph = cached_graph(home.path());
    let pristine = std::fs::read(&graph).unwrap();
    let modified = std::fs::metadata(&graph).unwrap().modified().unwrap();
    flip_bytes(&graph);
    let file = std::fs::File::options().write(true).open(&graph).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);

    let verified = home.path().join("verified");
    assert_success(&generate(home.path(), &verified, &["--verify"]));
    assert_eq!(png_files(&verified), png_files(&first));
    assert!(std::fs::read(&graph).unwrap() == pristine);
}

/// Issue #31: a cached graph rewritten with its size kept and its modification time set back
/// is caught without `--verify` (its ctime changed), by `generate` and by `medigan test`: the
/// package is restored from the bundled archive, never run.
#[test]
fn a_corrupted_file_with_its_old_size_and_time_is_caught_without_verify() {
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    assert_success(&generate(home.path(), &first, &[]));
    let graph = cached_graph(home.path());
    let pristine = std::fs::read(&graph).unwrap();
    let corrupt = |graph: &Path| {
        let modified = std::fs::metadata(graph).unwrap().modified().unwrap();
        flip_bytes(graph);
        let file = std::fs::File::options().write(true).open(graph).unwrap();
        file.set_modified(modified).unwrap();
        drop(file);
        assert_eq!(
            std::fs::metadata(graph).unwrap().modified().unwrap(),
            modified
        );
        assert_eq!(
            std::fs::metadata(graph).unwrap().len(),
            pristine.len() as u64
        );
    };
    corrupt(&graph);
    let second = home.path().join("second");
    assert_success(&generate(home.path(), &second, &[]));
    assert_eq!(
        png_files(&second),
        png_files(&first),
        "not noise: the same images"
    );
    assert!(std::fs::read(&graph).unwrap() == pristine, "restored");

    corrupt(&graph);
    let tested = run(medigan(home.path()).args(["--offline", "test", "00900"]));
    assert_success(&tested);
    assert!(
        std::fs::read(&graph).unwrap() == pristine,
        "restored by `medigan test`"
    );
}

#[test]
fn fid_checks_its_folders_before_downloading_the_weights() {
    let home = tempfile::tempdir().unwrap();
    let server = medigan_testkit::TestServer::start();
    server.route(
        "GET",
        "/weights.pth",
        medigan_testkit::Route::ok(vec![0u8; 16]),
    );
    let (real, synthetic) = (home.path().join("real"), home.path().join("synthetic"));
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&synthetic).unwrap();
    let output = run(medigan(home.path())
        .env("MEDIGAN_FID_WEIGHTS_URL", server.url("/weights.pth"))
        .arg("fid")
        .arg(&real)
        .arg(&synthetic));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no images in"),
        "{}",
        stderr(&output)
    );
    assert!(server.requests().is_empty(), "nothing is downloaded");
}

#[test]
fn a_failed_weights_download_names_the_local_file_way_in_plain_text() {
    let home = tempfile::tempdir().unwrap();
    let images = home.path().join("images");
    assert_success(&generate(home.path(), &images, &[]));
    let server = medigan_testkit::TestServer::start();
    server.route("GET", "/weights.pth", medigan_testkit::Route::status(404));
    let output = run(medigan(home.path())
        .env("MEDIGAN_FID_WEIGHTS_URL", server.url("/weights.pth"))
        .arg("fid")
        .arg(&images)
        .arg(&images));
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("--inception-weights FILE") && text.contains("MEDIGAN_FID_WEIGHTS=FILE"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes off a terminal: {text:?}"
    );
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
}

/// Runs one README tour command offline on a fresh home and returns its JSON output.
fn tour_json(home: &Path, args: &[&str]) -> Value {
    let output = run(medigan(home).arg("--offline").arg("--json").args(args));
    assert_success(&output);
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn the_readme_tour_answers_offline_on_a_fresh_install() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let listed = tour_json(home, &["list"]);
    assert_eq!(
        listed.as_array().unwrap().len(),
        25,
        "23 upstream + the two bundled models"
    );

    let ranked = tour_json(home, &["search", "mammography", "--rank", "FID", "--asc"]);
    assert_eq!(ranked[0]["model_id"], "00001_DCGAN_MMG_CALC_ROI");
    assert_eq!(ranked[0]["FID"], 67.6);

    let and = tour_json(home, &["search", "DCGAN", "MMG", "--op", "and"]);
    assert!(
        and.as_array()
            .unwrap()
            .iter()
            .any(|m| m == "00001_DCGAN_MMG_CALC_ROI")
    );
    let keys = tour_json(home, &["search", "breast", "--keys", "--case-sensitive"]);
    assert!(!keys.as_array().unwrap().is_empty());
    let by_ratio = tour_json(
        home,
        &["rank", "FID_ratio", "--desc", "--models", "1", "2", "3"],
    );
    assert!(!by_ratio.as_array().unwrap().is_empty());
    let lookup = tour_json(home, &["lookup", "modality", "MMG"]);
    assert!(
        lookup
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "00001_DCGAN_MMG_CALC_ROI")
    );
    let info = run(medigan(home).args(["--offline", "info", "1"]));
    assert_success(&info);
    assert!(String::from_utf8_lossy(&info.stdout).contains("00001_DCGAN_MMG_CALC_ROI"));

    let sources = tour_json(home, &["catalog", "sources"]);
    assert_eq!(sources["sources"][0]["kind"], "snapshot");
    assert_eq!(sources["sources"][0]["models"], 23);
    assert_eq!(sources["snapshot"]["taken"], "2026-12-02");
    assert!(sources["snapshot"]["age_days"].is_u64());
}

#[test]
fn catalog_update_replaces_the_built_in_snapshot() {
    let home = tempfile::tempdir().unwrap();
    let server = medigan_testkit::TestServer::start();
    let one_model = std::fs::read_to_string(common::reference("medigan-global.json")).unwrap();
    let mut all: serde_json::Map<String, Value> = serde_json::from_str(&one_model).unwrap();
    all.retain(|id, _| id == "00001_DCGAN_MMG_CALC_ROI");
    let body = serde_json::to_vec(&all).unwrap();
    server.route("GET", "/global.json", medigan_testkit::Route::ok(body));
    let update = run(medigan(home.path())
        .env("MEDIGAN_CATALOG_URL", server.url("/global.json"))
        .args(["catalog", "update"]));
    assert_success(&update);
    let listed = tour_json(home.path(), &["list"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "00001_DCGAN_MMG_CALC_ROI",
            "00900_PHANTOM_DEMO",
            "00901_PHANTOM_DDPM"
        ]
    );
}

#[test]
fn an_empty_search_says_whether_the_query_or_the_metric_found_nothing() {
    let home = tempfile::tempdir().unwrap();
    let no_model =
        run(medigan(home.path()).args(["--offline", "search", "no-such-word", "--rank", "FID"]));
    assert_success(&no_model);
    let text = String::from_utf8_lossy(&no_model.stdout);
    assert!(text.contains("No model matches `no-such-word`"), "{text}");
    let no_metric =
        run(medigan(home.path()).args(["--offline", "search", "mammography", "--rank", "FIDX"]));
    let text = String::from_utf8_lossy(&no_metric.stdout);
    assert!(
        text.contains("match `mammography`, but none of them has the metric `FIDX`"),
        "{text}"
    );
}

#[test]
fn generate_refuses_zero_samples_a_negative_seed_and_a_file_as_folder() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let zero = run(medigan(home.path())
        .args(["--offline", "generate", "00900", "-n", "0", "-o"])
        .arg(&out));
    assert_eq!(zero.status.code(), Some(2));
    assert!(
        stderr(&zero).contains("at least 1 sample"),
        "{}",
        stderr(&zero)
    );
    let negative = run(medigan(home.path())
        .args(["--offline", "generate", "00900", "--seed=-5", "-o"])
        .arg(&out));
    assert_eq!(negative.status.code(), Some(2));
    assert!(
        stderr(&negative).contains("a seed is a whole number from 0 to"),
        "{}",
        stderr(&negative)
    );
    assert!(!out.exists(), "nothing written");

    let file = home.path().join("file.png");
    std::fs::write(&file, b"not a folder").unwrap();
    let onto_file = generate(home.path(), &file, &[]);
    assert!(!onto_file.status.success());
    assert!(
        stderr(&onto_file).contains("is a file, not a folder"),
        "{}",
        stderr(&onto_file)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");
}

#[test]
fn one_sample_is_reported_in_the_singular() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("one");
    let output = run(medigan(home.path())
        .args(["--offline", "generate", "00900", "-n", "1", "-o"])
        .arg(&out));
    assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("Wrote 1 sample (1 file) of 00900_PHANTOM_DEMO"),
        "{text}"
    );
}

#[test]
fn the_rate_counts_generation_only_not_loading_or_kept_samples() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("rate");
    let generate = |extra: &[&str]| {
        let output = run(medigan(home.path())
            .args(["--offline", "--json", "generate", "00900", "-n", "6", "-o"])
            .arg(&out)
            .args(extra));
        assert_success(&output);
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON on stdout")
    };
    let first = generate(&[]);
    let seconds = first["seconds"].as_f64().unwrap();
    let generating = first["generating_seconds"].as_f64().unwrap();
    assert!(generating > 0.0 && generating <= seconds, "{first}");
    let rate = first["samples_per_second"].as_f64().unwrap();
    assert!((rate - 6.0 / generating).abs() < 1e-6 * rate, "{first}");
    // A resumed run that keeps every sample generated nothing: its rate is 0, not 6 / time.
    let again = generate(&["--resume"]);
    assert_eq!(again["resumed"], 6, "{again}");
    assert_eq!(
        again["samples_per_second"].as_f64().unwrap(),
        0.0,
        "{again}"
    );
}

#[test]
fn errors_under_json_are_json_with_the_hint_apart() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path()).args(["--offline", "--json", "info", "no-such-model"]));
    assert_eq!(output.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&output.stderr).expect("one JSON object on stderr");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("unknown model `no-such-model`")
    );
    assert!(error["hint"].as_str().unwrap().contains("medigan list"));
}

#[test]
fn an_unusable_cache_dir_points_at_cache_dir_and_medigan_home() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let output = run(medigan(&file.join("cache"))
        .args(["--offline", "generate", "00900", "-n", "1", "-o"])
        .arg(home.path().join("out")));
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("--cache-dir DIR") && text.contains("MEDIGAN_HOME=DIR"),
        "{text}"
    );
}

#[test]
fn a_busy_port_gets_a_hint() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(medigan(home.path()).args([
        "--offline",
        "visualize",
        "00900",
        "--no-browser",
        "--port",
        &port,
    ]));
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("--port 0"), "{text}");
}

#[test]
fn contribute_refuses_an_upstream_id_on_a_fresh_install() {
    let home = tempfile::tempdir().unwrap();
    let package = home.path().join("package");
    let fixture = common::fixture("dcgan");
    std::fs::create_dir(&package).unwrap();
    for entry in std::fs::read_dir(fixture.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, package.join(path.file_name().unwrap())).unwrap();
    }
    let output = run(medigan(home.path())
        .args([
            "--offline",
            "contribute",
            "--dry-run",
            "--id",
            "00001_DCGAN_MMG_CALC_ROI",
        ])
        .arg(&package));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("is taken"), "{}", stderr(&output));
}
