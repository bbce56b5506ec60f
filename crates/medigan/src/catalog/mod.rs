//! Model catalogues (the paper's `config_manager`): load, validate and merge them, and find a
//! model by id.
//!
//! A catalogue is medigan's `global.json`: an object mapping model ids to entries with the parts
//! `execution`, `selection` and `description` ([`ModelMetadata`]). Several [sources](source)
//! merge into one [`Catalog`] by model id. The entry format's fields are listed once, in
//! [`schema::FIELDS`].

pub mod diffusion;
pub mod field;
mod id;
mod imaging;
pub mod metadata;
pub mod onnx;
pub mod schema;
pub mod source;
pub mod user;
pub mod validate;

use crate::error::{Advice, Hint, Suggestion};
use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

pub use diffusion::*;
pub use field::Field;
pub use imaging::{declared_spacing, dicom_modality};
pub use metadata::*;
pub use onnx::*;
pub use source::{CatalogSettings, SourceInfo, SourceKind, UpdateReport};
pub use validate::{Problem, Severity};

/// One model of a catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// The model id, e.g. `00001_DCGAN_MMG_CALC_ROI`.
    pub id: String,
    /// The typed metadata.
    pub metadata: ModelMetadata,
    /// The `selection` part as JSON, as searched by [`crate::search`].
    pub selection_json: Value,
    /// Index into [`Catalog::sources`] of the source this entry comes from.
    pub source: usize,
}

/// A merged catalogue: entries in catalogue order, found by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<ModelEntry>,
    index: HashMap<String, usize>,
    sources: Vec<SourceInfo>,
    warnings: Vec<Problem>,
}

/// Errors of loading, validating and querying catalogues.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A catalogue file is not valid JSON.
    #[error("catalogue `{source_name}` is not valid JSON: {cause}")]
    Json {
        /// Where the catalogue came from.
        source_name: String,
        /// The parser's message, with line and column.
        cause: serde_json::Error,
    },
    /// A catalogue has entries with errors.
    #[error("catalogue `{source_name}` has {} problem(s):\n{}", problems.len(), render(problems))]
    Invalid {
        /// Where the catalogue came from.
        source_name: String,
        /// Every problem found, each naming its model and field.
        problems: Vec<Problem>,
    },
    /// A catalogue file could not be read or written.
    #[error("cannot {action} catalogue file `{}`: {cause}", path.display())]
    Io {
        /// What was being done ("read", "write").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A catalogue could not be downloaded.
    #[error("cannot download catalogue from `{url}`: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A URL source was requested while offline and no cached copy exists.
    #[error("offline: catalogue `{url}` is not cached")]
    Offline {
        /// The URL.
        url: String,
    },
    /// The package of an `hf://` catalogue source could not be fetched (its `medigan.json` is
    /// the catalogue).
    #[error("cannot fetch the catalogue package `{link}`: {error}")]
    Package {
        /// The link.
        link: String,
        /// Why.
        error: Box<crate::store::StoreError>,
    },
    /// No model has this id.
    #[error("unknown model `{query}`{}", suggestion_text(suggestions))]
    UnknownModel {
        /// What the user asked for.
        query: String,
        /// The closest ids.
        suggestions: Vec<String>,
    },
    /// An id prefix matches several models.
    #[error("model `{query}` is ambiguous: it matches {}", candidates.join(", "))]
    AmbiguousModel {
        /// What the user asked for.
        query: String,
        /// Every model it matches.
        candidates: Vec<String>,
    },
}

impl Hint for CatalogError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            CatalogError::UnknownModel { .. } => Some(
                Advice::text("list the models with ")
                    .then(Suggestion::ListModels)
                    .then_text(", find one with ")
                    .then(Suggestion::SearchModels)
                    .then_text(", or fetch the upstream catalogue with `medigan catalog update`"),
            ),
            CatalogError::Package { error, .. } => error.advice(),
            CatalogError::AmbiguousModel { .. } => {
                Some("give more of the id, e.g. the full `00001_NAME`".into())
            }
            CatalogError::Offline { .. } => Some(
                Advice::text("run the same command ")
                    .then(Suggestion::Online { also_env: false })
                    .then_text(" once to cache it"),
            ),
            CatalogError::Download { .. } => Some(
                "no network? every other command still works with the catalogue in effect (the \
                 snapshot built in, or the last copy fetched: `medigan catalog sources`); retry \
                 when online, or give another URL with `--url` (or MEDIGAN_CATALOG_URL)"
                    .into(),
            ),
            CatalogError::Invalid { .. } => {
                Some("`medigan catalog validate --catalog PATH` lists every problem".into())
            }
            _ => None,
        }
    }
}

fn render(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    lines.join("\n")
}

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

/// Entries of one source in file order: `(model id, metadata)`.
pub type Entries = Vec<(String, ModelMetadata)>;

