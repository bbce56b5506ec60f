//! Dotted paths (`CLF.trained_on_real.f1`) into nested catalogue objects (the original `Utils.deep_get`).

use serde_json::Value;

/// The value at a dotted, case-sensitive path below `root`.
///
/// `None` when a key is missing or the path runs through something that is not an object
/// (a list, a string, a number). An empty path names the key `""`.
pub(crate) fn resolve<'v>(root: &'v Value, dotted: &str) -> Option<&'v Value> {
    dotted
        .split('.')
        .try_fold(root, |node, key| node.as_object()?.get(key))
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use serde_json::json;

    #[test]
    fn resolves_nested_keys_and_stops_at_non_objects() {
        let root = json!({"a": {"b": [1, 2], "c": 3.5, "n": null}});
        assert_eq!(resolve(&root, "a.c"), Some(&json!(3.5)));
        assert_eq!(resolve(&root, "a.n"), Some(&json!(null)));
        assert_eq!(resolve(&root, "a.b.0"), None);
        assert_eq!(resolve(&root, "a.c.x"), None);
        assert_eq!(resolve(&root, "A.c"), None);
        assert_eq!(resolve(&root, ""), None);
    }
}
