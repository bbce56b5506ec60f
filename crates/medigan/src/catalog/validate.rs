//! Validation of raw catalogue JSON: every problem names its model and field path.
//!
//! Validation runs on the JSON before it is typed, so that it can report all problems of an
//! entry at once (serde stops at the first), each with the path a user can find in the file.

use std::fmt;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::onnx::{MAX_DECLARED_VALUES, MIN_TRUNCATION, graph_path_problem};
use super::schema::{self, FieldType, Need};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The entry still loads (e.g. an empty metric, which is treated as not reported).
    Warning,
    /// The entry cannot be used.
    Error,
}

/// One problem found in a catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The model id of the entry.
    pub model: String,
    /// Dotted path of the field, e.g. `execution.generate_method.name`.
    pub path: String,
    /// What is wrong and what would be right.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{level}: `{}`: {}: {}",
            self.model, self.path, self.message
        )
    }
}

/// Validates catalogue JSON text: everything [`validate_catalog`] checks, and that no model id
/// appears twice (a JSON object keeps only the last of duplicate keys, so this needs the text).
pub fn validate_catalog_text(text: &str) -> Result<Vec<Problem>, serde_json::Error> {
    refuse_byte_order_mark(text)?;
    let root: Value = serde_json::from_str(text)?;
    let mut problems = duplicate_ids(text);
    problems.extend(validate_catalog(&root));
    Ok(problems)
}

/// A catalogue saved with a UTF-8 byte-order mark fails JSON parsing at "line 1 column 1";
/// this error names the mark instead (JSON text must not start with one, and medigan's Python
/// `json.load` refuses it too).
pub(crate) fn refuse_byte_order_mark(text: &str) -> Result<(), serde_json::Error> {
    if text.starts_with('\u{feff}') {
        return Err(<serde_json::Error as serde::de::Error>::custom(
            "the file starts with a UTF-8 byte-order mark (BOM, bytes EF BB BF), which JSON \
             does not allow: save it as UTF-8 without a BOM",
        ));
    }
    Ok(())
}

/// An error for every model id that appears more than once at the top level of `text`.
pub fn duplicate_ids(text: &str) -> Vec<Problem> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Ok(keys) = deserializer.deserialize_map(TopLevelKeys) else {
        return Vec::new(); // not an object: `validate_catalog` says so
    };
    let mut seen = std::collections::HashSet::new();
    let mut reported = std::collections::HashSet::new();
    keys.into_iter()
        .filter(|key| !seen.insert(key.clone()) && reported.insert(key.clone()))
        .map(|key| Problem {
            model: key,
            path: "<id>".into(),
            message: "this model id appears more than once in the catalogue (only the last \
                      would be used); give each entry its own id"
                .into(),
            severity: Severity::Error,
        })
        .collect()
}

/// Collects the keys of a JSON object, skipping the values.
struct TopLevelKeys;

impl<'de> Visitor<'de> for TopLevelKeys {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(key);
        }
        Ok(keys)
    }
}

/// A problem when `link` (an entry's `package_link`) is not fetched over the network: a
/// catalogue downloaded from a URL must not make medigan read local files (issue #14, defect 13).
pub fn remote_package_link(model: &str, link: &str) -> Option<Problem> {
    let lower = link.trim().to_ascii_lowercase();
    let remote = ["https://", "http://", "hf://", crate::bundled::SCHEME]
        .iter()
        .any(|scheme| lower.starts_with(scheme));
    (!remote).then(|| Problem {
        model: model.to_string(),
        path: "execution.package_link".into(),
        message: format!(
            "a catalogue fetched from a URL may only link packages by http(s) URL or hf:// link, found {}; \
             only a catalogue read from a local file may name local packages",
            describe(&Value::String(link.to_string()))
        ),
        severity: Severity::Error,
    })
}

