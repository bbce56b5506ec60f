//! `medigan contribute`: check, test, pack, upload to Zenodo and propose the catalogue entry.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use medigan::contribute::{
    CATALOG_REPO, ContributeReport, ContributeRequest, Destination, GITHUB_API_URL, HubTarget,
    RequiredField, Token, ZENODO_SANDBOX_URL, ZENODO_URL, contribute_to,
};
use medigan::store::HubConfig;
use medigan::{Generators, env};

use crate::cli::ContributeArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Runs the contribution and prints what was done (or would be done) with its links.
pub fn run(
    generators: &Generators,
    args: &ContributeArgs,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let request = request(args);
    let destination = match &args.to {
        None => Destination::Zenodo,
        Some(link) => Destination::Hub {
            target: HubTarget::parse(link, &HubConfig::default().endpoint)
                .map_err(|e| anyhow::anyhow!("--to: {e}"))?,
            token: args.hf_token.clone().and_then(Token::new),
        },
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut ask = |field: &RequiredField| interactive.then(|| ask(field)).flatten();
    let progress = Bar::new(out.quiet || out.json);
    let report = contribute_to(generators, &request, &destination, &mut ask, &progress)?;
    if out.json {
        render::json(&report)?;
    } else {
        print_report(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn request(args: &ContributeArgs) -> ContributeRequest {
    let zenodo_url = args
        .zenodo_url
        .clone()
        .or_else(|| env::ZENODO_URL.text())
        .unwrap_or_else(|| {
            if args.sandbox {
                ZENODO_SANDBOX_URL
            } else {
                ZENODO_URL
            }
            .to_string()
        });
    ContributeRequest {
        dir: args.dir.clone(),
        id: args.id.trim().to_string(),
        zip_path: args
            .zip
            .clone()
            .unwrap_or_else(|| format!("{}.zip", args.id.trim()).into()),
        dry_run: args.dry_run,
        publish: args.publish,
        zenodo_url,
        zenodo_token: args.zenodo_token.clone().and_then(Token::new),
        open_issue: !args.sandbox || args.catalog_repo.is_some(),
        github_api: args
            .github_api_url
            .clone()
            .or_else(|| env::GITHUB_API_URL.text())
            .unwrap_or_else(|| GITHUB_API_URL.to_string()),
        catalog_repo: args
            .catalog_repo
            .clone()
            .unwrap_or_else(|| CATALOG_REPO.to_string()),
        github_token: args.github_token.clone().and_then(Token::new),
    }
}

/// Asks for one field on the terminal; `None` on an empty answer or end of input.
fn ask(field: &RequiredField) -> Option<String> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{} is missing. {}: ", field.path, field.question);
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok()?;
    let answer = answer.trim().to_string();
    (!answer.is_empty()).then_some(answer)
}

fn print_report(report: &ContributeReport) -> anyhow::Result<()> {
    for note in &report.notes {
        render::line(format!("note: {note}"))?;
    }
    if let Some(test) = &report.test {
        let checks: Vec<&str> = test.checks.iter().map(|c| c.name).collect();
        render::line(format!(
            "tested {}: pass ({}) in {:.2}s",
            report.id,
            checks.join(", "),
            test.seconds
        ))?;
    }
    render::line(format!(
        "packed {} ({} files, {} bytes, sha256 {})",
        report.zip.display(),
        report.files.len(),
        report.size,
        report.sha256
    ))?;
    if report.dry_run {
        render::line("dry run: nothing was sent. A real run would:")?;
        for (i, step) in report.planned.iter().enumerate() {
            render::line(format!("  {}. {step}", i + 1))?;
        }
    }
    if let Some(deposition) = &report.deposition {
        let state = if deposition.published {
            "published"
        } else {
            "draft (review it, then publish it on Zenodo or run again with --publish)"
        };
        render::line(format!(
            "Zenodo deposition {}: {} [{state}]",
            deposition.id, deposition.url
        ))?;
        render::line(format!("package link: {}", deposition.file_url))?;
        if let Some(doi) = &deposition.doi {
            render::line(format!("DOI: {doi}"))?;
        }
    }
    if let Some(hub) = &report.hub {
        render::line(format!(
            "Hugging Face Hub: {} commit {} ({})",
            hub.repo, hub.commit, hub.url
        ))?;
        render::line(format!("package link: hf://{}@{}", hub.repo, hub.commit))?;
    }
    if let Some(issue) = &report.issue_url {
        render::line(format!("GitHub issue: {issue}"))?;
    }
    render::line("catalogue entry:")?;
    render::line(serde_json::to_string_pretty(&report.entry)?)
}
