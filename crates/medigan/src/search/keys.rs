//! The keys of the models' `selection` objects and the values under one key (the original `get_selection_keys` and `get_selection_values_for_key`).

use std::collections::HashSet;

use serde_json::Value;

use super::path::resolve;

/// The distinct top-level keys of all `selection` objects, in order of first appearance.
pub fn selection_keys<'a, I>(models: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = (&'a str, &'a Value)>,
{
    let mut seen = HashSet::new();
    models
        .into_iter()
        .filter_map(|(_, selection)| selection.as_object())
        .flat_map(|map| map.keys().map(String::as_str))
        .filter(|key| seen.insert(*key))
        .collect()
}

/// The distinct values found under `key` (a dotted path into `selection`) across all models, in
/// order of first appearance.
///
/// The elements of a list value are listed one by one; other values (null and objects included)
/// as they are. Models lacking the key are skipped (the original raises). Values are distinct
/// as JSON values: `2021` and `"2021"` are two values.
pub fn selection_values_for_key<'a, I>(models: I, key: &str) -> Vec<&'a Value>
where
    I: IntoIterator<Item = (&'a str, &'a Value)>,
{
    let mut values: Vec<&Value> = Vec::new();
    let found = models
        .into_iter()
        .filter_map(|(_, selection)| resolve(selection, key));
    for value in found.flat_map(elements) {
        if !values.contains(&value) {
            values.push(value);
        }
    }
    values
}

/// A list's elements, or the value itself.
fn elements(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::{selection_keys, selection_values_for_key};
    use serde_json::{Value, json};

    fn catalogue() -> Vec<(&'static str, Value)> {
        vec![
            (
                "a",
                json!({"type": "DCGAN", "organ": ["breast", "chest"], "year": "2021", "p": {"f": 1}}),
            ),
            (
                "b",
                json!({"organ": ["chest", "lung"], "type": "DCGAN", "year": 2021, "license": null}),
            ),
            ("c", json!({"type": "CycleGAN", "p": {"f": 2}})),
            ("d", json!(null)),
        ]
    }

    #[test]
    fn keys_in_order_of_first_appearance() {
        let models = catalogue();
        let pairs = models.iter().map(|(id, selection)| (*id, selection));
        assert_eq!(
            selection_keys(pairs),
            ["type", "organ", "year", "p", "license"]
        );
    }

    #[test]
    fn values_are_flattened_distinct_and_skip_missing() {
        let models = catalogue();
        let values = |key: &str| -> Vec<Value> {
            let pairs = models.iter().map(|(id, selection)| (*id, selection));
            selection_values_for_key(pairs, key)
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(
            values("organ"),
            [json!("breast"), json!("chest"), json!("lung")]
        );
        assert_eq!(values("type"), [json!("DCGAN"), json!("CycleGAN")]);
        assert_eq!(values("year"), [json!("2021"), json!(2021)]);
        assert_eq!(values("license"), [json!(null)]);
        assert_eq!(values("p.f"), [json!(1), json!(2)]);
        assert!(values("missing").is_empty());
    }
}
