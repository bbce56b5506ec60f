//! `contribute`: from a package folder to a Zenodo deposition and a GitHub issue proposing the
//! catalogue entry (paper, section 3.7). Steps, each stopping the run on failure:
//!
//! 1. the id (form, not taken by a catalogue in effect) and the package (files, metadata);
//! 2. the required fields, asked for when the caller can ask;
//! 3. pack a reproducible zip and run the model test on it (native packages);
//! 4. Zenodo: create a draft, upload, set the metadata, publish with `publish`;
//! 5. GitHub: open an issue with the catalogue entry.
//!
//! A failure after the draft was created deletes the draft (unless published), and the error
//! says so, or says which draft is left. A dry run does everything local and sends nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use super::error::ContributeError;
use super::github::open_issue;
use super::http::{Failure, Token};
use super::hub::{HubTarget, commit_files};
use super::package_check::{
    METADATA_FILE, Package, PackageKind, RequiredField, check_id_format, pretty,
};
use super::zenodo::{Deposition, Zenodo};
use super::zip::{PackedPackage, pack_dir};
use super::{ModelTestReport, Verdict, test_model};
use crate::progress::Progress;
use crate::{Generators, Settings};

/// What to contribute and where to.
#[derive(Debug, Clone)]
pub struct ContributeRequest {
    /// The package folder.
    pub dir: PathBuf,
    /// The new model id, `NNNNN_UPPER_SNAKE`.
    pub id: String,
    /// Where the packed zip is written.
    pub zip_path: PathBuf,
    /// Do everything local (checks, pack, test) and send nothing.
    pub dry_run: bool,
    /// Publish the Zenodo deposition (otherwise it stays a draft).
    pub publish: bool,
    /// Base URL of Zenodo (`https://zenodo.org` or the sandbox).
    pub zenodo_url: String,
    /// Zenodo token with `deposit:write` (and `deposit:actions` to publish).
    pub zenodo_token: Option<Token>,
    /// Whether to open the GitHub issue.
    pub open_issue: bool,
    /// Base URL of the GitHub REST API.
    pub github_api: String,
    /// The catalogue repository, `owner/name`.
    pub catalog_repo: String,
    /// GitHub token allowed to open issues on `catalog_repo`.
    pub github_token: Option<Token>,
}

/// The Zenodo side of a contribution.
#[derive(Debug, Clone, Serialize)]
pub struct DepositionReport {
    /// The deposition id.
    pub id: u64,
    /// Its page.
    pub url: String,
    /// Where the package is downloaded from once published (the entry's `package_link`).
    pub file_url: String,
    /// Whether it was published.
    pub published: bool,
    /// Its DOI, when Zenodo gave one.
    pub doi: Option<String>,
}

/// What a contribution did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ContributeReport {
    /// The model id.
    pub id: String,
    /// Whether nothing was sent.
    pub dry_run: bool,
    /// The packed zip.
    pub zip: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The packed files.
    pub files: Vec<String>,
    /// The model test (`None` for a legacy package, whose code contribute does not run).
    pub test: Option<ModelTestReport>,
    /// The proposed catalogue entry, `{id: entry}`.
    pub entry: Value,
    /// The deposition, unless a dry run or a Hub contribution.
    pub deposition: Option<DepositionReport>,
    /// The Hub commit of a contribution to the Hub, unless a dry run.
    pub hub: Option<HubReport>,
    /// The issue, when one was opened.
    pub issue_url: Option<String>,
    /// What a dry run would do, step by step.
    pub planned: Vec<String>,
    /// Remarks for the user (skipped steps, files written).
    pub notes: Vec<String>,
}

/// Where a contribution is published.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A Zenodo deposition (for the DOI), as in the paper.
    Zenodo,
    /// A Hugging Face Hub model repository: the package's files (card included) in one commit;
    /// the proposed entry links `hf://OWNER/REPO@<commit>`.
    Hub {
        /// The repository and branch.
        target: HubTarget,
        /// A token with write access to the repository (`HF_TOKEN`).
        token: Option<Token>,
    },
}

/// The Hub side of a contribution.
#[derive(Debug, Clone, Serialize)]
pub struct HubReport {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The commit made.
    pub commit: String,
    /// Its page.
    pub url: String,
}

