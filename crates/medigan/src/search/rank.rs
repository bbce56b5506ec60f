//! Ranking models by a performance metric (the original `rank_models_by_performance` and `find_models_and_rank`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::error::SearchError;
use super::keyword::{KeywordQuery, find_matching};
use super::path::resolve;

/// The direction of a ranking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Smallest value first (the default).
    #[default]
    Ascending,
    /// Largest value first.
    Descending,
}

impl FromStr for Order {
    type Err = SearchError;

    /// Parses `asc`, `desc`, `ascending` or `descending` in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let is = |name: &str| name.eq_ignore_ascii_case(text);
        if is("asc") || is("ascending") {
            Ok(Self::Ascending)
        } else if is("desc") || is("descending") {
            Ok(Self::Descending)
        } else {
            Err(SearchError::UnknownOrder {
                value: text.to_owned(),
            })
        }
    }
}

impl Order {
    /// The short name the original uses (`asc`, `desc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ascending => "asc",
            Self::Descending => "desc",
        }
    }

    /// How `a` sorts against `b` in this order.
    fn compare(self, a: &Numeric, b: &Numeric) -> Ordering {
        match self {
            Self::Ascending => a.compare(b),
            Self::Descending => b.compare(a),
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One model in a ranking, with the metric value it was ranked by.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedModel {
    /// The model's id.
    pub model_id: String,
    /// The metric value as written in the catalogue (a number or a numeric string); for a list,
    /// the element it was ranked by.
    pub value: Value,
}

impl RankedModel {
    /// The original's result object: `{"model_id": id, <metric>: value}`.
    pub fn to_json(&self, metric: &str) -> Value {
        let mut object = Map::new();
        object.insert("model_id".to_owned(), Value::String(self.model_id.clone()));
        object.insert(metric.to_owned(), self.value.clone());
        Value::Object(object)
    }
}

/// The models that have a numeric value for `metric`, sorted by it.
///
/// `metric` is a dotted, case-sensitive path below `selection.performance` (`FID`,
/// `CLF.trained_on_real_and_fake.f1`). A model is left out when the path is missing, runs
/// through a non-object, or ends at null, an object, or a non-numeric string. Numbers and
/// numeric strings (`"0.790"`) rank as numbers; a list ranks by its minimum when ascending and
/// its maximum when descending, and only when all its elements are numeric. The sort is stable
/// in both directions: ties keep catalogue order. `restrict_to` keeps only those model ids
/// (unknown ids are ignored; an empty list gives an empty ranking).
///
/// # Errors
/// [`SearchError::EmptyMetric`] when `metric` is empty or has an empty part (`FID.`).
pub fn rank<'a, I>(
    models: I,
    metric: &str,
    order: Order,
    restrict_to: Option<&[String]>,
) -> Result<Vec<RankedModel>, SearchError>
where
    I: IntoIterator<Item = (&'a str, &'a Value)>,
{
    check_metric(metric)?;
    let mut scored: Vec<(Numeric, RankedModel)> = models
        .into_iter()
        .filter(|(model_id, _)| restrict_to.is_none_or(|ids| ids.iter().any(|id| id == model_id)))
        .filter_map(|(model_id, selection)| {
            let (score, value) = metric_value(selection, metric, order)?;
            let model_id = model_id.to_owned();
            Some((
                score,
                RankedModel {
                    model_id,
                    value: value.clone(),
                },
            ))
        })
        .collect();
    scored.sort_by(|(a, _), (b, _)| order.compare(a, b));
    Ok(scored.into_iter().map(|(_, model)| model).collect())
}

/// Keyword search, then [`rank`] over the models found (the original `find_models_and_rank`).
///
/// # Errors
/// As [`rank`].
pub fn find_and_rank<'a, I>(
    models: I,
    query: &KeywordQuery,
    metric: &str,
    order: Order,
) -> Result<Vec<RankedModel>, SearchError>
where
    I: IntoIterator<Item = (&'a str, &'a Value)> + Clone,
{
    check_metric(metric)?;
    let found: Vec<String> = find_matching(models.clone(), query)
        .into_iter()
        .map(str::to_owned)
        .collect();
    rank(models, metric, order, Some(&found))
}