/// Parses and validates catalogue JSON text, returning its entries in file order.
///
/// Errors list every problem of every entry; warnings are returned beside the entries.
pub fn parse_catalog(
    text: &str,
    source_name: &str,
) -> Result<(Entries, Vec<Problem>), CatalogError> {
    let json_error = |cause| CatalogError::Json {
        source_name: source_name.to_string(),
        cause,
    };
    validate::refuse_byte_order_mark(text).map_err(json_error)?;
    let root: Value = serde_json::from_str(text).map_err(json_error)?;
    let mut problems = validate::duplicate_ids(text);
    problems.extend(validate::validate_catalog(&root));
    let (errors, warnings): (Vec<_>, Vec<_>) = problems
        .into_iter()
        .partition(|p| p.severity == Severity::Error);
    if !errors.is_empty() {
        return Err(CatalogError::Invalid {
            source_name: source_name.to_string(),
            problems: errors,
        });
    }
    let Value::Object(models) = root else {
        unreachable!("validate_catalog reports a non-object root as an error")
    };
    let entries = models
        .into_iter()
        .map(|(id, value)| typed_entry(&id, value, source_name).map(|m| (id, m)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, warnings))
}

/// [`parse_catalog`] for a catalogue fetched from a URL: its packages must be fetched over
/// http(s) too (or be bundled), never read from local files or folders.
pub fn parse_remote_catalog(
    text: &str,
    source_name: &str,
) -> Result<(Entries, Vec<Problem>), CatalogError> {
    let (entries, warnings) = parse_catalog(text, source_name)?;
    let problems: Vec<Problem> = entries
        .iter()
        .filter_map(|(id, m)| validate::remote_package_link(id, &m.execution.package_link))
        .collect();
    if !problems.is_empty() {
        return Err(CatalogError::Invalid {
            source_name: source_name.to_string(),
            problems,
        });
    }
    Ok((entries, warnings))
}

fn typed_entry(id: &str, value: Value, source_name: &str) -> Result<ModelMetadata, CatalogError> {
    serde_path_to_error::deserialize(value).map_err(|err| CatalogError::Invalid {
        source_name: source_name.to_string(),
        problems: vec![Problem {
            model: id.to_string(),
            path: err.path().to_string(),
            message: err.inner().to_string(),
            severity: Severity::Error,
        }],
    })
}

impl Catalog {
    /// Merges layers of entries by model id: a later layer's entry replaces an earlier one.
    ///
    /// A single layer keeps its file order; several layers are listed by model id.
    pub fn from_layers(layers: Vec<(SourceInfo, Entries)>) -> Self {
        let several = layers.len() > 1;
        let mut catalog = Catalog::default();
        for (source, entries) in layers {
            let source_index = catalog.sources.len();
            catalog.sources.push(source);
            for (id, metadata) in entries {
                catalog.insert(id, metadata, source_index);
            }
        }
        if several {
            catalog.entries.sort_by(|a, b| a.id.cmp(&b.id));
            catalog.reindex();
        }
        catalog
    }

    /// Builds a catalogue from JSON text (one source), validating it.
    pub fn from_json_str(text: &str, source: SourceInfo) -> Result<Self, CatalogError> {
        let (entries, warnings) = parse_catalog(text, &source.location)?;
        let mut catalog = Catalog::from_layers(vec![(source, entries)]);
        catalog.warnings = warnings;
        Ok(catalog)
    }

    fn insert(&mut self, id: String, metadata: ModelMetadata, source: usize) {
        let selection_json =
            serde_json::to_value(&metadata.selection).unwrap_or_else(|_| Value::Object(Map::new()));
        let entry = ModelEntry {
            id: id.clone(),
            metadata,
            selection_json,
            source,
        };
        match self.index.get(&id) {
            Some(&position) => {
                let replaced = self.entries[position].source;
                self.sources[replaced].overridden += 1;
                self.entries[position] = entry;
            }
            None => {
                self.index.insert(id, self.entries.len());
                self.entries.push(entry);
            }
        }
        self.sources[source].models += 1;
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
    }

    /// Adds warnings found while loading.
    pub(crate) fn add_warnings(&mut self, warnings: Vec<Problem>) {
        self.warnings.extend(warnings);
    }

    /// The entries, in catalogue order.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// The model ids, in catalogue order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.id.as_str())
    }

    /// `(model id, selection JSON)` pairs in catalogue order, as [`crate::search`] takes them.
    pub fn selections(&self) -> impl Iterator<Item = (&str, &Value)> + Clone {
        self.entries
            .iter()
            .map(|e| (e.id.as_str(), &e.selection_json))
    }

    /// The entry with exactly this id.
    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    /// The sources this catalogue was merged from, lowest precedence first.
    pub fn sources(&self) -> &[SourceInfo] {
        &self.sources
    }

    /// Warnings found while loading (entries that load but deserve a look).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalogue has no models.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The catalogue as medigan `global.json` (an object of entries in catalogue order).
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .entries
            .iter()
            .map(|e| {
                let value = serde_json::to_value(&e.metadata).unwrap_or(Value::Null);
                (e.id.clone(), value)
            })
            .collect();
        Value::Object(map)
    }
}
