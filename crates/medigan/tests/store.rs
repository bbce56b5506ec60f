//! Tests of the package store: download, resume, verification, safe unzip, locking, cache
//! management. Every download goes to a `TestServer` on 127.0.0.1.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use medigan::error::Hint;
use medigan::home::Home;
use medigan::progress::{NoProgress, Progress};
use medigan::store::{
    FetchRequest, RECORD_FILE, Store, StoreConfig, StoreError, UnsafeReason, UnzipLimits,
};
use medigan_testkit::{Route, TestServer, ZipBuilder, zip_bomb, zip_of};
use sha2::{Digest, Sha256};

const LABEL: &str = "00001_TEST_MODEL";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Short timeouts and backoff so that failure tests stay fast.
fn fast_config() -> StoreConfig {
    StoreConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        attempts: 4,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..StoreConfig::default()
    }
}

fn store(home: &Path) -> Store {
    Store::with_config(Home::new(home), false, fast_config())
}

/// A store whose unpacking is capped by `unzip`.
fn store_with_unzip(home: &Path, unzip: UnzipLimits) -> Store {
    let config = StoreConfig {
        unzip,
        ..fast_config()
    };
    Store::with_config(Home::new(home), false, config)
}

fn offline_store(home: &Path) -> Store {
    Store::with_config(Home::new(home), true, fast_config())
}

/// A small valid package.
fn package() -> Vec<u8> {
    ZipBuilder::new()
        .file("medigan.json", br#"{"model": "test"}"#)
        .dir("weights/")
        .file("weights/model.onnx", &[7u8; 4096])
        .file("README.md", b"# test model\n")
        .finish()
}

/// A package big enough to be cut in the middle (stored, so compression does not shrink it).
fn big_package() -> Vec<u8> {
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    ZipBuilder::new()
        .file("medigan.json", b"{}")
        .stored("weights.bin", &payload)
        .finish()
}

/// The sha256 directories under `packages-v1/`.
fn installed_dirs(home: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home.join("packages-v1")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect()
}

/// Files and directories left in `tmp/`.
fn tmp_entries(home: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home.join("tmp")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[derive(Default)]
struct RecordingProgress {
    events: Mutex<Vec<String>>,
}

impl Progress for RecordingProgress {
    fn begin(&self, what: &str, total: Option<u64>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("begin {what} {total:?}"));
    }
    fn advance(&self, n: u64) {
        self.events.lock().unwrap().push(format!("advance {n}"));
    }
    fn finish(&self) {
        self.events.lock().unwrap().push("finish".to_owned());
    }
}

/// Serves `bytes` at `/pkg.zip` and fetches it (expecting success).
fn serve_and_fetch(
    home: &Path,
    bytes: &[u8],
) -> Result<medigan::store::InstalledPackage, StoreError> {
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(bytes.to_vec()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));
    store(home).fetch(&request, &NoProgress)
}

fn assert_unsafe(
    result: Result<medigan::store::InstalledPackage, StoreError>,
    entry: &str,
    reason: UnsafeReason,
) {
    match result {
        Err(StoreError::UnsafeArchive {
            entry: e,
            reason: r,
            ..
        }) => {
            assert_eq!(e, entry);
            assert_eq!(r, reason);
        }
        other => panic!("expected an unsafe archive error for `{entry}`, got {other:?}"),
    }
}

#[test]
fn download_verifies_and_installs_by_sha256() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(bytes.clone()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip")).with_sha256(sha256(&bytes));
    let progress = RecordingProgress::default();

    let package = store(home.path()).fetch(&request, &progress).unwrap();

    assert_eq!(package.sha256, sha256(&bytes));
    assert_eq!(
        package.dir,
        home.path().join("packages-v1").join(&package.sha256)
    );
    assert_eq!(
        std::fs::read(package.dir.join("weights/model.onnx")).unwrap(),
        vec![7u8; 4096]
    );
    assert!(package.dir.join(RECORD_FILE).is_file());
    assert!(tmp_entries(home.path()).is_empty(), "tmp/ not cleaned");
    let events = progress.events.lock().unwrap().clone();
    assert_eq!(
        events.first().unwrap(),
        &format!("begin download {LABEL} Some({})", bytes.len())
    );
    assert_eq!(events.last().unwrap(), "finish");
}

#[test]
fn second_fetch_uses_the_cache_when_the_server_is_gone() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(bytes.clone()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));
    let first = store(home.path()).fetch(&request, &NoProgress).unwrap();
    drop(server);

    let again = store(home.path()).fetch(&request, &NoProgress).unwrap();
    let offline = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();
    let by_hash = request.clone().with_sha256(sha256(&bytes));
    let offline_by_hash = offline_store(home.path())
        .fetch(&by_hash, &NoProgress)
        .unwrap();

    assert_eq!(first, again);
    assert_eq!(first, offline);
    assert_eq!(first, offline_by_hash);
}