/// Rejects an empty metric path or one with an empty part.
fn check_metric(metric: &str) -> Result<(), SearchError> {
    if metric.split('.').any(str::is_empty) {
        return Err(SearchError::EmptyMetric {
            metric: metric.to_owned(),
        });
    }
    Ok(())
}

/// The score of one model and the catalogue value it comes from, if the model can be ranked.
fn metric_value<'v>(
    selection: &'v Value,
    metric: &str,
    order: Order,
) -> Option<(Numeric, &'v Value)> {
    let value = resolve(selection.get("performance")?, metric)?;
    match value {
        Value::Array(items) => best_element(items, order),
        other => Some((Numeric::of(other)?, other)),
    }
}

/// The first smallest (ascending) or first largest (descending) element of an all-numeric,
/// non-empty list, as Python's `min` and `max` pick it.
fn best_element(items: &[Value], order: Order) -> Option<(Numeric, &Value)> {
    let mut best: Option<(Numeric, &Value)> = None;
    for item in items {
        let score = Numeric::of(item)?;
        let better = best
            .as_ref()
            .is_none_or(|(current, _)| order.compare(&score, current) == Ordering::Less);
        if better {
            best = Some((score, item));
        }
    }
    best
}

/// A metric value as a number, compared exactly across integers and floats as Python does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Numeric {
    Int(i128),
    Float(f64),
}

impl Numeric {
    /// The number a catalogue value stands for: a JSON number or a string that parses as a
    /// finite number (no surrounding whitespace). `None` for anything else.
    fn of(value: &Value) -> Option<Self> {
        match value {
            Value::Number(number) => number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from))
                .map(Self::Int)
                .or_else(|| number.as_f64().map(Self::Float)),
            Value::String(text) => text
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Self::Float),
            _ => None,
        }
    }

    /// Numeric order; `-0.0` equals `0.0`.
    fn compare(&self, other: &Self) -> Ordering {
        match (*self, *other) {
            (Self::Int(a), Self::Int(b)) => a.cmp(&b),
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (Self::Int(a), Self::Float(b)) => int_vs_float(a, b),
            (Self::Float(a), Self::Int(b)) => int_vs_float(b, a).reverse(),
        }
    }
}

