//! Printing: tables for people, JSON for scripts, diagnostics on stderr.

use std::borrow::Cow;
use std::fmt::Write as _;
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
        writeln!(out, "{}", terminal_safe(empty_message))?;
    } else {
        writeln!(out, "{}", terminal_safe(&table.to_string()))?;
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
    writeln!(
        std::io::stdout().lock(),
        "{}",
        terminal_safe(&text.to_string())
    )?;
    Ok(())
}

/// Prints a note for people on stderr (not in quiet mode).
pub fn note(quiet: bool, text: impl std::fmt::Display) {
    if !quiet {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            terminal_safe(&text.to_string())
        );
    }
}

/// `text` safe to print on a terminal: control characters other than newline and tab, and the
/// invisible bidirectional controls, are shown escaped (`\u{1b}`), never sent raw, so that a
/// catalogue's id or title cannot move the cursor, recolour or rewrite the screen (issue #14,
/// defect 12). JSON output needs none of this: serde escapes control characters itself.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(safe, "\\u{{{:x}}}", c as u32);
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// Control characters (C0, DEL, C1) but newline and tab; bidirectional embeddings, overrides
/// and isolates; the line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{2028}' | '\u{2029}')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_12_control_characters_are_shown_escaped() {
        assert_eq!(terminal_safe("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            terminal_safe("\u{1b}[2J\u{1b}]0;x\u{7}id\r\u{9b}"),
            "\\u{1b}[2J\\u{1b}]0;x\\u{7}id\\u{d}\\u{9b}"
        );
        assert_eq!(terminal_safe("a\u{202e}b"), "a\\u{202e}b");
    }
}
