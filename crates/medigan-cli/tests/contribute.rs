//! `medigan init-model` and `medigan contribute` end to end, against a local server playing
//! Zenodo's deposition API and GitHub's issues API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use medigan_testkit::{RecordedRequest, Route, TestServer};
use serde_json::{Value, json};

const ZENODO_TOKEN: &str = "zenodo-secret-token-123";
const GITHUB_TOKEN: &str = "github-secret-token-456";
const ID: &str = "00100_TEST_DCGAN";

/// A `medigan` command with its own home, pointed at `server` for Zenodo and GitHub, with the
/// test tokens in the environment.
fn medigan(home: &Path, server: &TestServer) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medigan"));
    command
        .current_dir(home)
        .env("MEDIGAN_HOME", home.join("home"))
        .env_remove("MEDIGAN_CATALOG")
        .env_remove("MEDIGAN_CATALOG_URL")
        .env_remove("MEDIGAN_OFFLINE")
        .env("MEDIGAN_ZENODO_URL", server.url(""))
        .env("MEDIGAN_GITHUB_API_URL", server.url("/gh"))
        .env("ZENODO_TOKEN", ZENODO_TOKEN)
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("NO_COLOR", "1");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the medigan binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the DCGAN fixture with the fields a contribution requires filled in.
fn package(dir: &Path) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dcgan");
    let package = dir.join("my-model");
    std::fs::create_dir_all(&package).unwrap();
    for file in ["model.onnx", "LICENSE", "README.md", "medigan.json"] {
        std::fs::copy(source.join(file), package.join(file)).unwrap();
    }
    let path = package.join("medigan.json");
    let mut catalog: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    catalog["90001_FIXTURE_DCGAN"]["description"]["authors"] =
        json!([{"name": "Doe, Jane", "affiliation": "Uni A"}]);
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    package
}

