//! Tests of `hf://` package links against a local server that answers the Hugging Face Hub's
//! revision and resolve endpoints the way the Hub does: the API lists the commit and its files
//! (LFS ones with their sha256), small files are served from `resolve/`, LFS files redirect
//! (302) to a storage host (a second server, so that the token must not follow), with ETags.

use std::path::Path;
use std::time::Duration;

use medigan::error::Hint;
use medigan::home::Home;
use medigan::progress::NoProgress;
use medigan::store::{FetchRequest, HubConfig, Store, StoreConfig, StoreError};
use medigan_testkit::{Route, TestServer, ZipBuilder};
use sha2::{Digest, Sha256};

const LABEL: &str = "00001_HUB_MODEL";
const REPO: &str = "medigan-test/tiny-model";
const COMMIT_1: &str = "1111111111111111111111111111111111111111";
const COMMIT_2: &str = "2222222222222222222222222222222222222222";
const TOKEN: &str = "hf_test_token";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A Hub on one server and its LFS storage on another.
struct Hub {
    api: TestServer,
    lfs: TestServer,
}

/// One file of a repository: path, content, whether it is stored in LFS.
type RepoFile = (&'static str, Vec<u8>, bool);

impl Hub {
    fn start() -> Hub {
        Hub {
            api: TestServer::start(),
            lfs: TestServer::start(),
        }
    }

    /// Publishes `files` as commit `commit` of `repo`, reachable as revision `revision`.
    fn publish(&self, repo: &str, revision: &str, commit: &str, files: &[RepoFile]) {
        let mut siblings = Vec::new();
        for (name, bytes, lfs) in files {
            let resolve = format!("/{repo}/resolve/{commit}/{name}");
            if *lfs {
                let sha = sha256(bytes);
                let storage = format!("/lfs/{sha}");
                self.lfs.route(
                    "GET",
                    &storage,
                    Route::ok(bytes.clone()).with_header("ETag", &format!("\"{sha}\"")),
                );
                self.api.route(
                    "GET",
                    &resolve,
                    Route::status(302)
                        .with_header("Location", &self.lfs.url(&storage))
                        .with_header("X-Linked-Etag", &format!("\"{sha}\""))
                        .with_header("X-Repo-Commit", commit),
                );
                siblings.push(serde_json::json!({
                    "rfilename": name, "size": bytes.len(),
                    "lfs": {"sha256": sha, "size": bytes.len(), "pointerSize": 134}
                }));
            } else {
                self.api.route(
                    "GET",
                    &resolve,
                    Route::ok(bytes.clone())
                        .with_header("ETag", &format!("\"{}\"", &sha256(bytes)[..40]))
                        .with_header("X-Repo-Commit", commit),
                );
                siblings.push(serde_json::json!({"rfilename": name, "size": bytes.len()}));
            }
        }
        let answer = serde_json::json!({
            "id": repo, "sha": commit, "siblings": siblings, "gated": false, "private": false
        });
        self.api.route(
            "GET",
            &format!("/api/models/{repo}/revision/{revision}"),
            Route::ok(answer.to_string()).with_header("Content-Type", "application/json"),
        );
    }

    fn config(&self, token: Option<&str>) -> StoreConfig {
        StoreConfig {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            hub: HubConfig {
                endpoint: self.api.url(""),
                token: token.map(str::to_owned),
                offline: false,
            },
            ..StoreConfig::default()
        }
    }

    fn store(&self, home: &Path) -> Store {
        Store::with_config(Home::new(home), false, self.config(Some(TOKEN)))
    }

    fn revision_requests(&self, repo: &str, revision: &str) -> usize {
        self.api
            .requests_to(&format!("/api/models/{repo}/revision/{revision}"))
            .len()
    }
}

fn weights() -> Vec<u8> {
    (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A package as a repository: card, metadata, LFS weights in a folder, git metadata.
fn repo_files() -> Vec<RepoFile> {
    vec![
        (
            ".gitattributes",
            b"*.onnx filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
            false,
        ),
        (
            "README.md",
            b"---\nlicense: mit\n---\n# tiny model\n".to_vec(),
            false,
        ),
        ("medigan.json", br#"{"model": "hub"}"#.to_vec(), false),
        ("weights/model.onnx", weights(), true),
    ]
}

fn installed_dirs(home: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home.join("packages-v1")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "refs")
        .collect();
    names.sort();
    names
}

fn fetch(store: &Store, link: &str) -> Result<medigan::store::InstalledPackage, StoreError> {
    store.fetch(&FetchRequest::new(LABEL, link), &NoProgress)
}

#[test]
fn a_repository_is_resolved_to_its_commit_downloaded_verified_and_pinned() {
    let home = tempfile::tempdir().unwrap();
    let hub = Hub::start();
    hub.publish(REPO, "main", COMMIT_1, &repo_files());
    let link = format!("hf://{REPO}");

    let package = fetch(&hub.store(home.path()), &link).unwrap();
    assert_eq!(package.source, format!("hf://{REPO}@{COMMIT_1}"));
    assert_eq!(
        std::fs::read(package.dir.join("weights/model.onnx")).unwrap(),
        weights()
    );
    assert!(
        package.dir.join("README.md").is_file(),
        "the card comes with the package"
    );
    assert!(!package.dir.join(".gitattributes").exists());
    assert_eq!(
        installed_dirs(home.path()),
        std::slice::from_ref(&package.sha256)
    );

    // The token goes to the Hub, not to the storage host the LFS file redirects to.
    let api = hub
        .api
        .requests_to(&format!("/api/models/{REPO}/revision/main"));
    assert_eq!(api[0].header("Authorization"), Some("Bearer hf_test_token"));
    let resolve = hub
        .api
        .requests_to(&format!("/{REPO}/resolve/{COMMIT_1}/weights/model.onnx"));
    assert_eq!(
        resolve[0].header("Authorization"),
        Some("Bearer hf_test_token")
    );
    let storage = hub.lfs.requests_to(&format!("/lfs/{}", sha256(&weights())));
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0].header("Authorization"), None);

    // The revision moves: the link stays pinned to the commit it was first resolved to,
    // without asking the Hub again, online and offline.
    let mut moved = repo_files();
    moved[2].1 = br#"{"model": "hub", "version": 2}"#.to_vec();
    hub.publish(REPO, "main", COMMIT_2, &moved);
    let again = fetch(&hub.store(home.path()), &link).unwrap();
    assert_eq!(again.sha256, package.sha256);
    assert_eq!(hub.revision_requests(REPO, "main"), 1);
    let offline = Store::with_config(Home::new(home.path()), true, hub.config(None));
    assert_eq!(fetch(&offline, &link).unwrap().sha256, package.sha256);

    // The pinned link and an explicit revision are their own links.
    hub.publish(REPO, COMMIT_2, COMMIT_2, &moved);
    let newer = fetch(&hub.store(home.path()), &format!("hf://{REPO}@{COMMIT_2}")).unwrap();
    assert_ne!(newer.sha256, package.sha256);
    assert_eq!(
        std::fs::read(newer.dir.join("medigan.json")).unwrap(),
        moved[2].1
    );
}

#[test]
fn a_folder_or_a_zip_in_the_repository_is_the_package() {
    let home = tempfile::tempdir().unwrap();
    let hub = Hub::start();
    let zip = ZipBuilder::new()
        .file("medigan.json", br#"{"model": "zipped"}"#)
        .file("README.md", b"# zipped\n")
        .finish();
    hub.publish(
        REPO,
        "v1",
        COMMIT_1,
        &[
            ("README.md", b"# repo card\n".to_vec(), false),
            (
                "pkg/medigan.json",
                br#"{"model": "folder"}"#.to_vec(),
                false,
            ),
            ("pkg/model.onnx", weights(), true),
            ("dist/package.zip", zip.clone(), true),
        ],
    );
    let store = hub.store(home.path());
    let folder = fetch(&store, &format!("hf://{REPO}@v1/pkg")).unwrap();
    assert!(folder.dir.join("model.onnx").is_file());
    assert!(
        !folder.dir.join("README.md").exists(),
        "only the folder's files"
    );
    assert_eq!(folder.source, format!("hf://{REPO}@{COMMIT_1}/pkg"));

    let zipped = fetch(&store, &format!("hf://{REPO}@v1/dist/package.zip")).unwrap();
    assert_eq!(
        zipped.sha256,
        sha256(&zip),
        "an archive is stored under its own sha256"
    );
    assert_eq!(
        std::fs::read(zipped.dir.join("medigan.json")).unwrap(),
        br#"{"model": "zipped"}"#
    );
}

#[test]
fn a_gated_repository_is_refused_with_how_to_get_access() {
    let home = tempfile::tempdir().unwrap();
    let hub = Hub::start();
    let api = format!("/api/models/{REPO}/revision/main");
    for (status, token) in [(401, None), (403, Some(TOKEN))] {
        hub.api.route("GET", &api, Route::status(status));
        let store = Store::with_config(Home::new(home.path()), false, hub.config(token));
        let err = fetch(&store, &format!("hf://{REPO}")).unwrap_err();
        assert!(matches!(err, StoreError::HubRefused { .. }), "{err:?}");
        let hint = err.hint().unwrap();
        assert!(hint.contains("accept its terms"), "{hint}");
        assert!(hint.contains(&hub.api.url(&format!("/{REPO}"))), "{hint}");
        assert!(hint.contains("HF_TOKEN"), "{hint}");
    }
    assert_eq!(
        hub.api.requests_to(&api).len(),
        2,
        "a refusal is not retried"
    );
    assert!(installed_dirs(home.path()).is_empty());
}

#[test]
fn a_file_that_differs_from_the_hub_hash_installs_nothing() {
    let home = tempfile::tempdir().unwrap();
    let hub = Hub::start();
    hub.publish(REPO, "main", COMMIT_1, &repo_files());
    // The storage host serves other bytes of the same size under the LFS file's address.
    let mut other = weights();
    other[100] ^= 0xff;
    hub.lfs.route(
        "GET",
        &format!("/lfs/{}", sha256(&weights())),
        Route::ok(other),
    );
    let err = fetch(&hub.store(home.path()), &format!("hf://{REPO}")).unwrap_err();
    let StoreError::HashMismatch { expected, link, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(expected, &sha256(&weights()));
    assert!(link.contains("weights/model.onnx"), "{link}");
    assert!(installed_dirs(home.path()).is_empty());
    let tmp: Vec<_> = std::fs::read_dir(home.path().join("tmp"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        tmp.iter().all(|n| !n.to_string_lossy().ends_with(".part")),
        "{tmp:?}"
    );
}

#[test]
fn a_truncated_download_fails_cleanly_and_resumes_on_the_next_run() {
    let home = tempfile::tempdir().unwrap();
    let hub = Hub::start();
    hub.publish(REPO, "main", COMMIT_1, &repo_files());
    let storage = format!("/lfs/{}", sha256(&weights()));
    hub.lfs.route(
        "GET",
        &storage,
        Route::ok(weights()).truncated_first(3, 5_000),
    );
    let err = fetch(&hub.store(home.path()), &format!("hf://{REPO}")).unwrap_err();
    assert!(err.to_string().contains("weights/model.onnx"), "{err}");
    assert!(installed_dirs(home.path()).is_empty());

    let package = fetch(&hub.store(home.path()), &format!("hf://{REPO}")).unwrap();
    assert_eq!(
        std::fs::read(package.dir.join("weights/model.onnx")).unwrap(),
        weights()
    );
    let last = hub.lfs.requests_to(&storage);
    assert_eq!(last.last().unwrap().header("Range"), Some("bytes=15000-"));
}

#[test]
fn hub_offline_and_bad_links_make_no_request() {
    let home = tempfile::tempdir().unwrap();
    let hub = Hub::start();
    hub.publish(REPO, "main", COMMIT_1, &repo_files());
    let mut config = hub.config(None);
    config.hub.offline = true;
    let store = Store::with_config(Home::new(home.path()), false, config);
    let err = fetch(&store, &format!("hf://{REPO}")).unwrap_err();
    assert!(matches!(err, StoreError::Offline { .. }), "{err:?}");
    for bad in ["hf://just-an-owner", "hf://o/m/../../etc", "hf://o/m@"] {
        let err = fetch(&hub.store(home.path()), bad).unwrap_err();
        assert!(matches!(err, StoreError::BadLink { .. }), "{bad}: {err:?}");
    }
    assert!(hub.api.requests().is_empty());
}