#[test]
fn offline_without_cache_names_the_model_and_the_link() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(package()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));

    let err = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap_err();

    assert!(matches!(err, StoreError::Offline { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(LABEL), "{message}");
    assert!(message.contains(&request.link), "{message}");
    assert!(
        suggests(&err, medigan::error::Suggestion::Online { also_env: true }),
        "{err:?}"
    );
    assert!(
        server.requests().is_empty(),
        "offline mode touched the network"
    );
}

#[test]
fn hash_mismatch_installs_nothing() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(package()));
    let wrong = "0".repeat(64);
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip")).with_sha256(&wrong);

    let err = store(home.path()).fetch(&request, &NoProgress).unwrap_err();

    let StoreError::HashMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("expected a hash mismatch, got {err:?}");
    };
    assert_eq!(expected, &wrong);
    assert_eq!(actual, &sha256(&package()));
    assert!(err.hint().unwrap().contains("medigan cache rm"), "{err}");
    assert!(installed_dirs(home.path()).is_empty());
    assert!(
        tmp_entries(home.path()).is_empty(),
        "download kept after mismatch"
    );
}

#[test]
fn invalid_expected_sha256_is_refused_before_any_download() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(package()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip")).with_sha256("abc");

    let err = store(home.path()).fetch(&request, &NoProgress).unwrap_err();

    assert!(matches!(err, StoreError::BadSha256 { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn truncated_download_is_resumed_and_ends_correct() {
    let home = tempfile::tempdir().unwrap();
    let bytes = big_package();
    let server = TestServer::start();
    server.route(
        "GET",
        "/pkg.zip",
        Route::ok(bytes.clone()).truncated_first(2, 50_000),
    );
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip")).with_sha256(sha256(&bytes));

    let package = store(home.path()).fetch(&request, &NoProgress).unwrap();

    assert_eq!(package.sha256, sha256(&bytes));
    let ranges: Vec<Option<String>> = server
        .requests_to("/pkg.zip")
        .iter()
        .map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(
        ranges,
        vec![
            None,
            Some("bytes=50000-".to_owned()),
            Some("bytes=100000-".to_owned())
        ]
    );
}

#[test]
fn resume_sends_a_range_header_after_an_interrupted_transfer() {
    let home = tempfile::tempdir().unwrap();
    let bytes = big_package();
    let server = TestServer::start();
    server.route(
        "GET",
        "/pkg.zip",
        Route::ok(bytes.clone()).truncated_first(1, 80_000),
    );
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));
    let one_try = StoreConfig {
        attempts: 1,
        ..fast_config()
    };

    // A first process gives up after the cut, leaving its partial file behind.
    let first = Store::with_config(Home::new(home.path()), false, one_try.clone())
        .fetch(&request, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(first, StoreError::RetriesExhausted { .. }),
        "{first:?}"
    );
    assert_eq!(tmp_entries(home.path()).len(), 1, "partial file not kept");

    // The next one asks only for the rest.
    let progress = RecordingProgress::default();
    let package = Store::with_config(Home::new(home.path()), false, one_try)
        .fetch(&request, &progress)
        .unwrap();

    let requests = server.requests_to("/pkg.zip");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("range"), Some("bytes=80000-"));
    assert_eq!(package.sha256, sha256(&bytes));
    let events = progress.events.lock().unwrap().clone();
    assert_eq!(events[1], "advance 80000", "resume not shown: {events:?}");
    assert!(tmp_entries(home.path()).is_empty());
}

#[test]
fn resume_restarts_cleanly_when_the_server_ignores_range() {
    let home = tempfile::tempdir().unwrap();
    let bytes = big_package();
    let server = TestServer::start();
    server.route(
        "GET",
        "/pkg.zip",
        Route::ok(bytes.clone())
            .without_ranges()
            .truncated_first(1, 70_000),
    );
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip")).with_sha256(sha256(&bytes));

    let package = store(home.path()).fetch(&request, &NoProgress).unwrap();

    assert_eq!(package.sha256, sha256(&bytes));
    let requests = server.requests_to("/pkg.zip");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("range"), Some("bytes=70000-"));
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let server = TestServer::start();
    server.route(
        "GET",
        "/pkg.zip",
        Route::ok(bytes.clone()).failing_first(2, 503),
    );
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));

    let package = store(home.path()).fetch(&request, &NoProgress).unwrap();

    assert_eq!(package.sha256, sha256(&bytes));
    assert_eq!(server.requests_to("/pkg.zip").len(), 3);
}

