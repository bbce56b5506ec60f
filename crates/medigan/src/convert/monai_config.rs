//! The subset of MONAI's `ConfigParser` JSON that the converter reads, without running Python:
//! literals, `@name` references (`@a#b` into nested objects and lists), and `$` expressions made
//! only of references and quoted strings joined by `+` (the bundles' paths:
//! `"$@bundle_root + '/models'"`). Any other expression, a `%` macro or a reference loop is
//! refused with the key and the text at fault.

use serde_json::{Map, Value};

/// How deep references may chain (a loop is caught by this bound).
const MAX_DEPTH: usize = 32;

/// A component: its `_target_` and its resolved arguments.
pub type Component = (String, Map<String, Value>);

/// A bundle's `configs/inference.json`.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    root: Map<String, Value>,
}

impl BundleConfig {
    /// The config from its JSON object.
    pub fn new(root: Map<String, Value>) -> Self {
        BundleConfig { root }
    }

    /// The top-level entries.
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The raw value at `id` (`a#b#0`), unresolved.
    pub fn raw(&self, id: &str) -> Option<&Value> {
        let mut parts = id.split('#');
        let mut value = self.root.get(parts.next()?)?;
        for part in parts {
            value = match value {
                Value::Object(map) => map.get(part)?,
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }

    /// The value at `id` with its references and path expressions resolved; `Ok(None)` when
    /// absent.
    pub fn get(&self, id: &str) -> Result<Option<Value>, String> {
        match self.raw(id) {
            None => Ok(None),
            Some(value) => self.resolve(value, id, 0).map(Some),
        }
    }

    /// The `_target_` of the object at `id` and its other arguments resolved (keys starting
    /// with `_`, such as `_requires_`, left out).
    pub fn component(&self, id: &str) -> Result<Option<Component>, String> {
        let Some(Value::Object(map)) = self.raw(id) else {
            return Ok(None);
        };
        let Some(target) = map.get("_target_").and_then(Value::as_str) else {
            return Ok(None);
        };
        let mut args = Map::new();
        for (key, value) in map {
            if key.starts_with('_') {
                continue;
            }
            args.insert(key.clone(), self.resolve(value, &format!("{id}#{key}"), 0)?);
        }
        Ok(Some((target.to_string(), args)))
    }

    fn resolve(&self, value: &Value, at: &str, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "`{at}`: references nest deeper than {MAX_DEPTH} (a loop?)"
            ));
        }
        match value {
            Value::String(text) => self.resolve_text(text, at, depth),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.resolve(v, &format!("{at}#{i}"), depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) if map.contains_key("_target_") => Err(format!(
                "`{at}` is an object to instantiate (`_target_`), where a value is expected"
            )),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, v) in map {
                    out.insert(
                        key.clone(),
                        self.resolve(v, &format!("{at}#{key}"), depth + 1)?,
                    );
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn resolve_text(&self, text: &str, at: &str, depth: usize) -> Result<Value, String> {
        if let Some(id) = text.strip_prefix('@') {
            let target = self
                .raw(id)
                .ok_or_else(|| format!("`{at}` refers to `@{id}`, which the config lacks"))?;
            return self.resolve(target, id, depth + 1);
        }
        if text.starts_with('%') {
            return Err(format!(
                "`{at}` is a macro into another file (`{text}`): not supported"
            ));
        }
        let Some(expression) = text.strip_prefix('$') else {
            return Ok(Value::String(text.to_string()));
        };
        let mut joined = String::new();
        for term in expression.split('+').map(str::trim) {
            let piece = if let Some(id) = term.strip_prefix('@') {
                match self.resolve_text(term, at, depth + 1)? {
                    Value::String(s) => s,
                    other => {
                        return Err(format!("`{at}`: `@{id}` is {other}, not a string to join"));
                    }
                }
            } else if let Some(s) = quoted(term) {
                s.to_string()
            } else {
                return Err(format!(
                    "`{at}` is the Python expression `{text}`: only references and quoted \
                     strings joined by `+` are read without running the bundle"
                ));
            };
            joined.push_str(&piece);
        }
        Ok(Value::String(joined))
    }
}

/// The text of a Python string literal `'...'` or `"..."` without escapes.
fn quoted(term: &str) -> Option<&str> {
    let inner = term
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| term.strip_prefix('"').and_then(|t| t.strip_suffix('"')))?;
    (!inner.contains(['\\', '\'', '"'])).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: Value) -> BundleConfig {
        BundleConfig::new(value.as_object().unwrap().clone())
    }

    #[test]
    fn references_and_path_expressions_resolve() {
        let c = config(json!({
            "bundle_root": ".",
            "model_dir": "$@bundle_root + '/models'",
            "path": "$@model_dir + \"/model.pt\"",
            "channels": 4,
            "shape": ["@channels", 8],
            "net": {"_target_": "X", "_requires_": "@path", "in": "@channels", "deep": "@nested#a#1"},
            "nested": {"a": [0, 5]},
        }));
        assert_eq!(c.get("path").unwrap(), Some(json!("./models/model.pt")));
        assert_eq!(c.get("shape").unwrap(), Some(json!([4, 8])));
        let (target, args) = c.component("net").unwrap().unwrap();
        assert_eq!(target, "X");
        assert_eq!(Value::Object(args), json!({"in": 4, "deep": 5}));
        assert_eq!(c.get("missing").unwrap(), None);
    }

    #[test]
    fn expressions_loops_and_macros_are_refused_with_the_key() {
        let c = config(json!({
            "device": "$torch.device('cpu')",
            "a": "@b", "b": "@a",
            "m": "%other.json#x",
            "uses": {"_target_": "X", "d": "@device"},
            "gone": "@nowhere",
        }));
        let e = c.get("device").unwrap_err();
        assert!(
            e.contains("`device`") && e.contains("Python expression"),
            "{e}"
        );
        assert!(c.get("a").unwrap_err().contains("deeper"));
        assert!(c.get("m").unwrap_err().contains("macro"));
        let e = c.component("uses").unwrap_err();
        assert!(e.contains("torch.device"), "{e}");
        assert!(c.get("gone").unwrap_err().contains("`@nowhere`"));
    }
}
