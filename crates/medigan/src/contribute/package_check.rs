//! Reading a package folder to contribute, and checking it before anything runs or is uploaded:
//! its one-entry `medigan.json`, the fields a contribution requires, and the files the entry
//! names (the ONNX graph of a native package; `__init__.py` and the weights of a legacy one).

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use super::error::ContributeError;
use crate::catalog::validate::validate_entry;
use crate::catalog::{Problem, Severity};

/// The metadata file of a package.
pub const METADATA_FILE: &str = "medigan.json";

/// How a required field is written in `medigan.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A non-empty string.
    Text,
    /// A non-empty list of non-empty strings (asked for as comma-separated words).
    List,
    /// A non-empty list of `{"name": "Family, Given", "affiliation": "..."}` objects (asked for
    /// as `Name (Affiliation); Name (Affiliation)`).
    Authors,
}

/// A field a contribution must have, beyond what catalogue validation requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredField {
    /// The dotted path in the entry, e.g. `description.title`.
    pub path: &'static str,
    /// The question asked in a terminal.
    pub question: &'static str,
    /// How the field is written.
    pub kind: FieldKind,
}

/// The fields `medigan contribute` requires: what Zenodo needs for a deposition (title,
/// creators, description, licence, keywords) and what people search the catalogue by.
pub const REQUIRED_FIELDS: &[RequiredField] = &[
    RequiredField {
        path: "description.title",
        question: "Title of the model (one line)",
        kind: FieldKind::Text,
    },
    RequiredField {
        path: "description.authors",
        question: "Authors, as `Family, Given (Affiliation)` separated by `;`",
        kind: FieldKind::Authors,
    },
    RequiredField {
        path: "description.comment",
        question: "Description: what the model generates, from which training data, its architecture",
        kind: FieldKind::Text,
    },
    RequiredField {
        path: "selection.license",
        question: "Licence of the weights, as an SPDX id (MIT, Apache-2.0, CC-BY-4.0, ...)",
        kind: FieldKind::Text,
    },
    RequiredField {
        path: "selection.modality",
        question: "Imaging modalities, comma-separated (e.g. MMG, mammography)",
        kind: FieldKind::List,
    },
    RequiredField {
        path: "selection.organ",
        question: "Organs shown, comma-separated (e.g. breast)",
        kind: FieldKind::List,
    },
];

/// Which runtime a package is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    /// An ONNX graph and metadata (`execution.runtime: "onnx"`).
    Native,
    /// A Python package in the original medigan format.
    Legacy,
}

/// A package folder with its one catalogue entry.
#[derive(Debug, Clone)]
pub struct Package {
    /// The folder.
    pub dir: PathBuf,
    /// The id the entry has in the folder's `medigan.json`.
    pub declared_id: String,
    /// The entry (`execution`, `selection`, `description`).
    pub entry: Value,
    /// Native or legacy.
    pub kind: PackageKind,
}

impl Package {
    /// Reads `DIR/medigan.json`, which must be an object with exactly one entry.
    pub fn open(dir: &Path) -> Result<Package, ContributeError> {
        let path = dir.join(METADATA_FILE);
        let text = std::fs::read_to_string(&path).map_err(|cause| ContributeError::Io {
            action: "read",
            path: path.clone(),
            cause,
        })?;
        let bad = |reason: String| ContributeError::BadMetadata {
            path: path.clone(),
            reason,
        };
        let root: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let Value::Object(models) = root else {
            return Err(bad("expected an object `{\"ID\": {...}}`".into()));
        };
        if models.len() != 1 {
            return Err(bad(format!(
                "expected exactly one entry, found {}",
                models.len()
            )));
        }
        let (declared_id, entry) = models.into_iter().next().expect("one entry");
        if !entry.is_object() {
            return Err(bad(format!("entry `{declared_id}` is not an object")));
        }
        let runtime = entry.pointer("/execution/runtime").and_then(Value::as_str);
        let kind = if runtime == Some("onnx") {
            PackageKind::Native
        } else {
            PackageKind::Legacy
        };
        Ok(Package {
            dir: dir.to_path_buf(),
            declared_id,
            entry,
            kind,
        })
    }