/// Validates a whole catalogue (an object mapping model ids to entries).
pub fn validate_catalog(root: &Value) -> Vec<Problem> {
    let Some(models) = root.as_object() else {
        return vec![Problem {
            model: "<catalogue>".into(),
            path: "<root>".into(),
            message: format!(
                "expected an object mapping model ids to entries, found {}",
                type_name(root)
            ),
            severity: Severity::Error,
        }];
    };
    models
        .iter()
        .flat_map(|(id, entry)| validate_entry(id, entry))
        .collect()
}

/// Validates one catalogue entry.
pub fn validate_entry(id: &str, entry: &Value) -> Vec<Problem> {
    let mut check = Checker {
        model: id,
        problems: Vec::new(),
    };
    check.model_id();
    let Some(entry) = check.object(entry, "") else {
        return check.problems;
    };
    if let Some(execution) = check.required_object(entry, "", "execution") {
        check.execution(execution);
    }
    if let Some(selection) = check.required_object(entry, "", "selection") {
        check.selection(selection);
    }
    if let Some(description) = check.required_object(entry, "", "description") {
        for key in schema_keys("description", |f| {
            f.need == Need::Catalogue && f.ty == FieldType::String
        }) {
            check.required_string(description, "description", key);
        }
    }
    check.problems
}

/// Collects the problems of one entry.
struct Checker<'a> {
    model: &'a str,
    problems: Vec<Problem>,
}

/// The keys below `parent` in the format's table ([`schema::FIELDS`]) that `keep` selects.
fn schema_keys(
    parent: &str,
    keep: impl Fn(&schema::Field) -> bool,
) -> impl Iterator<Item = &'static str> {
    schema::children(parent)
        .filter(move |f| keep(f))
        .map(|f| f.path.rsplit_once('.').map_or(f.path, |(_, key)| key))
}