/// Runs a contribution to Zenodo ([`contribute_to`] with [`Destination::Zenodo`]).
pub fn contribute(
    generators: &Generators,
    request: &ContributeRequest,
    ask: &mut dyn FnMut(&RequiredField) -> Option<String>,
    progress: &dyn Progress,
) -> Result<ContributeReport, ContributeError> {
    contribute_to(generators, request, &Destination::Zenodo, ask, progress)
}

/// Runs a contribution. `ask` is called for each missing required field and returns the answer,
/// or `None` when it cannot ask (the run then fails naming the fields); answers are saved to the
/// package's `medigan.json`.
pub fn contribute_to(
    generators: &Generators,
    request: &ContributeRequest,
    destination: &Destination,
    ask: &mut dyn FnMut(&RequiredField) -> Option<String>,
    progress: &dyn Progress,
) -> Result<ContributeReport, ContributeError> {
    let id = request.id.as_str();
    check_id_format(id)?;
    let mut package = Package::open(&request.dir)?;
    check_id_free(generators, id, &request.dir)?;
    let mut notes = Vec::new();
    if complete_fields(&mut package, ask)? {
        notes.push(format!(
            "saved your answers to {}",
            request.dir.join(METADATA_FILE).display()
        ));
    }
    let problems = package.problems(id);
    if !problems.is_empty() {
        return Err(ContributeError::NotReady {
            dir: request.dir.clone(),
            problems,
        });
    }
    let tokens = if request.dry_run || matches!(destination, Destination::Hub { .. }) {
        None
    } else {
        Some(tokens(request)?)
    };

    let metadata = package.metadata_for(id);
    let packed = pack_dir(
        &request.dir,
        &[(METADATA_FILE, metadata.as_bytes())],
        Some(&request.zip_path),
    )?;
    write_zip(&request.zip_path, &packed)?;
    let test = match package.kind {
        PackageKind::Native => Some(run_test(generators, request, &package, &packed, progress)?),
        PackageKind::Legacy => {
            notes.push(
                "legacy Python package: checked statically (__init__.py, weights); its code is not run here (try `medigan generate MODEL --install-dependencies`)"
                    .into(),
            );
            None
        }
    };

    let file_name = format!("{id}.zip");
    let mut report = ContributeReport {
        id: id.to_string(),
        dry_run: request.dry_run,
        zip: request.zip_path.clone(),
        sha256: packed.sha256.clone(),
        size: packed.bytes.len() as u64,
        files: packed.files.clone(),
        test,
        entry: Value::Null,
        deposition: None,
        hub: None,
        issue_url: None,
        planned: Vec::new(),
        notes,
    };
    if let Destination::Hub { target, token } = destination {
        let offline = generators.settings().offline();
        let publish = HubPublish {
            request,
            package: &package,
            packed: &packed,
            target,
            token: token.as_ref(),
            offline,
        };
        return publish.run(report);
    }
    let zenodo_metadata = zenodo_metadata(&package, id);
    let Some((zenodo_token, github_token)) = tokens else {
        let base = request.zenodo_url.trim_end_matches('/');
        let link = format!("{base}/records/<deposition id>/files/{file_name}?download=1");
        report.entry = catalog_entry(&package, id, &link, &packed.sha256, None);
        report.planned = planned(request, &report, &zenodo_metadata);
        return Ok(report);
    };

    let offline = generators.settings().offline();
    let zenodo =
        Zenodo::new(&request.zenodo_url, zenodo_token, offline).map_err(ContributeError::Http)?;
    let deposition = zenodo
        .create()
        .map_err(|f| failure("Zenodo", "creating the deposition", f, String::new()))?;
    let staged = zenodo
        .upload(&deposition.bucket, &file_name, packed.bytes.clone())
        .map_err(|f| ("uploading the package", f))
        .and_then(|()| {
            zenodo
                .set_metadata(deposition.id, &zenodo_metadata)
                .map_err(|f| ("setting the deposition metadata", f))
        });
    if let Err((step, f)) = staged {
        let aftermath = discard(&zenodo, &deposition);
        return Err(failure("Zenodo", step, f, aftermath));
    }
    let mut doi = deposition.doi.clone();
    if request.publish {
        match zenodo.publish(deposition.id) {
            Ok(published) => doi = published.or(doi),
            Err(f) => {
                let aftermath = discard(&zenodo, &deposition);
                return Err(failure("Zenodo", "publishing the deposition", f, aftermath));
            }
        }
    }
    let file_url = zenodo.file_url(deposition.id, &file_name);
    report.entry = catalog_entry(&package, id, &file_url, &packed.sha256, doi.as_deref());
    report.deposition = Some(DepositionReport {
        id: deposition.id,
        url: deposition.html.clone(),
        file_url,
        published: request.publish,
        doi,
    });

    if let Some(token) = github_token {
        let (title, body) = issue_text(&package, &report);
        match open_issue(
            offline,
            &request.github_api,
            &request.catalog_repo,
            &token,
            &title,
            &body,
        ) {
            Ok(url) => report.issue_url = Some(url),
            Err(f) => {
                let aftermath = if request.publish {
                    format!(
                        "; the deposition {} is published at {}: open the issue by hand with the entry `medigan contribute --dry-run` prints",
                        deposition.id, deposition.html
                    )
                } else {
                    discard(&zenodo, &deposition)
                };
                let step = format!("opening the issue on {}", request.catalog_repo);
                return Err(failure("GitHub", &step, f, aftermath));
            }
        }
    } else {
        report.notes.push(
            "no GitHub issue opened (sandbox run; give --catalog-repo OWNER/REPO to open one on a test repository)"
                .into(),
        );
    }
    Ok(report)
}

