//! The `medigan` binary end to end: exit codes, JSON shapes, catalogue update and offline use.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod common;
use common::{fixture, medigan, reference, run};

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn search_ranked_by_fid_prints_a_table_and_json() {
    let home = tempfile::tempdir().unwrap();
    let catalog = reference("medigan-global.json");
    let table = run(medigan(home.path())
        .args([
            "search",
            "mammography",
            "--rank",
            "FID",
            "--asc",
            "--catalog",
        ])
        .arg(&catalog));
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    let first_row = text.lines().nth(2).expect("a header, a rule and rows");
    assert!(
        first_row.contains("00001_DCGAN_MMG_CALC_ROI") && first_row.contains("67.6"),
        "{text}"
    );

    let json = stdout_json(&run(medigan(home.path())
        .args([
            "search",
            "mammography",
            "--rank",
            "FID",
            "--asc",
            "--json",
            "--catalog",
        ])
        .arg(&catalog)));
    let rows = json.as_array().unwrap();
    assert_eq!(rows[0]["model_id"], "00001_DCGAN_MMG_CALC_ROI");
    assert_eq!(rows[0]["FID"], 67.6);
    let fids: Vec<f64> = rows.iter().map(|r| r["FID"].as_f64().unwrap()).collect();
    assert!(fids.windows(2).all(|w| w[0] <= w[1]), "ascending: {fids:?}");
}

#[test]
fn every_search_case_matches_through_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let catalog = reference("medigan-global.json");
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(reference("search-cases.json")).unwrap())
            .unwrap();
    let mut failures = Vec::new();
    for case in cases.iter().step_by(7) {
        let Some(args) = cli_args(case) else { continue };
        let mut command = medigan(home.path());
        command
            .args(&args)
            .arg("--json")
            .arg("--catalog")
            .arg(&catalog);
        let output = run(&mut command);
        let got: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        if got != case["result"] {
            failures.push(format!("case {}: {:?} gave {got}", case["id"], args));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The command line of a recorded case (None for cases the CLI cannot express).
fn cli_args(case: &Value) -> Option<Vec<String>> {
    let args = &case["args"];
    let text = |v: &Value| v.as_str().map(String::from);
    let mut out: Vec<String> = Vec::new();
    let search_flags = |out: &mut Vec<String>| -> Option<()> {
        for v in args["values"].as_array()? {
            out.push(text(v)?);
        }
        if let Some(op) = args.get("target_values_operator") {
            out.extend(["--op".into(), text(op)?]);
        }
        if args.get("are_keys_also_matched") == Some(&Value::Bool(true)) {
            out.push("--keys".into());
        }
        if args.get("is_case_sensitive") == Some(&Value::Bool(true)) {
            out.push("--case-sensitive".into());
        }
        Some(())
    };
    let order_flag = |order: Option<&Value>| match order.and_then(Value::as_str) {
        Some(o) if o.to_lowercase().starts_with("desc") => Some("--desc".to_string()),
        Some(o) if o.to_lowercase().starts_with("asc") => Some("--asc".to_string()),
        None => Some("--asc".to_string()),
        Some(_) => None,
    };
    match case["kind"].as_str()? {
        "search" => {
            out.push("search".into());
            search_flags(&mut out)?;
        }
        "search_and_rank" => {
            out.push("search".into());
            search_flags(&mut out)?;
            out.extend(["--rank".into(), text(&args["metric"])?]);
            out.push(order_flag(args.get("order"))?);
        }
        "rank" => {
            out.extend(["rank".into(), text(&args["metric"])?]);
            out.push(order_flag(args.get("order"))?);
            if let Some(ids) = args.get("model_ids").filter(|v| !v.is_null()) {
                let ids = ids.as_array()?;
                if ids.is_empty() {
                    return None;
                }
                out.push("--models".into());
                for id in ids {
                    out.push(text(id)?);
                }
            }
        }
        "key_value" => {
            out.extend([
                "lookup".into(),
                text(&args["key1"])?,
                text(&args["value1"])?,
            ]);
            if args.get("is_case_sensitive") == Some(&Value::Bool(true)) {
                out.push("--case-sensitive".into());
            }
        }
        _ => return None,
    }
    if out
        .iter()
        .skip(1)
        .any(|a| a.starts_with('-') && !a.starts_with("--"))
    {
        return None;
    }
    Some(out)
}

#[test]
fn unknown_model_exits_1_with_suggestions_and_a_hint() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .args(["info", "00002_DCGAN_MMG_MAS_ROI", "--catalog"])
        .arg(reference("medigan-global.json")));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("did you mean 00002_DCGAN_MMG_MASS_ROI"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path()).args(["search"]));
    assert_eq!(output.status.code(), Some(2));
    let output = run(medigan(home.path()).args(["rank", "FID", "--asc", "--desc"]));
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bad_operator_is_a_clear_failure() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .args(["search", "MMG", "--op", "nand", "--catalog"])
        .arg(reference("medigan-global.json")));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'nand'"));
}