#[test]
fn persistent_server_errors_give_up_after_the_configured_attempts() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::status(500));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));

    let err = store(home.path()).fetch(&request, &NoProgress).unwrap_err();

    assert!(
        matches!(&err, StoreError::RetriesExhausted { attempts: 4, source, .. }
            if matches!(**source, StoreError::HttpStatus { status: 500, .. })),
        "{err:?}"
    );
    assert_eq!(server.requests_to("/pkg.zip").len(), 4);
}

#[test]
fn client_errors_are_final() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let request = FetchRequest::new(LABEL, server.url("/missing.zip"));

    let err = store(home.path()).fetch(&request, &NoProgress).unwrap_err();

    assert!(
        matches!(err, StoreError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("/missing.zip"), "{err}");
    assert_eq!(server.requests().len(), 1, "a 404 was retried");
    assert!(tmp_entries(home.path()).is_empty());
}

#[test]
fn corrupt_zip_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let mut bytes = package();
    bytes.truncate(bytes.len() / 2);

    let err = serve_and_fetch(home.path(), &bytes).unwrap_err();

    assert!(matches!(err, StoreError::BadArchive { .. }), "{err:?}");
    assert!(installed_dirs(home.path()).is_empty());
    assert!(tmp_entries(home.path()).is_empty());
}

#[test]
fn zip_with_parent_dir_entry_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let bytes = zip_of(&[("ok.txt", b"fine"), ("../evil.txt", b"escaped")]);

    let result = serve_and_fetch(home.path(), &bytes);

    assert_unsafe(result, "../evil.txt", UnsafeReason::ParentDir);
    assert!(installed_dirs(home.path()).is_empty());
    assert!(tmp_entries(home.path()).is_empty());
    assert!(!home.path().join("evil.txt").exists());
}

#[test]
fn nested_parent_dir_entry_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let bytes = zip_of(&[("a/b/../../../evil.txt", b"escaped")]);

    let result = serve_and_fetch(home.path(), &bytes);

    assert_unsafe(result, "a/b/../../../evil.txt", UnsafeReason::ParentDir);
}

#[test]
fn absolute_path_entry_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let target = home.path().join("absolute.txt");
    let name = target.to_string_lossy().into_owned();
    let bytes = zip_of(&[(&name, b"escaped")]);

    let result = serve_and_fetch(home.path(), &bytes);

    assert_unsafe(result, &name, UnsafeReason::AbsolutePath);
    assert!(!target.exists());
    assert!(installed_dirs(home.path()).is_empty());
}

#[test]
fn symlink_entry_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let bytes = ZipBuilder::new()
        .file("medigan.json", b"{}")
        .symlink("passwd", "/etc/passwd")
        .finish();

    let result = serve_and_fetch(home.path(), &bytes);

    assert_unsafe(result, "passwd", UnsafeReason::Link);
    assert!(installed_dirs(home.path()).is_empty());
    assert!(tmp_entries(home.path()).is_empty());
}

#[test]
fn ratio_bomb_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let bytes = zip_bomb("zeros.bin", 8 << 20);

    let result = serve_and_fetch(home.path(), &bytes);

    match result {
        Err(StoreError::UnsafeArchive {
            entry,
            reason: UnsafeReason::Ratio { size, .. },
            ..
        }) => {
            assert_eq!(entry, "zeros.bin");
            assert_eq!(size, 8 << 20);
        }
        other => panic!("expected a ratio error, got {other:?}"),
    }
    assert!(installed_dirs(home.path()).is_empty());
}

#[test]
fn total_uncompressed_size_is_capped() {
    let home = tempfile::tempdir().unwrap();
    let bytes = zip_of(&[("a.bin", &[1u8; 600]), ("b.bin", &[2u8; 600])]);
    let store = store_with_unzip(
        home.path(),
        UnzipLimits {
            max_total_bytes: 1000,
            ..UnzipLimits::default()
        },
    );

    let result = store.install_bytes(LABEL, &bytes, None);

    assert_unsafe(
        result,
        "b.bin",
        UnsafeReason::TooLarge {
            total: 1200,
            limit: 1000,
        },
    );
}

#[test]
fn entry_count_is_capped() {
    let home = tempfile::tempdir().unwrap();
    let bytes = zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
    let store = store_with_unzip(
        home.path(),
        UnzipLimits {
            max_entries: 2,
            ..UnzipLimits::default()
        },
    );

    let result = store.install_bytes(LABEL, &bytes, None);

    assert_unsafe(
        result,
        "c",
        UnsafeReason::TooManyEntries { count: 3, limit: 2 },
    );
}