/// Refuses an id, or an id number, that a catalogue in effect already has (the package's own
/// `medigan.json`, if it is one of the sources, does not count, nor does an entry of this id
/// whose package link is this folder: the user's own entry, e.g. added by Python's
/// `add_model_to_config` before the upload).
fn check_id_free(generators: &Generators, id: &str, dir: &Path) -> Result<(), ContributeError> {
    let catalog = generators
        .catalog()
        .map_err(|e| ContributeError::Catalog(e.to_string()))?;
    let own = dir.join(METADATA_FILE).canonicalize().ok();
    let own_dir = dir.canonicalize().ok();
    let prefix = format!("{}_", &id[..5]);
    for entry in catalog.entries() {
        if entry.id != id && !entry.id.starts_with(&prefix) {
            continue;
        }
        let source = &catalog.sources()[entry.source].location;
        if own.is_some() && Path::new(source).canonicalize().ok() == own {
            continue;
        }
        let link = Path::new(&entry.metadata.execution.package_link);
        if entry.id == id && own_dir.is_some() && link.canonicalize().ok() == own_dir {
            continue;
        }
        return Err(ContributeError::IdTaken {
            id: id.to_string(),
            taken_by: entry.id.clone(),
            source_name: source.clone(),
        });
    }
    Ok(())
}

/// Asks for each missing required field; returns whether anything was answered (and saved).
fn complete_fields(
    package: &mut Package,
    ask: &mut dyn FnMut(&RequiredField) -> Option<String>,
) -> Result<bool, ContributeError> {
    let mut changed = false;
    for field in package.missing_fields() {
        let Some(answer) = ask(field) else { break };
        if package.set_field(field, &answer).is_ok() {
            changed = true;
        }
    }
    if changed {
        package.save()?;
    }
    Ok(changed)
}

fn tokens(request: &ContributeRequest) -> Result<(Token, Option<Token>), ContributeError> {
    let zenodo = request
        .zenodo_token
        .clone()
        .ok_or(ContributeError::MissingToken {
            service: "Zenodo",
            option: crate::error::OptionName::ZenodoToken,
            env: "ZENODO_TOKEN",
        })?;
    let github = if request.open_issue {
        Some(
            request
                .github_token
                .clone()
                .ok_or(ContributeError::MissingToken {
                    service: "GitHub",
                    option: crate::error::OptionName::GitHubToken,
                    env: "GITHUB_TOKEN",
                })?,
        )
    } else {
        None
    };
    Ok((zenodo, github))
}

