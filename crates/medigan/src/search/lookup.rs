//! Finding models by one key-value pair of their `selection` (the original `get_models_by_key_value_pair`).

use serde_json::Value;

use super::path::resolve;
use super::pystr::{fold_case, python_str};

/// The ids of the models whose `selection` holds `value` at `key_path`, in catalogue order.
///
/// `key_path` is a dotted, case-sensitive path into `selection` (`modality`,
/// `performance.CLF.trained_on_real_and_fake.f1`). A model is skipped when the path is missing
/// or ends at null or an object. A list matches when `value` equals the Python string form of
/// one of its elements; any other value when its Python string form equals `value`
/// ([`python_str`]: `224.0` is "224.0", so "224" does not match). Without `case_sensitive` both
/// sides are lower-cased; nothing is trimmed.
pub fn find_by_key_value<'a, I>(
    models: I,
    key_path: &str,
    value: &str,
    case_sensitive: bool,
) -> Vec<&'a str>
where
    I: IntoIterator<Item = (&'a str, &'a Value)>,
{
    let wanted = fold_case(value, case_sensitive);
    models
        .into_iter()
        .filter(|(_, selection)| {
            resolve(selection, key_path).is_some_and(|found| holds(found, &wanted, case_sensitive))
        })
        .map(|(model_id, _)| model_id)
        .collect()
}

/// Whether a catalogue value is, or (for a list) contains, the already case-folded `wanted`.
fn holds(found: &Value, wanted: &str, case_sensitive: bool) -> bool {
    let equals = |item: &Value| fold_case(&python_str(item), case_sensitive) == wanted;
    match found {
        Value::Null | Value::Object(_) => false,
        Value::Array(items) => items.iter().any(equals),
        scalar => equals(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::find_by_key_value;
    use serde_json::{Value, json};

    fn lookup(key: &str, value: &str, case_sensitive: bool) -> Vec<String> {
        let models: Vec<(&str, Value)> = vec![
            (
                "a",
                json!({"organ": ["Brain"], "height": 224.0, "p": {"AUC": [0.56, 0.45], "t": ""}}),
            ),
            (
                "b",
                json!({"organ": ["brain"], "height": 128, "p": {"AUC": 0.45, "t": null}}),
            ),
            (
                "c",
                json!({"organ": "brain", "height": "128", "p": {"t": {"x": ""}}}),
            ),
        ];
        let pairs = models.iter().map(|(id, selection)| (*id, selection));
        find_by_key_value(pairs, key, value, case_sensitive)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lists_and_scalars() {
        assert_eq!(lookup("organ", "brain", false), ["a", "b", "c"]);
        assert_eq!(lookup("organ", "Brain", true), ["a"]);
        assert!(lookup("organ", "brain ", false).is_empty());
    }

    #[test]
    fn numbers_compare_as_python_strings() {
        assert_eq!(lookup("height", "224.0", false), ["a"]);
        assert!(lookup("height", "224", false).is_empty());
        assert_eq!(lookup("height", "128", false), ["b", "c"]);
        assert_eq!(lookup("p.AUC", "0.45", true), ["a", "b"]);
    }

    #[test]
    fn null_and_objects_are_skipped_and_keys_are_exact() {
        assert_eq!(lookup("p.t", "", false), ["a"]);
        assert!(lookup("p.t", "None", false).is_empty());
        assert!(lookup("Organ", "brain", false).is_empty());
        assert!(lookup("", "brain", false).is_empty());
        assert!(lookup("p.missing", "x", false).is_empty());
    }
}
