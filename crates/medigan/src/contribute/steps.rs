//! The last step of a contribution on its own: the GitHub issue proposing a package's catalogue
//! entry at a link the caller gives (the original `ModelContributor.push_to_github`, which
//! follows `push_to_zenodo`). The Zenodo step alone is [`contribute()`](super::contribute) with
//! `open_issue: false`.

use std::path::PathBuf;

use serde_json::Value;

use super::error::ContributeError;
use super::github::open_issue;
use super::http::Token;
use super::package_check::{METADATA_FILE, Package, check_id_format};
use super::workflow::{ContributeReport, catalog_entry, failure, issue_text};
use super::zip::pack_dir;
use crate::Generators;

/// The issue to open for a package.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The package folder.
    pub dir: PathBuf,
    /// The new model id, `NNNNN_UPPER_SNAKE`.
    pub id: String,
    /// Where the package is downloaded from (the Zenodo file link `push_to_zenodo` returned).
    pub package_link: String,
    /// Base URL of the GitHub REST API.
    pub github_api: String,
    /// The catalogue repository, `owner/name`.
    pub catalog_repo: String,
    /// GitHub token allowed to open issues on `catalog_repo`.
    pub token: Token,
}

/// What the issue proposed, and where it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssueReport {
    /// The issue's page.
    pub url: String,
    /// The proposed catalogue entry, `{id: entry}`, with `package_link` and the `sha256` of
    /// the package as `contribute` packs it.
    pub entry: Value,
}

/// Checks the package as `contribute` does (id form, files, required fields), computes the
/// sha256 of its reproducible zip, and opens the issue proposing its entry at `package_link`.
/// Nothing is sent when a check fails.
pub fn open_entry_issue(
    generators: &Generators,
    request: &IssueRequest,
) -> Result<IssueReport, ContributeError> {
    let id = request.id.as_str();
    check_id_format(id)?;
    let package = Package::open(&request.dir)?;
    let problems = package.problems(id);
    if !problems.is_empty() {
        return Err(ContributeError::NotReady {
            dir: request.dir.clone(),
            problems,
        });
    }
    let metadata = package.metadata_for(id);
    let packed = pack_dir(&request.dir, &[(METADATA_FILE, metadata.as_bytes())], None)?;
    let entry = catalog_entry(&package, id, &request.package_link, &packed.sha256, None);
    let report = ContributeReport {
        id: id.to_string(),
        dry_run: false,
        zip: PathBuf::new(),
        sha256: packed.sha256.clone(),
        size: packed.bytes.len() as u64,
        files: packed.files,
        test: None,
        entry: entry.clone(),
        deposition: None,
        hub: None,
        issue_url: None,
        planned: Vec::new(),
        notes: Vec::new(),
    };
    let (title, body) = issue_text(&package, &report);
    let offline = generators.settings().offline();
    let url = open_issue(
        offline,
        &request.github_api,
        &request.catalog_repo,
        &request.token,
        &title,
        &body,
    )
    .map_err(|f| {
        let step = format!("opening the issue on {}", request.catalog_repo);
        failure("GitHub", &step, f, String::new())
    })?;
    Ok(IssueReport { url, entry })
}