/// Routes of a Zenodo that accepts everything for deposition 4242, and of GitHub.
fn zenodo_and_github(server: &TestServer) {
    let created = json!({
        "id": 4242,
        "links": {"bucket": server.url("/api/files/bucket-4242"), "html": server.url("/deposit/4242")},
        "metadata": {"prereserve_doi": {"doi": "10.5072/zenodo.4242"}}
    });
    server.route(
        "POST",
        "/api/deposit/depositions",
        Route::ok(created.to_string()).with_status(201),
    );
    server.route(
        "PUT",
        &format!("/api/files/bucket-4242/{ID}.zip"),
        Route::ok(r#"{"key": "x"}"#).with_status(201),
    );
    server.route("PUT", "/api/deposit/depositions/4242", Route::ok("{}"));
    server.route(
        "POST",
        "/api/deposit/depositions/4242/actions/publish",
        Route::ok(r#"{"doi": "10.5072/zenodo.4242"}"#).with_status(202),
    );
    server.route(
        "DELETE",
        "/api/deposit/depositions/4242",
        Route::status(204),
    );
    server.route(
        "POST",
        "/gh/repos/owner/catalog/issues",
        Route::ok(r#"{"html_url": "https://github.com/owner/catalog/issues/7", "number": 7}"#)
            .with_status(201),
    );
}

/// A package to contribute, and a server playing a Zenodo that accepts everything for
/// deposition 4242 and GitHub, in a temporary folder: the set-up of the contribute tests.
struct Setup {
    dir: tempfile::TempDir,
    package: PathBuf,
    server: TestServer,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let package = package(dir.path());
        let server = TestServer::start();
        zenodo_and_github(&server);
        Setup {
            dir,
            package,
            server,
        }
    }

    /// `medigan contribute PACKAGE --id ID FLAGS...`.
    fn contribute(&self, flags: &[&str]) -> Output {
        run(medigan(self.dir.path(), &self.server)
            .args(["contribute", self.package.to_str().unwrap(), "--id", ID])
            .args(flags))
    }
}

fn calls(requests: &[RecordedRequest]) -> Vec<(String, String)> {
    requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect()
}

fn json_body(request: &RecordedRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap_or_else(|e| panic!("{} body: {e}", request.path))
}

fn assert_no_secret(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        let s = text(stream);
        assert!(
            !s.contains(ZENODO_TOKEN) && !s.contains(GITHUB_TOKEN),
            "a token was printed: {s}"
        );
    }
}

#[test]
fn contribute_uploads_publishes_and_opens_the_issue() {
    let setup = Setup::new();
    let (dir, server) = (&setup.dir, &setup.server);
    let output = setup.contribute(&[
        "--json",
        "--publish",
        "--catalog-repo",
        "owner/catalog",
        "--zip",
        "out/pkg.zip",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_no_secret(&output);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let zip = std::fs::read(dir.path().join("out/pkg.zip")).unwrap();

    let requests = server.requests();
    let bucket = format!("/api/files/bucket-4242/{ID}.zip");
    assert_eq!(
        calls(&requests),
        [
            ("POST".into(), "/api/deposit/depositions".into()),
            ("PUT".into(), bucket),
            ("PUT".into(), "/api/deposit/depositions/4242".into()),
            (
                "POST".into(),
                "/api/deposit/depositions/4242/actions/publish".into()
            ),
            ("POST".into(), "/gh/repos/owner/catalog/issues".into()),
        ]
    );
    for request in &requests[..4] {
        assert_eq!(
            request.header("Authorization"),
            Some(&*format!("Bearer {ZENODO_TOKEN}"))
        );
    }
    assert_eq!(json_body(&requests[0]), json!({}));
    assert_eq!(requests[1].body, zip, "the bucket receives the packed zip");

    let metadata = &json_body(&requests[2])["metadata"];
    assert_eq!(
        metadata["title"],
        "Test fixture: unconditional DCGAN generator (random weights)"
    );
    assert_eq!(metadata["upload_type"], "software");
    assert_eq!(
        metadata["creators"],
        json!([{"name": "Doe, Jane", "affiliation": "Uni A"}])
    );
    assert_eq!(metadata["license"], "mit");
    let keywords = metadata["keywords"].as_array().unwrap();
    assert!(keywords.contains(&json!("MMG")) && keywords.contains(&json!("breast")));
    assert!(
        metadata["description"]
            .as_str()
            .unwrap()
            .contains("Not a trained model")
    );

    let issue = &requests[4];
    assert_eq!(
        issue.header("Authorization"),
        Some(&*format!("Bearer {GITHUB_TOKEN}"))
    );
    assert_eq!(issue.header("Accept"), Some("application/vnd.github+json"));
    let issue = json_body(issue);
    assert!(
        issue["title"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Add model {ID}: "))
    );
    let body = issue["body"].as_str().unwrap();
    let block = body
        .split("```json\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let proposed: Value = serde_json::from_str(block).unwrap();
    let execution = &proposed[ID]["execution"];
    assert_eq!(
        execution["package_link"],
        server.url(&format!("/records/4242/files/{ID}.zip?download=1"))
    );
    assert_eq!(execution["sha256"], report["sha256"]);
    assert_eq!(execution["package_name"], ID);
    assert_eq!(
        proposed[ID]["description"]["doi"],
        json!(["10.5072/zenodo.4242"])
    );

    assert_eq!(
        report["issue_url"],
        "https://github.com/owner/catalog/issues/7"
    );
    assert_eq!(report["deposition"]["published"], true);
    assert_eq!(report["test"]["verdict"], "pass");
}

#[test]
fn contribute_prints_the_links_of_a_draft() {
    let setup = Setup::new();
    let (dir, server) = (&setup.dir, &setup.server);
    let output = setup.contribute(&["--catalog-repo", "owner/catalog"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&server.url("/deposit/4242")), "{stdout}");
    assert!(stdout.contains("draft"), "{stdout}");
    assert!(
        stdout.contains("https://github.com/owner/catalog/issues/7"),
        "{stdout}"
    );
    assert!(
        dir.path().join(format!("{ID}.zip")).is_file(),
        "default zip path: ID.zip"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/actions/publish")),
        "no publish without --publish"
    );
}

#[test]
fn a_failing_upload_deletes_the_draft_and_opens_no_issue() {
    let setup = Setup::new();
    let server = &setup.server;
    server.route(
        "PUT",
        &format!("/api/files/bucket-4242/{ID}.zip"),
        Route::status(500),
    );
    let output = setup.contribute(&["--publish", "--catalog-repo", "owner/catalog"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("uploading the package failed: HTTP 500"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the draft deposition 4242 was deleted, nothing was published"),
        "{stderr}"
    );
    assert_no_secret(&output);
    let requests = server.requests();
    assert_eq!(
        calls(&requests).last().unwrap(),
        &(
            "DELETE".to_string(),
            "/api/deposit/depositions/4242".to_string()
        )
    );
    assert_eq!(
        requests.last().unwrap().header("Authorization"),
        Some(&*format!("Bearer {ZENODO_TOKEN}"))
    );
    assert!(
        requests.iter().all(|r| !r.path.starts_with("/gh/")),
        "no issue opened"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.path.ends_with("/actions/publish"))
    );
}

#[test]
fn a_draft_that_cannot_be_deleted_is_named_with_its_url() {
    let setup = Setup::new();
    let server = &setup.server;
    server.route("PUT", "/api/deposit/depositions/4242", Route::status(400));
    server.route(
        "DELETE",
        "/api/deposit/depositions/4242",
        Route::status(500),
    );
    let output = setup.contribute(&["--catalog-repo", "owner/catalog"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("setting the deposition metadata failed: HTTP 400"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "deleting the draft failed too (HTTP 500): draft deposition 4242 is left at {}",
            server.url("/deposit/4242")
        )),
        "{stderr}"
    );
}

#[test]
fn an_expired_token_stops_at_the_first_request() {
    let setup = Setup::new();
    let server = &setup.server;
    server.route(
        "POST",
        "/api/deposit/depositions",
        Route::ok(
            r#"{"message": "The server could not verify that you are authorized", "status": 401}"#,
        )
        .with_status(401),
    );
    let output = setup.contribute(&["--catalog-repo", "owner/catalog"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the Zenodo token was refused (HTTP 401)"),
        "{stderr}"
    );
    assert!(stderr.contains("deposit:write"), "{stderr}");
    assert!(
        stderr.contains("hint: create a token at https://zenodo.org"),
        "{stderr}"
    );
    assert_no_secret(&output);
    assert_eq!(
        server.requests().len(),
        1,
        "nothing requested after the refusal"
    );
}

#[test]
fn a_missing_token_is_named_before_anything_is_sent() {
    let setup = Setup::new();
    let (dir, server) = (&setup.dir, &setup.server);
    let output = run(medigan(dir.path(), server)
        .env_remove("GITHUB_TOKEN")
        .args(["contribute", setup.package.to_str().unwrap(), "--id", ID]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no GitHub token: give --github-token or set GITHUB_TOKEN")
    );
    assert!(server.requests().is_empty());
}

#[test]
fn dry_run_sends_nothing_and_says_what_it_would_do() {
    let setup = Setup::new();
    let server = &setup.server;
    let output = setup.contribute(&["--dry-run", "--publish"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("dry run: nothing was sent"), "{stdout}");
    assert!(stdout.contains("create a draft deposition"), "{stdout}");
    assert!(stdout.contains("publish it"), "{stdout}");
    assert!(
        stdout.contains("open an issue on RichardObi/medigan"),
        "{stdout}"
    );
    assert!(stdout.contains("tested 00100_TEST_DCGAN: pass"), "{stdout}");
    assert!(server.requests().is_empty(), "a dry run makes no request");
    assert_no_secret(&output);
}

#[test]
fn the_zip_is_the_same_bytes_when_packed_again() {
    let setup = Setup::new();
    for zip in ["a.zip", "b.zip"] {
        let output = setup.contribute(&["--dry-run", "--zip", zip]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        // a touched file must not change the archive either
        let readme = setup.package.join("README.md");
        std::fs::write(&readme, std::fs::read(&readme).unwrap()).unwrap();
    }
    let a = std::fs::read(setup.dir.path().join("a.zip")).unwrap();
    let b = std::fs::read(setup.dir.path().join("b.zip")).unwrap();
    assert!(a == b, "two packs of the same files differ");
}

#[test]
fn taken_and_malformed_ids_are_refused() {
    let setup = Setup::new();
    let refused = |id: &str| {
        let output = run(medigan(setup.dir.path(), &setup.server).args([
            "contribute",
            setup.package.to_str().unwrap(),
            "--id",
            id,
            "--dry-run",
        ]));
        assert_eq!(output.status.code(), Some(1), "{id} accepted");
        text(&output.stderr)
    };
    let taken = refused("00900_MY_PHANTOM");
    assert!(
        taken.contains("model id `00900_MY_PHANTOM` is taken: `00900_PHANTOM_DEMO`"),
        "{taken}"
    );
    for bad in ["100_DCGAN", "00100_dcgan", "00100-DCGAN", "00100_"] {
        let stderr = refused(bad);
        assert!(
            stderr.contains(&format!("model id `{bad}` is malformed")),
            "{stderr}"
        );
    }
    assert!(setup.server.requests().is_empty());
    assert!(!setup.dir.path().join("100_DCGAN.zip").exists());
}

#[test]
fn init_model_writes_a_skeleton_that_contribute_says_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let output = run(medigan(dir.path(), &server).args(["init-model", "new-model"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let skeleton = dir.path().join("new-model");
    for file in ["medigan.json", "METADATA.md", "README.md", "LICENSE"] {
        assert!(skeleton.join(file).is_file(), "{file} written");
    }
    let readme = std::fs::read_to_string(skeleton.join("README.md")).unwrap();
    assert!(
        readme.contains("torch.onnx.export")
            && readme.contains(r#"dynamic_axes={"z": {0: "batch"}"#)
    );

    // The skeleton is a valid catalogue as it is.
    let output =
        run(medigan(dir.path(), &server).args(["catalog", "validate", "new-model/medigan.json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );

    let output = run(medigan(dir.path(), &server).args([
        "contribute",
        "new-model",
        "--id",
        "00100_NEW_MODEL",
        "--dry-run",
    ]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for field in [
        "description.title",
        "description.authors",
        "description.comment",
        "selection.license",
        "selection.modality",
        "selection.organ",
    ] {
        assert!(
            stderr.contains(&format!("{field} is required and empty")),
            "{field}: {stderr}"
        );
    }
    assert!(
        stderr.contains("the graph `model.onnx` named by execution.onnx.graph is missing"),
        "{stderr}"
    );
    assert!(server.requests().is_empty());

    let again = run(medigan(dir.path(), &server).args(["init-model", "new-model"]));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("is not empty"),
        "{}",
        text(&again.stderr)
    );
}