#[test]
fn local_directory_package_is_used_in_place() {
    let home = tempfile::tempdir().unwrap();
    let pkg = tempfile::tempdir().unwrap();
    std::fs::write(pkg.path().join("medigan.json"), b"{}").unwrap();
    std::fs::create_dir(pkg.path().join("weights")).unwrap();
    std::fs::write(pkg.path().join("weights/model.onnx"), [1u8, 2, 3]).unwrap();
    // The documented scheme: one "<sha256>  <path>\n" line per file, sorted by path.
    let listing = format!(
        "{}  medigan.json\n{}  weights/model.onnx\n",
        sha256(b"{}"),
        sha256(&[1, 2, 3])
    );
    let link = pkg.path().to_string_lossy().into_owned();
    let request = FetchRequest::new(LABEL, &link).with_sha256(sha256(listing.as_bytes()));

    let package = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();

    assert_eq!(package.dir, pkg.path().canonicalize().unwrap());
    assert_eq!(package.sha256, sha256(listing.as_bytes()));
    assert!(
        installed_dirs(home.path()).is_empty(),
        "directory was copied"
    );
}

#[test]
fn file_url_zip_is_installed() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let zip_path = home.path().join("local.zip");
    std::fs::write(&zip_path, &bytes).unwrap();
    let url = reqwest::Url::from_file_path(&zip_path).unwrap().to_string();
    let request = FetchRequest::new(LABEL, &url).with_sha256(sha256(&bytes));

    let package = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();
    let by_path = FetchRequest::new(LABEL, zip_path.to_string_lossy());
    let again = offline_store(home.path())
        .fetch(&by_path, &NoProgress)
        .unwrap();

    assert_eq!(package.sha256, sha256(&bytes));
    assert_eq!(package.source, url);
    assert!(package.dir.join("medigan.json").is_file());
    assert_eq!(again.dir, package.dir);
}

#[test]
fn a_pinned_local_zip_that_is_gone_is_served_from_the_cache() {
    // As after `medigan bundle import`: the entry is pinned, the original path is elsewhere.
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let zip_path = home.path().join("moved.zip");
    std::fs::write(&zip_path, &bytes).unwrap();
    let request = FetchRequest::new(LABEL, zip_path.to_string_lossy()).with_sha256(sha256(&bytes));
    let first = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();
    std::fs::remove_file(&zip_path).unwrap();

    let again = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();
    let unpinned = FetchRequest::new(LABEL, zip_path.to_string_lossy());
    let refused = offline_store(home.path()).fetch(&unpinned, &NoProgress);

    assert_eq!(again.dir, first.dir);
    assert!(again.dir.join("medigan.json").is_file());
    assert!(
        refused.is_err(),
        "an unpinned missing zip has nothing to be found by"
    );
}

#[test]
fn unsupported_link_scheme_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let request = FetchRequest::new(LABEL, "ftp://example.org/pkg.zip");

    let err = store(home.path()).fetch(&request, &NoProgress).unwrap_err();

    assert!(matches!(err, StoreError::BadLink { .. }), "{err:?}");
}

#[test]
fn embedded_bytes_are_verified_and_installed() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let store = offline_store(home.path());

    let wrong = store.install_bytes(LABEL, &bytes, Some(&"1".repeat(64)));
    let package = store
        .install_bytes(LABEL, &bytes, Some(&sha256(&bytes)))
        .unwrap();

    assert!(matches!(wrong, Err(StoreError::HashMismatch { .. })));
    assert_eq!(package.source, format!("embedded:{LABEL}"));
    assert!(package.dir.join("README.md").is_file());
}

#[test]
fn concurrent_fetches_of_the_same_link_install_once() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let server = TestServer::start();
    server.route(
        "GET",
        "/pkg.zip",
        Route::ok(bytes.clone()).delayed(Duration::from_millis(300)),
    );
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip")).with_sha256(sha256(&bytes));

    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| store(home.path()).fetch(&request, &NoProgress)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let first = results[0].as_ref().unwrap();
    let second = results[1].as_ref().unwrap();
    assert_eq!(first, second);
    assert_eq!(server.requests_to("/pkg.zip").len(), 1, "downloaded twice");
    assert_eq!(installed_dirs(home.path()), vec![sha256(&bytes)]);
    assert!(tmp_entries(home.path()).is_empty());
}

