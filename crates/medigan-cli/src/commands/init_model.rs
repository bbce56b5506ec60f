//! `medigan init-model`: write a package skeleton to fill in.

use std::process::ExitCode;

use medigan::contribute::{PLACEHOLDER_ID, init_model};

use crate::cli::InitModelArgs;
use crate::render;
use crate::settings::Output;

/// Writes the skeleton and says what to do next.
pub fn run(args: &InitModelArgs, out: Output) -> anyhow::Result<ExitCode> {
    let files = init_model(&args.dir)?;
    if out.json {
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        render::json(&serde_json::json!({ "dir": args.dir, "files": files }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for file in &files {
        render::line(format!("wrote {}", file.display()))?;
    }
    let dir = args.dir.display();
    render::note(
        out.quiet,
        format!(
            "next:\n  1. export your generator to {dir}/model.onnx (README.md shows torch.onnx.export)\n  \
             2. fill {dir}/medigan.json (METADATA.md explains each field), README.md and LICENSE\n  \
             3. medigan --catalog {dir}/medigan.json test {PLACEHOLDER_ID}\n  \
             4. medigan contribute {dir} --id 00123_YOUR_MODEL_NAME --dry-run"
        ),
    );
    Ok(ExitCode::SUCCESS)
}
