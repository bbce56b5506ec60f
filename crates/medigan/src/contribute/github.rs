//! Opening the issue that proposes a new catalogue entry: `POST /repos/{owner}/{repo}/issues`.
//! <https://docs.github.com/en/rest/issues/issues#create-an-issue>

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use super::http::{self, Failure, Token};

/// The GitHub REST API.
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// The repository whose catalogue (`config/global.json`) lists the models.
pub const CATALOG_REPO: &str = "RichardObi/medigan";

/// Opens an issue on `repo` (`owner/name`) and returns its page; refused when `offline`.
pub(crate) fn open_issue(
    offline: bool,
    api: &str,
    repo: &str,
    token: &Token,
    title: &str,
    body: &str,
) -> Result<String, Failure> {
    let client = http::client(api, offline).map_err(|message| Failure {
        status: None,
        message,
    })?;
    let request = client
        .post(format!("{}/repos/{repo}/issues", api.trim_end_matches('/')))
        .header(AUTHORIZATION, token.bearer())
        .header(ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header(CONTENT_TYPE, "application/json")
        .body(json!({"title": title, "body": body}).to_string());
    let (_, answer) = http::send(request)?;
    let url = serde_json::from_str::<Value>(&answer).ok().and_then(|v| {
        v.get("html_url")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    Ok(url.unwrap_or_else(|| format!("https://github.com/{repo}/issues")))
}