impl Checker<'_> {
    fn report(&mut self, path: String, message: String, severity: Severity) {
        self.problems.push(Problem {
            model: self.model.to_string(),
            path,
            message,
            severity,
        });
    }

    fn error(&mut self, path: String, message: String) {
        self.report(path, message, Severity::Error);
    }

    fn model_id(&mut self) {
        let digits = self.model.bytes().take_while(u8::is_ascii_digit).count();
        let well_formed = digits == 5 && self.model.as_bytes().get(5) == Some(&b'_');
        if !well_formed || self.model.len() < 7 {
            self.error(
                "<id>".into(),
                "model ids look like `00001_NAME`: five digits, an underscore, a name".into(),
            );
        }
        if let Some(bad) = self
            .model
            .chars()
            .find(|c| c.is_control() || matches!(c, '/' | '\\'))
        {
            self.error(
                "<id>".into(),
                format!(
                    "{:?} is not allowed in a model id (it names folders and files); use \
                     letters, digits and `_`",
                    bad
                ),
            );
        }
    }

    fn object<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        let found = value.as_object();
        if found.is_none() {
            let path = if path.is_empty() { "<entry>" } else { path };
            self.error(
                path.into(),
                format!("expected an object, found {}", type_name(value)),
            );
        }
        found
    }

    fn required<'v>(
        &mut self,
        parent: &'v Map<String, Value>,
        at: &str,
        key: &str,
        expected: &str,
    ) -> Option<&'v Value> {
        let value = parent.get(key);
        if value.is_none() {
            self.error(join(at, key), format!("missing (expected {expected})"));
        }
        value
    }

    fn required_object<'v>(
        &mut self,
        parent: &'v Map<String, Value>,
        at: &str,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        let value = self.required(parent, at, key, "an object")?;
        self.object(value, &join(at, key))
    }

    fn required_string(&mut self, parent: &Map<String, Value>, at: &str, key: &str) {
        if let Some(value) = self.required(parent, at, key, "a string") {
            self.expect_string(value, &join(at, key));
        }
    }

    fn expect_string(&mut self, value: &Value, path: &str) {
        if !value.is_string() {
            self.error(
                path.into(),
                format!("expected a string, found {}", type_name(value)),
            );
        }
    }

    fn string_list(&mut self, value: &Value, path: &str) {
        let Some(items) = value.as_array() else {
            self.error(
                path.into(),
                format!("expected a list of strings, found {}", type_name(value)),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            if !item.is_string() {
                self.error(
                    format!("{path}[{i}]"),
                    format!("expected a string, found {}", type_name(item)),
                );
            }
        }
    }

    fn execution(&mut self, execution: &Map<String, Value>) {
        let at = "execution";
        for key in schema_keys(at, |f| {
            f.need == Need::Catalogue && f.ty == FieldType::String
        }) {
            self.required_string(execution, at, key);
        }
        if let Some(size) = self.required(execution, at, "image_size", "a list of sizes") {
            self.image_size(size);
        }
        if let Some(deps) = self.required(execution, at, "dependencies", "a list of strings") {
            self.string_list(deps, "execution.dependencies");
        }
        if let Some(method) = self.required_object(execution, at, "generate_method") {
            self.generate_method(method);
        }
        self.runtime_fields(execution);
    }

    fn image_size(&mut self, size: &Value) {
        let path = "execution.image_size";
        let Some(items) = size.as_array() else {
            self.error(
                path.into(),
                format!(
                    "expected a list of positive integers such as [128, 128], found {}",
                    type_name(size)
                ),
            );
            return;
        };
        if items.is_empty() {
            self.error(path.into(), "expected at least one size, found []".into());
        }
        for (i, item) in items.iter().enumerate() {
            let ok = match item {
                Value::Number(n) => n.as_u64().is_some_and(|n| n > 0),
                Value::String(s) => s.trim().parse::<u64>().is_ok_and(|n| n > 0),
                _ => false,
            };
            if !ok {
                self.error(
                    format!("{path}[{i}]"),
                    format!("expected a positive integer, found {}", describe(item)),
                );
            }
        }
    }

    fn generate_method(&mut self, method: &Map<String, Value>) {
        let at = "execution.generate_method";
        match method.get("name") {
            None => self.error(
                join(at, "name"),
                "missing (expected the name of the generate function, e.g. \"generate\")".into(),
            ),
            Some(Value::String(s)) if s.trim().is_empty() => self.error(
                join(at, "name"),
                "empty (expected the name of the generate function)".into(),
            ),
            Some(value) => self.expect_string(value, &join(at, "name")),
        }
        let Some(args) = self.required_object(method, at, "args") else {
            return;
        };
        let args_at = "execution.generate_method.args";
        if let Some(base) = self.required(args, args_at, "base", "a list of argument names") {
            self.string_list(base, &join(args_at, "base"));
        }
        if let Some(custom) = args.get("custom") {
            self.object(custom, &join(args_at, "custom"));
        }
        if let Some(size) = method.get("input_latent_vector_size")
            && !size.is_null()
            && size.as_u64().is_none()
        {
            self.error(
                join(at, "input_latent_vector_size"),
                format!("expected a positive integer, found {}", describe(size)),
            );
        }
    }

    fn runtime_fields(&mut self, execution: &Map<String, Value>) {
        let runtime = execution.get("runtime");
        match runtime {
            None => {}
            Some(Value::String(s)) if s == "onnx" || s == "medigan-python" => {}
            Some(other) => self.error(
                "execution.runtime".into(),
                format!(
                    "expected \"onnx\" or \"medigan-python\", found {}",
                    describe(other)
                ),
            ),
        }
        if let Some(sha) = execution.get("sha256") {
            let ok = sha
                .as_str()
                .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
            if !ok {
                self.error(
                    "execution.sha256".into(),
                    format!("expected 64 hexadecimal digits, found {}", describe(sha)),
                );
            }
        }
        let is_onnx = runtime.and_then(Value::as_str) == Some("onnx");
        match execution.get("onnx") {
            Some(spec) => self.onnx(spec),
            None if is_onnx => self.error(
                "execution.onnx".into(),
                "missing (runtime \"onnx\" needs the graph, inputs and outputs declared)".into(),
            ),
            None => {}
        }
    }

    fn onnx(&mut self, spec: &Value) {
        let at = "execution.onnx";
        let Some(spec) = self.object(spec, at) else {
            return;
        };
        self.required_string(spec, at, "graph");
        if let Some(reason) = spec
            .get("graph")
            .and_then(Value::as_str)
            .and_then(graph_path_problem)
        {
            self.error(
                join(at, "graph"),
                format!("refused: {reason}; name a file inside the package, e.g. \"model.onnx\""),
            );
        }
        if let Some(inputs) = self.required(spec, at, "inputs", "a list of inputs") {
            self.onnx_ports(inputs, "execution.onnx.inputs", true);
        }
        if let Some(outputs) = self.required(spec, at, "outputs", "a list of outputs") {
            self.onnx_ports(outputs, "execution.onnx.outputs", false);
        }
        if let Some(list) = spec.get("external_data") {
            for (field, message) in
                super::onnx::external_data_problems(list, "execution.onnx.external_data")
            {
                self.error(field, message);
            }
        }
        for (field, message) in super::diffusion::diffusion_problems(spec) {
            self.error(field, message);
        }
    }

    fn onnx_ports(&mut self, ports: &Value, path: &str, inputs: bool) {
        let Some(items) = ports.as_array() else {
            self.error(
                path.into(),
                format!("expected a list, found {}", type_name(ports)),
            );
            return;
        };
        if !inputs && items.is_empty() {
            self.error(path.into(), "expected at least one output".into());
        }
        for (i, port) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            if let Some(port) = self.object(port, &at) {
                self.onnx_port(port, &at, inputs);
            }
        }
    }

    fn onnx_port(&mut self, port: &Map<String, Value>, at: &str, input: bool) {
        self.required_string(port, at, "name");
        let kinds: &[&str] = if input {
            &["latent", "class", "image", "mask", "noise"]
        } else {
            &["image", "mask"]
        };
        let kind = port.get("kind").and_then(Value::as_str);
        match kind {
            Some(k) if kinds.contains(&k) => {}
            _ => self.error(
                join(at, "kind"),
                format!(
                    "expected one of {}, found {}",
                    kinds.join(", "),
                    port.get("kind").map_or("nothing".into(), describe)
                ),
            ),
        }
        let needs_shape = !input || kind != Some("class");
        match port.get("shape") {
            Some(shape) => self.shape(shape, &join(at, "shape"), !input),
            None if needs_shape => self.error(
                join(at, "shape"),
                "missing (expected the shape of one sample, without the batch axis)".into(),
            ),
            None => {}
        }
        if kind == Some("class") {
            match port.get("classes") {
                Some(classes) => self.string_list(classes, &join(at, "classes")),
                None => self.error(
                    join(at, "classes"),
                    "missing (expected the class names in index order)".into(),
                ),
            }
        }
        if let Some(truncation) = port.get("truncation").filter(|t| !t.is_null()) {
            self.truncation(truncation, &join(at, "truncation"));
        }
        if !input && let Some(spacing) = port.get("spacing") {
            self.spacing(spacing, port.get("shape"), &join(at, "spacing"));
        }
        if let Some(range) = port.get("range") {
            self.range(range, &join(at, "range"));
        } else if !input {
            self.error(
                join(at, "range"),
                "missing (expected the output value range, e.g. [-1, 1])".into(),
            );
        }
    }

    fn truncation(&mut self, value: &Value, path: &str) {
        match value.as_f64() {
            Some(t) if t.is_finite() && t >= MIN_TRUNCATION => {}
            _ => self.error(
                path.into(),
                format!(
                    "expected a number >= {MIN_TRUNCATION} (latent values are redrawn until \
                     |z| <= truncation; leave it out for none), found {}",
                    describe(value)
                ),
            ),
        }
    }

    fn spacing(&mut self, spacing: &Value, shape: Option<&Value>, path: &str) {
        let Some(shape) = shape.and_then(declared_dims) else {
            return; // the shape's own problem is reported
        };
        if let Err(e) = super::declared_spacing(Some(spacing), path, &shape) {
            let message = match e {
                crate::formats::OutputError::Metadata { reason, .. } => reason,
                other => other.to_string(),
            };
            self.error(path.into(), message);
        }
    }

    fn shape(&mut self, shape: &Value, path: &str, output: bool) {
        let dims = declared_dims(shape);
        let values = dims.as_ref().map(|dims| {
            dims.iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
                .unwrap_or(u64::MAX)
        });
        if values.is_some_and(|n| n > MAX_DECLARED_VALUES) {
            self.error(
                path.into(),
                format!(
                    "declares more than {MAX_DECLARED_VALUES} values per sample ({}); medigan \
                     refuses samples this large",
                    describe(shape)
                ),
            );
            return;
        }
        match dims {
            Some(dims) if !output || dims.len() == 3 || dims.len() == 4 => {}
            Some(_) => self.error(
                path.into(),
                "expected [C, H, W] for images or [C, D, H, W] for volumes".into(),
            ),
            _ => self.error(
                path.into(),
                format!(
                    "expected a list of positive integers, found {}",
                    describe(shape)
                ),
            ),
        }
    }

    fn range(&mut self, range: &Value, path: &str) {
        let bounds = range
            .as_array()
            .filter(|r| r.len() == 2)
            .and_then(|r| Some((r[0].as_f64()?, r[1].as_f64()?)));
        match bounds {
            Some((lo, hi)) if lo < hi => {}
            _ => self.error(
                path.into(),
                format!(
                    "expected [low, high] with low < high, found {}",
                    describe(range)
                ),
            ),
        }
    }

    fn selection(&mut self, selection: &Map<String, Value>) {
        if let Some(performance) = self.required_object(selection, "selection", "performance") {
            for (key, value) in performance {
                self.metric(value, &format!("selection.performance.{key}"));
            }
        }
        for key in schema_keys("selection", |f| f.ty == FieldType::StringList) {
            if let Some(value) = selection.get(key).filter(|v| !v.is_null()) {
                self.string_list(value, &join("selection", key));
            }
        }
        for key in schema_keys("selection", |f| f.ty == FieldType::Number) {
            if let Some(value) = selection.get(key).filter(|v| !v.is_null())
                && !value.is_number()
            {
                self.error(
                    join("selection", key),
                    format!("expected a number, found {}", describe(value)),
                );
            }
        }
    }

    fn metric(&mut self, value: &Value, path: &str) {
        match value {
            Value::Null | Value::Number(_) => {}
            Value::Object(children) => {
                for (key, child) in children {
                    self.metric(child, &format!("{path}.{key}"));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_number() {
                        self.error(
                            format!("{path}[{i}]"),
                            format!("expected a number, found {}", describe(item)),
                        );
                    }
                }
            }
            Value::String(s) if s.is_empty() => self.report(
                path.into(),
                "empty string; treated as not reported (write null instead)".into(),
                Severity::Warning,
            ),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => {}
            other => self.error(
                path.into(),
                format!(
                    "expected a numeric metric (or null), found {}",
                    describe(other)
                ),
            ),
        }
    }
}

/// A shape as positive sizes; `None` unless it is a list of positive integers.
fn declared_dims(shape: &Value) -> Option<Vec<usize>> {
    shape
        .as_array()?
        .iter()
        .map(|d| {
            d.as_u64()
                .filter(|&d| d > 0)
                .and_then(|d| usize::try_from(d).ok())
        })
        .collect()
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        format!("{} {short}...", type_name(value))
    } else {
        format!("{} {short}", type_name(value))
    }
}