#[test]
fn the_three_id_forms_give_the_same_model() {
    let home = tempfile::tempdir().unwrap();
    let catalog = reference("medigan-global.json");
    for id in ["1", "00001", "00001_DCGAN_MMG_CALC_ROI"] {
        let json = stdout_json(&run(medigan(home.path())
            .args(["info", id, "--json", "--catalog"])
            .arg(&catalog)));
        assert!(json.get("00001_DCGAN_MMG_CALC_ROI").is_some(), "{id}");
    }
}

/// Serves one file at `/global.json` on 127.0.0.1 until `count` requests were answered.
fn serve(body: Vec<u8>, count: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a local port");
    let url = format!(
        "http://{}/global.json",
        server.server_addr().to_ip().unwrap()
    );
    let handle = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for request in server.incoming_requests().take(count) {
            paths.push(request.url().to_string());
            let response = match request.url() {
                "/global.json" => tiny_http::Response::from_data(body.clone()),
                _ => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
            };
            let _ = request.respond(response);
        }
        paths
    });
    (url, handle)
}

#[test]
fn catalog_update_caches_the_upstream_copy_for_offline_search() {
    let home = tempfile::tempdir().unwrap();
    let body = std::fs::read(reference("medigan-global.json")).unwrap();
    let (url, server) = serve(body, 1);
    let update = run(medigan(home.path()).args(["catalog", "update", "--url", &url]));
    assert!(
        update.status.success(),
        "{}",
        String::from_utf8_lossy(&update.stderr)
    );
    assert!(String::from_utf8_lossy(&update.stdout).contains("23 models"));
    assert_eq!(server.join().unwrap(), vec!["/global.json"]);

    let found = stdout_json(&run(medigan(home.path()).args([
        "search",
        "DCGAN",
        "MMG",
        "--offline",
        "--json",
    ])));
    assert_eq!(
        found,
        serde_json::json!([
            "00001_DCGAN_MMG_CALC_ROI",
            "00002_DCGAN_MMG_MASS_ROI",
            "00005_DCGAN_MMG_MASS_ROI"
        ])
    );
    let sources = stdout_json(&run(
        medigan(home.path()).args(["catalog", "sources", "--json"])
    ));
    let kinds: Vec<&str> = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["bundled", "upstream"]);
}

#[test]
fn a_failed_update_keeps_the_cached_catalogue() {
    let home = tempfile::tempdir().unwrap();
    let body = std::fs::read(reference("medigan-global.json")).unwrap();
    let (url, server) = serve(body, 1);
    assert!(
        run(medigan(home.path()).args(["catalog", "update", "--url", &url]))
            .status
            .success()
    );
    server.join().unwrap();
    let (url, server) = serve(b"{\"00001_BROKEN\": {\"execution\": 1}}".to_vec(), 1);
    let update = run(medigan(home.path()).args(["catalog", "update", "--url", &url]));
    server.join().unwrap();
    assert_eq!(update.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&update.stderr).contains("00001_BROKEN"));
    let models = stdout_json(&run(medigan(home.path()).args([
        "list",
        "--json",
        "--offline",
    ])));
    assert!(
        models.as_array().unwrap().len() >= 23,
        "the old copy is still there"
    );
}