/// Exact comparison of an integer with a finite float: when the rounded integer equals the
/// float, the float is integral and the integers are compared.
fn int_vs_float(int: i128, float: f64) -> Ordering {
    // `as` rounds to the nearest float, which keeps any strict order with `float`.
    match (int as f64).partial_cmp(&float) {
        Some(Ordering::Equal) => int.cmp(&(float as i128)),
        Some(ordering) => ordering,
        None => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::{Numeric, Order, RankedModel, rank};
    use crate::search::SearchError;
    use serde_json::{Value, json};
    use std::cmp::Ordering;

    fn catalogue() -> Vec<(&'static str, Value)> {
        let perf = |p: Value| json!({ "performance": p });
        vec![
            (
                "m1",
                perf(json!({"FID": 2.0, "AUC": [0.5, 0.9], "S": "0.790"})),
            ),
            ("m2", perf(json!({"FID": 1, "AUC": [0.6, 0.7], "S": "n/a"}))),
            ("m3", perf(json!({"FID": 2, "AUC": 0.8, "S": ""}))),
            ("m4", perf(json!({"FID": null, "AUC": [], "S": {"x": 1}}))),
            (
                "m5",
                perf(json!({"FID": "2.0", "AUC": [0.1, "x"], "S": "1e-3"})),
            ),
            ("m6", json!({"FID": 0.0})),
        ]
    }

    fn ranked(metric: &str, order: Order, restrict: Option<&[String]>) -> Vec<(String, Value)> {
        let models = catalogue();
        let pairs = models.iter().map(|(id, selection)| (*id, selection));
        let result = rank(pairs, metric, order, restrict).expect("valid metric");
        result
            .into_iter()
            .map(|RankedModel { model_id, value }| (model_id, value))
            .collect()
    }

    fn ids(result: &[(String, Value)]) -> Vec<&str> {
        result.iter().map(|(id, _)| id.as_str()).collect()
    }

    #[test]
    fn orders_parse_and_reject_others() {
        for text in ["asc", "ASC", "Ascending"] {
            assert_eq!(text.parse::<Order>(), Ok(Order::Ascending));
        }
        for text in ["desc", "DeSc", "DESCENDING"] {
            assert_eq!(text.parse::<Order>(), Ok(Order::Descending));
        }
        let error = "down".parse::<Order>().unwrap_err().to_string();
        assert!(
            error.contains("`down`") && error.contains("`asc`"),
            "{error}"
        );
        assert!("as".parse::<Order>().is_err());
    }

    #[test]
    fn stable_in_both_directions() {
        // m1 (2.0), m3 (2) and m5 ("2.0") tie; catalogue order is kept both ways.
        assert_eq!(
            ids(&ranked("FID", Order::Ascending, None)),
            ["m2", "m1", "m3", "m5"]
        );
        assert_eq!(
            ids(&ranked("FID", Order::Descending, None)),
            ["m1", "m3", "m5", "m2"]
        );
    }

    #[test]
    fn values_are_reported_as_written() {
        let result = ranked("FID", Order::Ascending, None);
        assert_eq!(result[0].1, json!(1));
        assert_eq!(result[3].1, json!("2.0"));
    }

    #[test]
    fn lists_rank_by_min_ascending_and_max_descending() {
        let asc = ranked("AUC", Order::Ascending, None);
        assert_eq!(
            asc,
            [
                ("m1".to_owned(), json!(0.5)),
                ("m2".to_owned(), json!(0.6)),
                ("m3".to_owned(), json!(0.8)),
            ]
        );
        let desc = ranked("AUC", Order::Descending, None);
        assert_eq!(
            desc,
            [
                ("m1".to_owned(), json!(0.9)),
                ("m3".to_owned(), json!(0.8)),
                ("m2".to_owned(), json!(0.7)),
            ]
        );
    }

    #[test]
    fn only_numbers_and_numeric_strings_rank() {
        let result = ranked("S", Order::Descending, None);
        assert_eq!(
            result,
            [
                ("m1".to_owned(), json!("0.790")),
                ("m5".to_owned(), json!("1e-3"))
            ]
        );
    }

    #[test]
    fn restriction_and_missing_paths() {
        let some = ["m3".to_owned(), "nope".to_owned(), "m2".to_owned()];
        assert_eq!(
            ids(&ranked("FID", Order::Descending, Some(&some))),
            ["m3", "m2"]
        );
        assert!(ranked("FID", Order::Ascending, Some(&[])).is_empty());
        assert!(ranked("FID.x", Order::Ascending, None).is_empty());
        assert!(ranked("performance.FID", Order::Ascending, None).is_empty());
    }

    #[test]
    fn empty_metric_is_an_error() {
        let models = catalogue();
        for metric in ["", "FID.", ".FID", "a..b"] {
            let pairs = models.iter().map(|(id, selection)| (*id, selection));
            let error = rank(pairs, metric, Order::Ascending, None).unwrap_err();
            assert_eq!(
                error,
                SearchError::EmptyMetric {
                    metric: metric.to_owned()
                }
            );
        }
    }

    #[test]
    fn integers_and_floats_compare_exactly() {
        let big = 1_i128 << 53;
        assert_eq!(
            Numeric::Int(big + 1).compare(&Numeric::Float(big as f64)),
            Ordering::Greater
        );
        assert_eq!(
            Numeric::Float(big as f64).compare(&Numeric::Int(big + 1)),
            Ordering::Less
        );
        assert_eq!(
            Numeric::Int(2).compare(&Numeric::Float(2.0)),
            Ordering::Equal
        );
        assert_eq!(
            Numeric::Int(2).compare(&Numeric::Float(2.5)),
            Ordering::Less
        );
        assert_eq!(
            Numeric::Float(-0.0).compare(&Numeric::Float(0.0)),
            Ordering::Equal
        );
    }

    #[test]
    fn result_object_uses_the_metric_as_written() {
        let model = RankedModel {
            model_id: "m1".to_owned(),
            value: json!(0.5),
        };
        assert_eq!(
            model.to_json("CLF.f1"),
            json!({"model_id": "m1", "CLF.f1": 0.5})
        );
    }
}