    /// The required fields that are absent, empty or hold only empty values.
    pub fn missing_fields(&self) -> Vec<&'static RequiredField> {
        REQUIRED_FIELDS
            .iter()
            .filter(|f| !is_filled(lookup(&self.entry, f.path), f.kind))
            .collect()
    }

    /// Sets a required field from a typed answer; an empty or unparsable answer is refused.
    pub fn set_field(&mut self, field: &RequiredField, answer: &str) -> Result<(), String> {
        let value = parse_answer(field.kind, answer)?;
        let (parent, key) = field.path.split_once('.').expect("dotted path");
        let object = self
            .entry
            .as_object_mut()
            .expect("entry is an object")
            .entry(parent)
            .or_insert_with(|| Value::Object(Map::new()));
        match object {
            Value::Object(map) => {
                map.insert(key.to_string(), value);
                Ok(())
            }
            _ => Err(format!("`{parent}` is not an object")),
        }
    }

    /// Writes the entry back to `DIR/medigan.json` under its declared id.
    pub fn save(&self) -> Result<(), ContributeError> {
        let path = self.dir.join(METADATA_FILE);
        let text = pretty(&json!({ self.declared_id.clone(): self.entry.clone() }));
        crate::fs::write_atomically(&path, text.as_bytes()).map_err(|cause| ContributeError::Io {
            action: "write",
            path,
            cause,
        })
    }

    /// Every problem that stops a contribution under `id`, each naming its file or field:
    /// catalogue validation errors, missing required fields, and missing files.
    pub fn problems(&self, id: &str) -> Vec<String> {
        let entry = self.entry_for(id);
        let mut problems: Vec<String> = validate_entry(id, &entry)
            .into_iter()
            .filter(|p: &Problem| p.severity == Severity::Error && p.path != "<id>")
            .map(|p| format!("medigan.json: {}: {}", p.path, p.message))
            .collect();
        for field in self.missing_fields() {
            problems.push(format!(
                "medigan.json: {} is required and empty ({})",
                field.path, field.question
            ));
        }
        problems.extend(self.file_problems());
        problems
    }

    /// Missing files: the graph (native), `__init__.py` with the generate function and the
    /// weights (legacy), `README.md` and `LICENSE`.
    pub fn file_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for name in ["README.md", "LICENSE"] {
            if !self.dir.join(name).is_file() {
                problems.push(format!(
                    "{name} is missing (every package has a model card and a licence)"
                ));
            }
        }
        match self.kind {
            PackageKind::Native => {
                if let Some(graph) = self
                    .entry
                    .pointer("/execution/onnx/graph")
                    .and_then(Value::as_str)
                {
                    match inside(graph) {
                        Err(why) => problems.push(format!("execution.onnx.graph `{graph}`: {why}")),
                        Ok(()) if !self.dir.join(graph).is_file() => problems.push(format!(
                            "the graph `{graph}` named by execution.onnx.graph is missing: export it with torch.onnx.export (see README.md)"
                        )),
                        Ok(()) => problems.extend(self.external_data_problems()),
                    }
                }
            }
            PackageKind::Legacy => problems.extend(self.legacy_problems()),
        }
        problems
    }

    /// The external-data files of the native package's graphs against their declaration
    /// (`execution.onnx.external_data`, `diffusion.decoder.external_data`): see
    /// [`crate::runtime::check_external_data`]; every file is hashed.
    fn external_data_problems(&self) -> Vec<String> {
        let Some(spec) = self
            .entry
            .pointer("/execution/onnx")
            .and_then(|onnx| serde_json::from_value::<crate::catalog::OnnxSpec>(onnx.clone()).ok())
        else {
            return Vec::new();
        };
        let none = |_: &str| None;
        let mut graphs = vec![(
            spec.graph.as_str(),
            "execution.onnx.external_data",
            &spec.external_data,
        )];
        if let Some(decoder) = spec.diffusion.as_ref().and_then(|d| d.decoder.as_ref()) {
            graphs.push((
                decoder.graph.as_str(),
                "execution.onnx.diffusion.decoder.external_data",
                &decoder.external_data,
            ));
        }
        graphs
            .into_iter()
            .filter_map(|(graph, field, declared)| {
                crate::runtime::check_external_data(&self.dir, graph, field, declared, &none)
                    .err()
                    .map(|e| e.to_string())
            })
            .collect()
    }

    fn legacy_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let text = |key: &str| {
            self.entry
                .pointer(&format!("/execution/{key}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let function = self
            .entry
            .pointer("/execution/generate_method/name")
            .and_then(Value::as_str)
            .unwrap_or("generate");
        match std::fs::read_to_string(self.dir.join("__init__.py")) {
            Err(_) => problems.push(
                "__init__.py is missing (a legacy package is a Python package with a generate function)".into(),
            ),
            Ok(code) => {
                let def = format!("def {function}(");
                if !code.lines().any(|l| l.trim_start().starts_with(&def)) {
                    problems.push(format!(
                        "__init__.py has no `{def}...)` (execution.generate_method.name)"
                    ));
                }
            }
        }
        let weights = format!("{}{}", text("model_name"), text("extension"));
        match inside(&weights) {
            Err(why) => problems.push(format!("weights file `{weights}`: {why}")),
            Ok(()) if !self.dir.join(&weights).is_file() => problems.push(format!(
                "the weights file `{weights}` (execution.model_name + extension) is missing"
            )),
            Ok(()) => {}
        }
        problems
    }

    /// The entry as it goes into the package under `id`: `package_name` is the id,
    /// `package_link` is `"."` (the package itself) and no `sha256` (a zip cannot hold its hash).
    pub fn entry_for(&self, id: &str) -> Value {
        let mut entry = self.entry.clone();
        if let Some(execution) = entry.get_mut("execution").and_then(Value::as_object_mut) {
            execution.insert("package_name".into(), Value::String(id.into()));
            execution.insert("package_link".into(), Value::String(".".into()));
            execution.remove("sha256");
        }
        entry
    }

    /// The `medigan.json` that goes into the package under `id`.
    pub fn metadata_for(&self, id: &str) -> String {
        pretty(&json!({ id: self.entry_for(id) }))
    }

    /// A string field of the entry (`description.title`), empty when absent.
    pub fn text(&self, path: &str) -> String {
        lookup(&self.entry, path)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// A list-of-strings field of the entry, empty when absent.
    pub fn list(&self, path: &str) -> Vec<String> {
        lookup(&self.entry, path)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `(name, affiliation)` of each author in `description.authors`.
    pub fn authors(&self) -> Vec<(String, String)> {
        lookup(&self.entry, "description.authors")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|a| {
                        let name = a.get("name")?.as_str()?.trim().to_string();
                        let affiliation = a
                            .get("affiliation")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .trim()
                            .to_string();
                        (!name.is_empty()).then_some((name, affiliation))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Validates the form of a new model id: `NNNNN_NAME`, NAME in upper snake case.
pub fn check_id_format(id: &str) -> Result<(), ContributeError> {
    let fail = |reason: &str| {
        Err(ContributeError::MalformedId {
            id: id.to_string(),
            reason: reason.to_string(),
        })
    };
    let Some((number, name)) = id.split_once('_') else {
        return fail("expected five digits, an underscore and a name");
    };
    if number.len() != 5 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return fail("it must start with five digits, e.g. `00100_`");
    }
    if number == "00000" {
        return fail("00000 is the placeholder of `init-model`; choose a real number");
    }
    let words_ok = name.split('_').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    if !words_ok || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return fail(
            "the name must be UPPER_SNAKE_CASE (A-Z, 0-9, single underscores), starting with a letter",
        );
    }
    if id.len() > 100 {
        return fail("it is longer than 100 characters");
    }
    Ok(())
}

fn lookup<'v>(entry: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(entry, |v, key| v.get(key))
}

fn is_filled(value: Option<&Value>, kind: FieldKind) -> bool {
    let nonblank = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());
    match (kind, value) {
        (FieldKind::Text, Some(v)) => nonblank(v),
        (FieldKind::List, Some(Value::Array(items))) => {
            !items.is_empty() && items.iter().all(nonblank)
        }
        (FieldKind::Authors, Some(Value::Array(items))) => {
            !items.is_empty() && items.iter().all(|a| a.get("name").is_some_and(nonblank))
        }
        _ => false,
    }
}

fn parse_answer(kind: FieldKind, answer: &str) -> Result<Value, String> {
    let answer = answer.trim();
    if answer.is_empty() {
        return Err("an answer is required".into());
    }
    Ok(match kind {
        FieldKind::Text => Value::String(answer.into()),
        FieldKind::List => Value::Array(
            answer
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        FieldKind::Authors => {
            let mut authors = Vec::new();
            for part in answer.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, affiliation) = match part.split_once('(') {
                    Some((name, rest)) => (name.trim(), rest.trim_end_matches(')').trim()),
                    None => (part, ""),
                };
                if name.is_empty() {
                    return Err(format!("`{part}` has no name"));
                }
                authors.push(json!({"name": name, "affiliation": affiliation}));
            }
            Value::Array(authors)
        }
    })
}

/// Refuses absolute paths and `..` in a file name taken from metadata.
fn inside(name: &str) -> Result<(), &'static str> {
    let path = Path::new(name);
    if name.is_empty() {
        return Err("empty file name");
    }
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(())
    } else {
        Err("must be a relative path inside the package")
    }
}