/// Issue #31: `catalog update` without a network (here: a port nobody listens on) fails with
/// the URL and a hint that the catalogue in effect still works, not a bare network error.
#[test]
fn catalog_update_without_network_says_what_still_works() {
    let home = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/global.json", closed.local_addr().unwrap());
    drop(closed);
    let update = run(medigan(home.path()).args(["catalog", "update", "--url", &url]));
    assert_eq!(update.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&update.stderr);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(
        stderr.contains("hint:") && stderr.contains("medigan catalog sources"),
        "{stderr}"
    );
    let offline = run(medigan(home.path()).args(["--offline", "catalog", "update"]));
    assert_eq!(offline.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&offline.stderr);
    assert!(
        stderr.contains("needs the network") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn offline_url_catalogue_without_cache_says_so() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path()).args([
        "list",
        "--offline",
        "--catalog",
        "http://127.0.0.1:9/global.json",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("offline"));
}

#[test]
fn catalog_validate_names_the_field() {
    let home = tempfile::tempdir().unwrap();
    let mut root: Value =
        serde_json::from_str(&std::fs::read_to_string(reference("medigan-global.json")).unwrap())
            .unwrap();
    root["00003_CYCLEGAN_MMG_DENSITY_FULL"]["execution"]["image_size"] = Value::from("big");
    let file = home.path().join("edited.json");
    std::fs::write(&file, root.to_string()).unwrap();
    let output = run(medigan(home.path())
        .args(["catalog", "validate"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("`00003_CYCLEGAN_MMG_DENSITY_FULL`: execution.image_size"),
        "{text}"
    );
}

fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn generate_writes_images_and_a_manifest_and_shards_add_up_to_the_run() {
    let home = tempfile::tempdir().unwrap();
    let catalog = fixture("dcgan");
    let whole = home.path().join("whole");
    let output = run(medigan(home.path())
        .args([
            "generate", "90001", "-n", "7", "--seed", "3", "--batch", "2", "-o",
        ])
        .arg(&whole)
        .arg("--catalog")
        .arg(&catalog));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest = std::fs::read_to_string(whole.join("manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 1 + 7);
    let header: Value = serde_json::from_str(manifest.lines().next().unwrap()).unwrap();
    assert_eq!(header["model_id"], "90001_FIXTURE_DCGAN");
    assert_eq!(header["seed"], 3);

    let sharded = home.path().join("sharded");
    for shard in ["1/3", "2/3", "3/3"] {
        let output = run(medigan(home.path())
            .args([
                "generate",
                "90001",
                "-n",
                "7",
                "--seed",
                "3",
                "--batch",
                "5",
                "--threads",
                "1",
                "--shard",
                shard,
                "-o",
            ])
            .arg(&sharded)
            .arg("--catalog")
            .arg(&catalog));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(files_in(&whole).len(), 7);
    assert_eq!(
        files_in(&whole),
        files_in(&sharded),
        "the shards add up to the run, byte for byte"
    );
    assert!(sharded.join("manifest-shard-2-of-3.jsonl").is_file());
}

#[test]
fn generate_refuses_an_unknown_label_before_writing_anything() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let output = run(medigan(home.path())
        .args(["generate", "90002", "-n", "3", "--label", "cyst", "-o"])
        .arg(&out)
        .arg("--catalog")
        .arg(fixture("conditional")));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`cyst`") && stderr.contains("benign, malignant"),
        "{stderr}"
    );
    assert!(!out.exists() || files_in(&out).is_empty());
}

#[test]
fn generate_rejects_a_bad_shard_and_an_unwritable_output() {
    let home = tempfile::tempdir().unwrap();
    let output = run(medigan(home.path())
        .args(["generate", "90001", "-n", "3", "--shard", "0/4", "-o"])
        .arg(home.path().join("out"))
        .arg("--catalog")
        .arg(fixture("dcgan")));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'0/4'"));

    let file = home.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let output = run(medigan(home.path())
        .args(["generate", "90001", "-n", "3", "-o"])
        .arg(file.join("out"))
        .arg("--catalog")
        .arg(fixture("dcgan")));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not writable"));
}

#[test]
fn the_bundled_model_generates_offline_on_a_fresh_home() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("samples");
    let output = run(medigan(home.path())
        .args(["--offline", "generate", "00900", "-n", "3", "-o"])
        .arg(&out));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(files_in(&out).len(), 3);
    let header: Value = serde_json::from_str(
        std::fs::read_to_string(out.join("manifest.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["model_id"], "00900_PHANTOM_DEMO");
    let listed = stdout_json(&run(medigan(home.path()).args(["cache", "ls", "--json"])));
    assert_eq!(
        listed[0]["sha256"], header["package_sha256"],
        "the bundled zip is verified against the catalogue's sha256"
    );
}

#[test]
fn generate_with_a_package_missing_its_graph_names_the_file_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let package = home.path().join("package");
    std::fs::create_dir(&package).unwrap();
    let source = fixture("dcgan");
    std::fs::copy(&source, package.join("medigan.json")).unwrap();
    std::fs::copy(source.with_file_name("LICENSE"), package.join("LICENSE")).unwrap();
    let out = home.path().join("out");
    let output = run(medigan(home.path())
        .args(["--backend", "tract", "generate", "90001", "-n", "3", "-o"])
        .arg(&out)
        .arg("--catalog")
        .arg(package.join("medigan.json")));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("model.onnx") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!out.join("manifest.jsonl").exists());
    assert!(!out.exists() || files_in(&out).is_empty());
}
