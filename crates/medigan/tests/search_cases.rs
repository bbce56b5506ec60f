//! Runs every case recorded from the original medigan `ModelSelector` (`search-cases.json`)
//! through the `search` module and checks that the results are the same.

mod common;

use medigan::search::{
    KeywordQuery, Operator, Order, RankedModel, SearchError, find_and_rank, find_by_key_value,
    find_matching, python_str, rank,
};
use serde_json::Value;

/// One `(model_id, selection)` pair per catalogue entry, in catalogue order.
fn selections(catalogue: &Value) -> Vec<(&str, &Value)> {
    let entries = catalogue
        .as_object()
        .expect("the catalogue is an object of models");
    entries
        .iter()
        .map(|(id, entry)| (id.as_str(), entry.get("selection").unwrap_or(&Value::Null)))
        .collect()
}

fn load(name: &str) -> Value {
    let path = common::shared_reference(name);
    let text = std::fs::read_to_string(&path).expect("readable reference file");
    serde_json::from_str(&text).expect("valid JSON reference file")
}

fn arg_str<'a>(args: &'a Value, key: &str, default: &'a str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or(default)
}

fn arg_bool(args: &Value, key: &str) -> bool {
    args.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn arg_strings(args: &Value, key: &str) -> Option<Vec<String>> {
    let items = args.get(key)?.as_array()?;
    Some(
        items
            .iter()
            .map(|item| python_str(item).into_owned())
            .collect(),
    )
}

fn query(args: &Value) -> Result<KeywordQuery, SearchError> {
    Ok(KeywordQuery {
        values: arg_strings(args, "values").unwrap_or_default(),
        operator: arg_str(args, "target_values_operator", "AND").parse::<Operator>()?,
        match_keys: arg_bool(args, "are_keys_also_matched"),
        case_sensitive: arg_bool(args, "is_case_sensitive"),
    })
}

fn ids_json(ids: Vec<&str>) -> Value {
    Value::Array(
        ids.into_iter()
            .map(|id| Value::String(id.to_owned()))
            .collect(),
    )
}

fn ranked_json(ranked: Vec<RankedModel>, metric: &str) -> Value {
    Value::Array(ranked.iter().map(|model| model.to_json(metric)).collect())
}

/// What our implementation returns for one case, in the case file's result shape.
fn run_case(models: &[(&str, &Value)], kind: &str, args: &Value) -> Result<Value, String> {
    let models = models.iter().copied();
    let metric = arg_str(args, "metric", "SSIM");
    let order = || arg_str(args, "order", "asc").parse::<Order>();
    let outcome = match kind {
        "search" => query(args).map(|q| ids_json(find_matching(models, &q))),
        "rank" => order().and_then(|order| {
            let restrict = arg_strings(args, "model_ids");
            rank(models, metric, order, restrict.as_deref()).map(|r| ranked_json(r, metric))
        }),
        "search_and_rank" => query(args).and_then(|q| {
            find_and_rank(models, &q, metric, order()?).map(|r| ranked_json(r, metric))
        }),
        "key_value" => {
            let (key, value) = (arg_str(args, "key1", ""), arg_str(args, "value1", ""));
            let case_sensitive = arg_bool(args, "is_case_sensitive");
            Ok(ids_json(find_by_key_value(
                models,
                key,
                value,
                case_sensitive,
            )))
        }
        other => return Err(format!("unknown case kind `{other}`")),
    };
    outcome.map_err(|error| format!("error: {error}"))
}

#[test]
fn every_recorded_case_gives_the_recorded_result() {
    let catalogue = load("medigan-global.json");
    let cases = load("search-cases.json");
    let models = selections(&catalogue);
    let cases = cases.as_array().expect("the case file is a list");
    let mut failures = Vec::new();
    for case in cases {
        let id = &case["id"];
        let kind = case["kind"].as_str().unwrap_or("");
        let expected = &case["result"];
        match run_case(&models, kind, &case["args"]) {
            Ok(actual) if actual == *expected => {}
            Ok(actual) => failures.push(format!(
                "case {id} ({kind}, {}): expected {expected}, got {actual}",
                case["note"]
            )),
            Err(message) => failures.push(format!("case {id} ({kind}): {message}")),
        }
    }
    assert!(!cases.is_empty(), "no cases in search-cases.json");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
