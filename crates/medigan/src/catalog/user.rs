//! The user's catalogue: `<home>/catalog-v1/local.json`, the entries a user added to their own
//! medigan (the original's `add_model_to_config`, Python's `Generators.add_model_to_config`).
//!
//! It is read on top of the default sources ([`source::load`](super::source::load)), so an entry
//! there is found by every command, and replaces a default entry of the same id. Explicit
//! sources (`--catalog`, `MEDIGAN_CATALOG`) replace the defaults and this file with them. The
//! bundled catalogue and the upstream snapshot are never written.

use std::path::Path;

use serde_json::{Map, Value};

use super::CatalogError;
use super::source::{read_file, write_atomically};
use super::validate::{Severity, validate_entry};
use crate::home::Home;

/// What [`add_entry`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The id was new: the entry was added.
    Added,
    /// The id was there and `overwrite` was given: the entry replaced it.
    Replaced,
    /// The id was there and `overwrite` was not given: nothing was written.
    Kept,
}

pub use super::source::user_catalog_path;

/// Validates `entry` under `id` (every error names its field) and adds it to the user's
/// catalogue, written atomically; an existing entry of the same id is replaced only with
/// `overwrite`. An invalid entry, or an unreadable catalogue, changes nothing.
pub fn add_entry(
    home: &Home,
    id: &str,
    entry: &Value,
    overwrite: bool,
) -> Result<Added, CatalogError> {
    let path = user_catalog_path(home);
    let problems: Vec<_> = validate_entry(id, entry)
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    if !problems.is_empty() {
        return Err(CatalogError::Invalid {
            source_name: format!("the entry given for `{id}`"),
            problems,
        });
    }
    let mut models = read_models(&path)?;
    let added = match (models.contains_key(id), overwrite) {
        (true, false) => return Ok(Added::Kept),
        (true, true) => Added::Replaced,
        (false, _) => Added::Added,
    };
    models.insert(id.to_string(), entry.clone());
    let mut text = serde_json::to_string_pretty(&Value::Object(models)).expect("JSON values");
    text.push('\n');
    write_atomically(&path, text.as_bytes())?;
    Ok(added)
}

/// The entries of the user's catalogue (empty when there is none yet).
fn read_models(path: &Path) -> Result<Map<String, Value>, CatalogError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(Map::new());
    }
    let text = read_file(path)?;
    let json = |cause| CatalogError::Json {
        source_name: path.display().to_string(),
        cause,
    };
    match serde_json::from_str::<Value>(&text).map_err(json)? {
        Value::Object(models) => Ok(models),
        _ => Err(CatalogError::Invalid {
            source_name: path.display().to_string(),
            problems: super::validate::validate_catalog(&Value::Null),
        }),
    }
}
