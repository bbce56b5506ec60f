//! `medigan info hf://...` and `medigan generate hf://...` against a local server that answers
//! the Hugging Face Hub's revision and resolve endpoints, then the same offline from the cache.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use medigan_testkit::{Route, TestServer};
use sha2::{Digest, Sha256};

mod common;
use common::{medigan, run};

const REPO: &str = "medigan-test/fixture-rgb";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The native fixture package `tests/fixtures/rgb` published on a Hub-like server: the ONNX
/// graph through an LFS redirect, the other files directly.
fn serve_fixture(hub: &TestServer) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/rgb");
    let mut siblings = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let resolve = format!("/{REPO}/resolve/{COMMIT}/{name}");
        if name.ends_with(".onnx") {
            let sha = hex::encode(Sha256::digest(&bytes));
            let storage = format!("/lfs-storage/{sha}");
            hub.route(
                "GET",
                &resolve,
                Route::status(302).with_header("Location", &hub.url(&storage)),
            );
            hub.route("GET", &storage, Route::ok(bytes.clone()));
            siblings.push(serde_json::json!({
                "rfilename": name, "size": bytes.len(),
                "lfs": {"sha256": sha, "size": bytes.len(), "pointerSize": 133}
            }));
        } else {
            siblings.push(serde_json::json!({"rfilename": name, "size": bytes.len()}));
            hub.route("GET", &resolve, Route::ok(bytes));
        }
    }
    let answer = serde_json::json!({"id": REPO, "sha": COMMIT, "siblings": siblings});
    hub.route(
        "GET",
        &format!("/api/models/{REPO}/revision/main"),
        Route::ok(answer.to_string()),
    );
}

fn hub_medigan(home: &Path, endpoint: &str) -> Command {
    let mut command = medigan(home);
    command
        .env("HF_ENDPOINT", endpoint)
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE");
    command
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn pngs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count()
}

#[test]
fn info_and_generate_from_a_hub_link_then_offline_from_the_cache() {
    let home = tempfile::tempdir().unwrap();
    let link = format!("hf://{REPO}");
    let endpoint;
    {
        let hub = TestServer::start();
        serve_fixture(&hub);
        endpoint = hub.url("");
        let info = ok(&run(
            hub_medigan(home.path(), &endpoint).args(["info", &link])
        ));
        assert!(info.contains("90006_FIXTURE_RGB"), "{info}");
        assert!(info.contains("README.md"), "the card is named: {info}");

        let out = home.path().join("online");
        ok(&run(hub_medigan(home.path(), &endpoint)
            .args(["generate", &link, "-n", "2", "-o"])
            .arg(&out)));
        assert_eq!(pngs(&out), 2);
        assert_eq!(
            hub.requests_to(&format!("/api/models/{REPO}/revision/main"))
                .len(),
            1,
            "resolved once, then pinned"
        );
    } // the server is gone

    let out = home.path().join("offline");
    ok(&run(hub_medigan(home.path(), &endpoint)
        .args(["--offline", "generate", &link, "-n", "2", "-o"])
        .arg(&out)));
    assert_eq!(pngs(&out), 2);
    let info = ok(&run(hub_medigan(home.path(), &endpoint)
        .env("HF_HUB_OFFLINE", "1")
        .args(["info", &link])));
    assert!(info.contains("90006_FIXTURE_RGB"), "{info}");
}

#[test]
fn a_gated_hub_repository_says_how_to_get_access() {
    let home = tempfile::tempdir().unwrap();
    let hub = TestServer::start();
    hub.route(
        "GET",
        &format!("/api/models/{REPO}/revision/main"),
        Route::status(401),
    );
    let output =
        run(hub_medigan(home.path(), &hub.url("")).args(["info", &format!("hf://{REPO}")]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        stderr.contains("accept its terms") && stderr.contains("HF_TOKEN"),
        "{stderr}"
    );
}

const HUB_TOKEN: &str = "hf-write-token-789";
const CONTRIBUTED: &str = "00100_TEST_HUB";
const COMMITTED: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// Standard base64 decoding (the commit API's inline file contents).
fn unbase64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)) << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// A copy of the DCGAN fixture with the fields a contribution requires filled in.
fn contribution(dir: &Path) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dcgan");
    let package = dir.join("my-model");
    std::fs::create_dir_all(&package).unwrap();
    for file in ["model.onnx", "LICENSE", "README.md", "medigan.json"] {
        std::fs::copy(source.join(file), package.join(file)).unwrap();
    }
    let path = package.join("medigan.json");
    let mut catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    catalog["90001_FIXTURE_DCGAN"]["description"]["authors"] =
        serde_json::json!([{"name": "Doe, Jane", "affiliation": "Uni A"}]);
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    package
}