/// JSON with four-space indentation and a final newline, like the catalogue files.
pub(crate) fn pretty(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).expect("JSON values serialize");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_five_digits_and_upper_snake() {
        assert!(check_id_format("00100_DCGAN_MMG_128").is_ok());
        for bad in [
            "100_X",
            "00100",
            "00100_dcgan",
            "00100__X",
            "0010A_X",
            "00000_X",
            "00100_X_",
        ] {
            assert!(check_id_format(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn authors_answers_parse_names_and_affiliations() {
        let value = parse_answer(FieldKind::Authors, "Doe, Jane (Uni A); Roe, Rick").unwrap();
        assert_eq!(
            value,
            json!([{"name": "Doe, Jane", "affiliation": "Uni A"}, {"name": "Roe, Rick", "affiliation": ""}])
        );
    }

    #[test]
    fn the_required_fields_are_the_formats_contribute_fields() {
        use crate::catalog::schema::{self, FieldType, Need};
        let asked: Vec<&str> = REQUIRED_FIELDS.iter().map(|f| f.path).collect();
        for f in schema::FIELDS.iter().filter(|f| f.need == Need::Contribute) {
            assert!(asked.contains(&f.path), "{} is not asked for", f.path);
        }
        for required in REQUIRED_FIELDS {
            let f = schema::get(required.path).expect("a field of the format");
            assert_ne!(f.need, Need::Optional, "{}", f.path);
            let ty = match required.kind {
                FieldKind::Text => FieldType::String,
                FieldKind::List => FieldType::StringList,
                FieldKind::Authors => FieldType::ObjectList,
            };
            assert_eq!(f.ty, ty, "{}", f.path);
        }
    }
}