#[test]
fn list_shows_label_source_and_size() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let installed = serve_and_fetch(home.path(), &bytes).unwrap();

    let listed = store(home.path()).list().unwrap();

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256, installed.sha256);
    assert_eq!(listed[0].labels, vec![LABEL.to_owned()]);
    assert_eq!(listed[0].source, installed.source);
    assert_eq!(listed[0].files, 3);
    assert_eq!(listed[0].size, 17 + 4096 + 13);
}

#[test]
fn verify_detects_a_modified_file() {
    let home = tempfile::tempdir().unwrap();
    let installed = serve_and_fetch(home.path(), &package()).unwrap();
    let store = store(home.path());
    assert!(store.verify(LABEL).unwrap().is_ok());

    std::fs::write(installed.dir.join("weights/model.onnx"), [8u8; 4096]).unwrap();
    std::fs::remove_file(installed.dir.join("README.md")).unwrap();
    std::fs::write(installed.dir.join("extra.txt"), b"new").unwrap();
    let report = store.verify(&installed.sha256[..12]).unwrap();

    assert!(!report.is_ok());
    assert_eq!(report.changed, vec!["weights/model.onnx".to_owned()]);
    assert_eq!(report.missing, vec!["README.md".to_owned()]);
    assert_eq!(report.added, vec!["extra.txt".to_owned()]);
}

#[test]
fn remove_deletes_the_entry() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let server = TestServer::start();
    server.route("GET", "/pkg.zip", Route::ok(bytes.clone()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));
    let installed = store(home.path()).fetch(&request, &NoProgress).unwrap();

    let removed = store(home.path()).remove(LABEL).unwrap();

    assert_eq!(removed.sha256, installed.sha256);
    assert!(!installed.dir.exists());
    assert!(store(home.path()).list().unwrap().is_empty());
    assert!(tmp_entries(home.path()).is_empty());
    let err = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, StoreError::Offline { .. }), "{err:?}");
    let err = store(home.path()).remove(LABEL).unwrap_err();
    assert!(matches!(err, StoreError::NotCached { .. }), "{err:?}");
}

#[test]
fn stale_package_dir_without_record_is_replaced() {
    let home = tempfile::tempdir().unwrap();
    let bytes = package();
    let stale = home.path().join("packages-v1").join(sha256(&bytes));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("half-written"), b"x").unwrap();

    let package = offline_store(home.path())
        .install_bytes(LABEL, &bytes, None)
        .unwrap();

    assert_eq!(package.dir, stale);
    assert!(!stale.join("half-written").exists());
    assert!(store(home.path()).verify(LABEL).unwrap().is_ok());
    assert!(tmp_entries(home.path()).is_empty());
}

/// Flips the bytes of a cached file, keeping its size.
fn corrupt(path: &Path) {
    let bytes: Vec<u8> = std::fs::read(path).unwrap().iter().map(|b| !b).collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_changed_cached_file_is_refused_offline_and_downloaded_again_online() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let bytes = package();
    server.route("GET", "/pkg.zip", Route::ok(bytes.clone()));
    let request = FetchRequest::new(LABEL, server.url("/pkg.zip"));
    let installed = store(home.path()).fetch(&request, &NoProgress).unwrap();
    let weights = installed.dir.join("weights/model.onnx");
    corrupt(&weights);

    let err = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .expect_err("a changed package is never used");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Damaged { .. }), "{message}");
    assert!(
        message.contains("weights/model.onnx")
            && suggests(&err, medigan::error::Suggestion::Online { also_env: true }),
        "{message}"
    );

    let repaired = store(home.path()).fetch(&request, &NoProgress).unwrap();
    assert_eq!(repaired.sha256, sha256(&bytes));
    assert_eq!(std::fs::read(&weights).unwrap(), vec![7u8; 4096]);
    assert_eq!(server.requests_to("/pkg.zip").len(), 2, "downloaded again");
    let report = store(home.path()).verify(LABEL).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_missing_cached_file_is_restored_from_a_local_archive() {
    let home = tempfile::tempdir().unwrap();
    let zip = home.path().join("pkg.zip");
    std::fs::write(&zip, package()).unwrap();
    let request = FetchRequest::new(LABEL, zip.display().to_string());
    let installed = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();
    std::fs::remove_file(installed.dir.join("README.md")).unwrap();
    let again = offline_store(home.path())
        .fetch(&request, &NoProgress)
        .unwrap();
    assert_eq!(
        std::fs::read(again.dir.join("README.md")).unwrap(),
        b"# test model\n"
    );
}

/// Whether the error's hint suggests `action` (as data: each front end words it its own way).
fn suggests(err: &StoreError, action: medigan::error::Suggestion) -> bool {
    err.advice()
        .is_some_and(|advice| advice.suggestions().any(|s| s == action))
}