fn write_zip(path: &Path, packed: &PackedPackage) -> Result<(), ContributeError> {
    let io = |action, cause| ContributeError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io("create the folder of", e))?;
    }
    crate::fs::write_atomically(path, &packed.bytes).map_err(|e| io("write", e))
}

/// Runs the model test on the packed zip, through a catalogue holding only the new entry.
fn run_test(
    generators: &Generators,
    request: &ContributeRequest,
    package: &Package,
    packed: &PackedPackage,
    progress: &dyn Progress,
) -> Result<ModelTestReport, ContributeError> {
    let zip = std::path::absolute(&request.zip_path).map_err(|cause| ContributeError::Io {
        action: "find",
        path: request.zip_path.clone(),
        cause,
    })?;
    let mut entry = package.entry_for(&request.id);
    entry["execution"]["package_link"] = Value::String(zip.display().to_string());
    entry["execution"]["sha256"] = Value::String(packed.sha256.clone());
    let folder = tempfile::tempdir().map_err(|cause| ContributeError::Io {
        action: "create a temporary folder for",
        path: std::env::temp_dir(),
        cause,
    })?;
    let catalog_path = folder.path().join("catalog.json");
    std::fs::write(&catalog_path, pretty(&json!({ request.id.clone(): entry }))).map_err(
        |cause| ContributeError::Io {
            action: "write",
            path: catalog_path.clone(),
            cause,
        },
    )?;
    let mut settings: Settings = generators.settings().clone();
    settings.catalog.explicit = vec![catalog_path.display().to_string()];
    settings.catalog.offline = true;
    let testing = Generators::new(settings);
    let report =
        test_model(&testing, &request.id, progress).map_err(|e| ContributeError::TestFailed {
            id: request.id.clone(),
            reason: e.to_string(),
        })?;
    if report.verdict == Verdict::Fail {
        return Err(ContributeError::TestFailed {
            id: request.id.clone(),
            reason: report.reason().unwrap_or_default(),
        });
    }
    Ok(report)
}

/// The catalogue entry proposed to the catalogue: the package's entry with the published link.
pub(super) fn catalog_entry(
    package: &Package,
    id: &str,
    link: &str,
    sha256: &str,
    doi: Option<&str>,
) -> Value {
    let mut entry = package.entry_for(id);
    entry["execution"]["package_link"] = Value::String(link.into());
    entry["execution"]["sha256"] = Value::String(sha256.into());
    if let (Some(doi), Some(description)) = (doi, entry["description"].as_object_mut()) {
        let dois = description.entry("doi").or_insert_with(|| json!([]));
        match dois.as_array_mut() {
            Some(list) if !list.iter().any(|d| d == doi) => list.push(json!(doi)),
            Some(_) => {}
            None => *dois = json!([doi]),
        }
    }
    json!({ id: entry })
}

