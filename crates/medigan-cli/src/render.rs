//! Printing: tables for people, JSON for scripts, diagnostics on stderr.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, TableComponent, presets};
use serde::Serialize;

/// Prints a value as pretty JSON on stdout.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// A table with the given header, laid out for the terminal width.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_style(TableComponent::HeaderLines, '-')
        .set_style(TableComponent::MiddleHeaderIntersections, ' ')
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    if std::env::var_os("COLUMNS").is_none() && !is_terminal() {
        table.set_width(120);
    }
    table
}

/// Prints a table (or a line saying there is nothing) on stdout.
pub fn print_table(table: &Table, empty_message: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if table.row_count() == 0 {
        writeln!(out, "{empty_message}")?;
    } else {
        writeln!(out, "{table}")?;
    }
    Ok(())
}

/// `n` and the noun, in the plural unless `n` is 1: `1 sample`, `2 samples`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Prints a line on stdout.
pub fn line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// Prints a note for people on stderr (not in quiet mode).
pub fn note(quiet: bool, text: impl std::fmt::Display) {
    if !quiet {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// Shortens a text to `max` characters, ending it with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Joins the first `max` items of a list, saying how many more there are.
pub fn first_items(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let more = items.len().saturating_sub(max);
    if more > 0 {
        format!("{} (+{more})", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