#[test]
fn contribute_to_the_hub_commits_the_package_which_then_generates_from_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let package = contribution(dir.path());
    let onnx = std::fs::read(package.join("model.onnx")).unwrap();
    let oid = hex::encode(Sha256::digest(&onnx));
    let hub = TestServer::start();
    let repo = "jane/tiny-dcgan";
    let upload = format!("/lfs-upload/{oid}");
    let batch = serde_json::json!({"transfer": "basic", "objects": [{
        "oid": oid, "size": onnx.len(),
        "actions": {"upload": {"href": hub.url(&upload), "header": {"X-Upload-Check": "ok"}}}
    }]});
    hub.route(
        "POST",
        &format!("/{repo}.git/info/lfs/objects/batch"),
        Route::ok(batch.to_string()),
    );
    hub.route("PUT", &upload, Route::ok(""));
    hub.route(
        "POST",
        &format!("/api/models/{repo}/commit/main"),
        Route::ok(
            serde_json::json!({"commitOid": COMMITTED, "commitUrl": hub.url("/c")}).to_string(),
        ),
    );
    let home = dir.path().join("home");
    let contribute = |extra: &[&str]| {
        run(hub_medigan(&home, &hub.url(""))
            .current_dir(dir.path())
            .env_remove("GITHUB_TOKEN")
            .env_remove("ZENODO_TOKEN")
            .args(["contribute", package.to_str().unwrap(), "--id", CONTRIBUTED])
            .args(["--to", &format!("hf://{repo}"), "--json"])
            .args(extra))
    };

    let refused = contribute(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("HF_TOKEN") && stderr.contains("--hf-token"),
        "{stderr}"
    );
    assert!(hub.requests().is_empty(), "nothing is sent without a token");

    let report: serde_json::Value =
        serde_json::from_str(&ok(&contribute(&["--hf-token", HUB_TOKEN]))).unwrap();
    assert_eq!(report["hub"]["commit"], COMMITTED);
    let entry = &report["entry"][CONTRIBUTED];
    assert_eq!(
        entry["execution"]["package_link"],
        format!("hf://{repo}@{COMMITTED}")
    );

    // The weights went through LFS (with the batch's headers, without the token), the text
    // files inline in the commit, the card among them.
    let put = &hub.requests_to(&upload)[0];
    assert_eq!(put.body, onnx);
    assert_eq!(put.header("X-Upload-Check"), Some("ok"));
    let commit = &hub.requests_to(&format!("/api/models/{repo}/commit/main"))[0];
    assert_eq!(
        commit.header("Authorization"),
        Some(format!("Bearer {HUB_TOKEN}").as_str())
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(commit.body.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["key"], "header");
    assert!(
        lines[0]["value"]["summary"]
            .as_str()
            .unwrap()
            .contains(CONTRIBUTED)
    );
    let mut committed: Vec<(String, Vec<u8>)> = Vec::new();
    for line in &lines[1..] {
        let value = &line["value"];
        let path = value["path"].as_str().unwrap().to_owned();
        match line["key"].as_str().unwrap() {
            "file" => committed.push((path, unbase64(value["content"].as_str().unwrap()))),
            "lfsFile" => {
                assert_eq!(value["oid"], oid.as_str());
                committed.push((path, onnx.clone()));
            }
            other => panic!("unexpected line {other}"),
        }
    }
    let names: Vec<&str> = committed.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        ["LICENSE", "README.md", "medigan.json", "model.onnx"]
    );
    let readme = std::fs::read(package.join("README.md")).unwrap();
    assert_eq!(committed[1].1, readme);

    // The Hub now serves that commit: the proposed entry (link and sha256) generates from it.
    let mut siblings = Vec::new();
    for (name, bytes) in &committed {
        hub.route(
            "GET",
            &format!("/{repo}/resolve/{COMMITTED}/{name}"),
            Route::ok(bytes.clone()),
        );
        siblings.push(serde_json::json!({"rfilename": name, "size": bytes.len()}));
    }
    hub.route(
        "GET",
        &format!("/api/models/{repo}/revision/{COMMITTED}"),
        Route::ok(serde_json::json!({"sha": COMMITTED, "siblings": siblings}).to_string()),
    );
    let catalog = dir.path().join("entry.json");
    std::fs::write(&catalog, report["entry"].to_string()).unwrap();
    let out = dir.path().join("samples");
    ok(&run(hub_medigan(&home, &hub.url(""))
        .arg("--catalog")
        .arg(&catalog)
        .args(["generate", CONTRIBUTED, "-n", "2", "-o"])
        .arg(&out)));
    assert_eq!(pngs(&out), 2);
}