/// The deposition metadata: title, type, description (HTML), creators, licence, keywords.
fn zenodo_metadata(package: &Package, id: &str) -> Value {
    let creators: Vec<Value> = package
        .authors()
        .into_iter()
        .map(|(name, affiliation)| {
            if affiliation.is_empty() {
                json!({"name": name})
            } else {
                json!({"name": name, "affiliation": affiliation})
            }
        })
        .collect();
    let mut keywords = vec!["medigan".to_string(), "generative model".to_string()];
    for path in ["selection.modality", "selection.organ", "selection.tags"] {
        for word in package.list(path) {
            if !keywords.iter().any(|k| k.eq_ignore_ascii_case(&word)) {
                keywords.push(word);
            }
        }
    }
    let description = format!(
        "<p>{}</p><p>A model of the medigan catalogue, id <code>{id}</code>: \
         <code>medigan generate {id} -n 8 -o out/</code>.</p>",
        escape_html(&package.text("description.comment"))
    );
    json!({
        "title": package.text("description.title"),
        "upload_type": "software",
        "description": description,
        "creators": creators,
        "license": package.text("selection.license").to_lowercase().replace(' ', "-"),
        "keywords": keywords,
    })
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The issue's title and body: what the model is, where it is, and the entry as JSON.
pub(super) fn issue_text(package: &Package, report: &ContributeReport) -> (String, String) {
    let title = format!(
        "Add model {}: {}",
        report.id,
        package.text("description.title")
    );
    let deposition = report.deposition.as_ref();
    let state = match deposition {
        Some(d) if d.published => format!("published on Zenodo: {}", d.url),
        Some(d) => format!(
            "a draft on Zenodo ({}); it will be published after review",
            d.url
        ),
        None => format!(
            "at {}",
            report.entry[&report.id]["execution"]["package_link"]
                .as_str()
                .unwrap_or_default()
        ),
    };
    let tested = match &report.test {
        Some(test) => format!(
            "`medigan test` passed ({})",
            test.checks
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None if package.kind == PackageKind::Legacy => {
            "legacy Python package: checked statically, not run".into()
        }
        None => "not run by this step (`medigan test` / `test_model` runs it)".into(),
    };
    let body = format!(
        "This issue proposes a new model for the medigan catalogue.\n\n\
         - **id**: `{id}`\n- **title**: {title_text}\n- **package**: {state}\n\
         - **sha256**: `{sha}`\n- **test**: {tested}\n\n\
         {comment}\n\n\
         Catalogue entry (`config/global.json`):\n\n```json\n{entry}```\n\n\
         _Opened by `medigan contribute`._\n",
        id = report.id,
        title_text = package.text("description.title"),
        sha = report.sha256,
        comment = package.text("description.comment"),
        entry = pretty(&report.entry),
    );
    (title, body)
}

/// The steps a real run would take.
fn planned(
    request: &ContributeRequest,
    report: &ContributeReport,
    metadata: &Value,
) -> Vec<String> {
    let base = request.zenodo_url.trim_end_matches('/');
    let count = |key: &str| metadata[key].as_array().map_or(0, Vec::len);
    let mut steps = vec![
        format!("create a draft deposition: POST {base}/api/deposit/depositions"),
        format!(
            "upload {}.zip ({} bytes, sha256 {}) into its bucket",
            report.id, report.size, report.sha256
        ),
        format!(
            "set its metadata: title {:?}, {} creator(s), licence {:?}, {} keyword(s)",
            metadata["title"].as_str().unwrap_or_default(),
            count("creators"),
            metadata["license"].as_str().unwrap_or_default(),
            count("keywords"),
        ),
    ];
    steps.push(if request.publish {
        "publish it (a published record cannot be deleted)".into()
    } else {
        "leave it as a draft (add --publish to publish it)".into()
    });
    steps.push(if request.open_issue {
        format!(
            "open an issue on {} proposing the catalogue entry below",
            request.catalog_repo
        )
    } else {
        "open no GitHub issue (sandbox run without --catalog-repo)".into()
    });
    if request.zenodo_token.is_none() {
        steps.push("(a real run needs a Zenodo token: --zenodo-token or ZENODO_TOKEN)".into());
    }
    if request.open_issue && request.github_token.is_none() {
        steps.push("(a real run needs a GitHub token: --github-token or GITHUB_TOKEN)".into());
    }
    steps
}

/// Deletes a draft after a failed step; says what became of it.
fn discard(zenodo: &Zenodo, deposition: &Deposition) -> String {
    match zenodo.delete(deposition.id) {
        Ok(()) => format!(
            "; the draft deposition {} was deleted, nothing was published",
            deposition.id
        ),
        Err(f) => format!(
            "; deleting the draft failed too ({}): draft deposition {} is left at {}, delete it there",
            f.reason(),
            deposition.id,
            deposition.html
        ),
    }
}

/// A failed request as the error naming the service, the step and what became of the draft.
pub(super) fn failure(
    service: &'static str,
    step: &str,
    f: Failure,
    aftermath: String,
) -> ContributeError {
    match f.refused() {
        Some(status) => ContributeError::TokenRefused {
            service,
            status,
            step: step.to_string(),
            why: if service == "Zenodo" {
                "it is expired or revoked, or lacks the deposit:write scope (publishing also needs deposit:actions)".into()
            } else if service == "Hugging Face Hub" {
                "it is expired or revoked, or may not write to this repository (or the repository does not exist)".into()
            } else {
                "it is expired or revoked, or may not open issues on this repository".into()
            },
            aftermath,
        },
        None => ContributeError::Service {
            service,
            step: step.to_string(),
            reason: f.reason(),
            aftermath,
        },
    }
}

/// Publishing to the Hub: one commit of the packed files, then the issue when asked for.
struct HubPublish<'a> {
    request: &'a ContributeRequest,
    package: &'a Package,
    packed: &'a PackedPackage,
    target: &'a HubTarget,
    token: Option<&'a Token>,
    offline: bool,
}

impl HubPublish<'_> {
    fn run(&self, mut report: ContributeReport) -> Result<ContributeReport, ContributeError> {
        let id = report.id.clone();
        let files = self.files()?;
        let sha256 = folder_sha256(&files);
        let steps = vec![
            format!(
                "commit {} files ({}) to {} on branch {}: POST {}/api/models/{}/commit/{}",
                files.len(),
                files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", "),
                self.target.page(),
                self.target.revision,
                self.target.endpoint,
                self.target.repo,
                self.target.revision,
            ),
            "propose the catalogue entry, linked to that commit, in a GitHub issue (when a GitHub token is given)".into(),
        ];
        if self.request.dry_run {
            let link = format!("hf://{}@<commit>", self.target.repo);
            report.entry = catalog_entry(self.package, &id, &link, &sha256, None);
            report.planned = steps;
            return Ok(report);
        }
        let token = self.token.ok_or(ContributeError::MissingHubToken)?;
        let summary = format!("Add medigan model {id}");
        let commit =
            commit_files(self.target, token, self.offline, &summary, &files).map_err(|f| {
                failure(
                    "Hugging Face Hub",
                    "committing the package",
                    f,
                    String::new(),
                )
            })?;
        let link = format!("hf://{}@{}", self.target.repo, commit.oid);
        report.entry = catalog_entry(self.package, &id, &link, &sha256, None);
        report.hub = Some(HubReport {
            repo: self.target.repo.clone(),
            commit: commit.oid.clone(),
            url: commit.url.clone(),
        });
        let github = self
            .request
            .github_token
            .as_ref()
            .filter(|_| self.request.open_issue);
        let Some(github) = github else {
            report.notes.push(
                "no GitHub issue opened (give --github-token or GITHUB_TOKEN to propose the entry to the catalogue)".into(),
            );
            return Ok(report);
        };
        let (title, body) = issue_text(self.package, &report);
        let opened = open_issue(
            self.offline,
            &self.request.github_api,
            &self.request.catalog_repo,
            github,
            &title,
            &body,
        );
        match opened {
            Ok(url) => report.issue_url = Some(url),
            Err(f) => {
                let step = format!("opening the issue on {}", self.request.catalog_repo);
                let aftermath = format!(
                    "; the package is committed at {}: open the issue by hand with the entry `medigan contribute --dry-run` prints",
                    commit.url
                );
                return Err(failure("GitHub", &step, f, aftermath));
            }
        }
        Ok(report)
    }

    /// The packed files (path, content), from the reproducible zip.
    fn files(&self) -> Result<Vec<(String, Vec<u8>)>, ContributeError> {
        use std::io::Read;
        let bad = |cause: String| ContributeError::Io {
            action: "read back",
            path: self.request.zip_path.clone(),
            cause: std::io::Error::other(cause),
        };
        let mut archive = ::zip::ZipArchive::new(std::io::Cursor::new(&self.packed.bytes))
            .map_err(|e| bad(e.to_string()))?;
        let mut files = Vec::new();
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).map_err(|e| bad(e.to_string()))?;
            if entry.is_dir() {
                continue;
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| bad(e.to_string()))?;
            files.push((entry.name().to_owned(), bytes));
        }
        files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(files)
    }
}

/// The store's hash of a package folder holding `files` (sorted by path): what a fetch of the
/// `hf://` link checks against the entry's `sha256`.
fn folder_sha256(files: &[(String, Vec<u8>)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        hasher.update(format!("{}  {path}\n", hex::encode(Sha256::digest(bytes))).as_bytes());
    }
    hex::encode(hasher.finalize())
}
