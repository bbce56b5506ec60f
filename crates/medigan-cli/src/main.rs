//! The `medigan` command line: a thin layer that parses, calls the library and prints.
//!
//! Exit status: 0 on success, 1 on failure, 2 on a usage error (clap's, or a diffusion choice the
//! model cannot take), and 0 when stdout is
//! closed early (`medigan list | head`).

mod cli;
mod commands;
mod progress;
mod render;
mod settings;
mod signals;
mod stores;
mod wording;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    install_panic_hook();
    #[cfg(feature = "viz")]
    medigan::error::register_hint::<medigan_viz::VizError>();
    let cli = cli::Cli::parse();
    init_tracing(cli.global.verbose, cli.global.quiet);
    let json = cli.global.json;
    // One handler for every command: the first SIGINT/SIGTERM stops any of them (signals.rs).
    if let Err(error) = signals::Interrupt::install() {
        report(&error);
        return ExitCode::FAILURE;
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if json => {
            report_json(&error);
            failure_code(&error)
        }
        Err(error) => {
            report(&error);
            failure_code(&error)
        }
    }
}

/// 2 for a choice the model cannot take (a usage error the library finds: an unknown
/// scheduler, more steps than the model was trained with), 1 for any other failure.
fn failure_code(error: &anyhow::Error) -> ExitCode {
    let usage = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<medigan::Error>(),
            Some(medigan::Error::Generate(
                medigan::generate::GenerateError::Diffusion { .. }
            ))
        ) || matches!(
            cause.downcast_ref::<medigan::generate::GenerateError>(),
            Some(medigan::generate::GenerateError::Diffusion { .. })
        )
    });
    if usage {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(medigan::env::LOG.name)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .without_time()
        .with_target(false)
        .init();
}

/// A panic is a bug: users get two lines saying so, not a backtrace (`RUST_BACKTRACE=1` gives
/// the full report). Panics of inference threads are not printed: they come back as errors.
fn install_panic_hook() {
    let full_report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(medigan::runtime::INFERENCE_THREAD) {
            return;
        }
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            full_report(info);
            return;
        }
        let message = medigan::runtime::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: internal error{at}: {}\nhint: this is a bug in medigan; please report it \
             with the command you ran (RUST_BACKTRACE=1 adds a backtrace)",
            render::terminal_safe(&message)
        );
    }));
}

/// Colour only for a terminal, and never with `NO_COLOR` set (to anything but empty).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints an error, its causes and its hints (found along the chain of causes by
/// `medigan::error::hint_in`) on stderr, without a backtrace.
fn report(error: &anyhow::Error) {
    let safe = |text: String| render::terminal_safe(&text).into_owned();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {}", safe(message(error.as_ref())));
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {}", safe(message(cause)));
    }
    for hint in hint_of(error).iter().flat_map(|h| h.lines()) {
        let _ = writeln!(err, "hint: {}", safe(hint.to_string()));
    }
}

/// With `--json`, an error is one JSON object on stderr: `error` (the message), `causes`
/// (outermost first) and `hint` (or null; several lines when several errors of the chain
/// have one).
fn report_json(error: &anyhow::Error) {
    let causes: Vec<String> = error.chain().skip(1).map(message).collect();
    let object = serde_json::json!({
        "error": message(error.as_ref()),
        "causes": causes,
        "hint": hint_of(error),
    });
    let _ = writeln!(std::io::stderr().lock(), "{object}");
}

/// One error's message in the command line's words (the options it names as flags).
fn message(error: &(dyn std::error::Error + 'static)) -> String {
    medigan::error::message_in(error, &wording::CliWording)
}

/// The hints of the errors along the chain (the library's, and those of the crates that
/// registered their error types), in the command line's words.
fn hint_of(error: &anyhow::Error) -> Option<String> {
    medigan::error::hint_in(error.as_ref(), &wording::CliWording)
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
