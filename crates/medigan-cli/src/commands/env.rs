//! `medigan env`: the MEDIGAN_* variables, their values here, and the settings in effect.

use std::process::ExitCode;

use medigan::Generators;
use serde_json::{Map, Value, json};

use crate::render;
use crate::settings::Output;

/// Lists every variable of `medigan::env` with its value and the setting it gives (after the
/// flags): as a table, or with `--json` as one object keyed by name.
pub fn run(generators: &Generators, out: Output) -> anyhow::Result<ExitCode> {
    let effective = generators.environment();
    let rows = medigan::env::VARIABLES.iter().zip(effective);
    if out.json {
        let object: Map<String, Value> = rows
            .map(|(variable, (name, setting))| {
                let value = variable.raw().map(|v| v.to_string_lossy().into_owned());
                let entry = json!({
                    "value": value,
                    "effective": setting,
                    "meaning": variable.meaning,
                });
                (name.to_string(), entry)
            })
            .collect();
        render::json(&Value::Object(object))?;
        return super::success();
    }
    let mut table = render::table(&["variable", "value", "in effect", "meaning"]);
    for (variable, (name, setting)) in rows {
        let value = variable
            .raw()
            .map_or_else(String::new, |v| v.to_string_lossy().into_owned());
        table.add_row(vec![
            name.to_string(),
            value,
            setting,
            variable.meaning.to_string(),
        ]);
    }
    render::print_table(&table, "")?;
    super::success()
}
