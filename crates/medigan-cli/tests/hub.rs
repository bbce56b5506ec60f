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
