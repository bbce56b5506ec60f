//! `medigan visualize`: serve the model visualiser and open it in the browser. Without the
//! cargo feature `viz` (no medigan-viz, tokio or axum) the command says that this build has no
//! visualiser.

use std::process::ExitCode;
#[cfg(feature = "viz")]
use std::process::{Command, Stdio};

use medigan::Generators;
#[cfg(feature = "viz")]
use medigan_viz::{View, VizOptions};

use crate::cli::VisualizeArgs;
use crate::settings::Output;

/// Fails: the visualiser is not part of this build.
#[cfg(not(feature = "viz"))]
pub fn run(_: &Generators, _: &VisualizeArgs, _: Output) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "this build of medigan has no model visualiser (cargo feature `viz`); the default \
         build has it, and so does the Python package (`Generators().visualize(...)`)"
    )
}

/// Opens the model, serves the page until Ctrl-C, and opens the browser unless told not to.
#[cfg(feature = "viz")]
pub fn run(generators: &Generators, args: &VisualizeArgs, out: Output) -> anyhow::Result<ExitCode> {
    super::consent_to_legacy(generators, args.install_dependencies);
    let view = View::open(generators, &args.model, args.slider_grouper)?;
    let model = view.info().model_id.clone();
    let server = medigan_viz::start(
        view,
        VizOptions {
            port: args.port,
            save_dir: args.save_dir.clone(),
        },
    )?;
    println!("{model}: {}", server.url());
    if !out.quiet {
        let saves = std::path::absolute(&args.save_dir).unwrap_or_else(|_| args.save_dir.clone());
        eprintln!(
            "serving on 127.0.0.1 only; Ctrl-C stops\nSave writes into {} (`--save-dir DIR` to change)",
            saves.display()
        );
    }
    if !args.no_browser && !open_browser(server.url()) && !out.quiet {
        eprintln!("could not open a browser; open {} yourself", server.url());
    }
    server.wait();
    // Ctrl-C ended the server: said as a shell says it (130), as for any other command.
    match crate::signals::Interrupt::install()?.signal() {
        Some(signal) => Ok(ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))),
        None => super::success(),
    }
}

/// Opens `url` with `$BROWSER` or the platform's opener; returns whether one started.
#[cfg(feature = "viz")]
fn open_browser(url: &str) -> bool {
    let opener = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let program = opener.as_deref().unwrap_or(if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    });
    Command::new(program)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}
