//! Keyword search over the models' `selection` metadata (the original `find_matching_models_by_values`).

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::error::SearchError;
use super::pystr::{fold_case, python_str};

/// How the search values combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Operator {
    /// Every search value must be found in the model (the default).
    #[default]
    And,
    /// At least one search value must be found.
    Or,
    /// Exactly one distinct search value must be found (not parity: 3 of 3 is no match).
    Xor,
}

impl FromStr for Operator {
    type Err = SearchError;

    /// Parses `and`, `or` or `xor` in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::And, Self::Or, Self::Xor]
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| SearchError::UnknownOperator {
                value: text.to_owned(),
            })
    }
}

impl Operator {
    /// The operator's name as the original writes it (`AND`, `OR`, `XOR`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::And => "AND",
            Self::Or => "OR",
            Self::Xor => "XOR",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A keyword search: whole values (never substrings) looked for in each model's `selection`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeywordQuery {
    /// The values to look for; each is compared with whole catalogue values, untrimmed.
    pub values: Vec<String>,
    /// How the values combine.
    pub operator: Operator,
    /// Also compare every key, at every depth, with the values.
    pub match_keys: bool,
    /// Compare exactly; otherwise both sides are lower-cased.
    pub case_sensitive: bool,
}

impl KeywordQuery {
    /// A query for `values` with the original's defaults: `AND`, values only, case-insensitive.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            values: values.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

/// The ids of the models whose `selection` satisfies `query`, in catalogue order.
///
/// The selection is walked recursively: objects are entered, each element of a list is compared
/// through its Python string form, every other value likewise ([`python_str`]: `224.0` is
/// "224.0", null is "None"); with [`KeywordQuery::match_keys`] every key is compared too. A model
/// matches when the set F of distinct search values found in it satisfies the operator: `And`:
/// all values are in F; `Or`: F is not empty; `Xor`: F has exactly one element. Values that are
/// equal after case folding count once. An empty query matches nothing.
pub fn find_matching<'a, I>(models: I, query: &KeywordQuery) -> Vec<&'a str>
where
    I: IntoIterator<Item = (&'a str, &'a Value)>,
{
    let targets = Targets::new(query);
    models
        .into_iter()
        .filter(|(_, selection)| targets.matches(selection))
        .map(|(model_id, _)| model_id)
        .collect()
}

/// The distinct, case-folded search values and how to compare them.
struct Targets {
    values: Vec<String>,
    operator: Operator,
    match_keys: bool,
    case_sensitive: bool,
}

impl Targets {
    fn new(query: &KeywordQuery) -> Self {
        let mut values: Vec<String> = Vec::with_capacity(query.values.len());
        for value in &query.values {
            let folded = fold_case(value, query.case_sensitive).into_owned();
            if !values.contains(&folded) {
                values.push(folded);
            }
        }
        Self {
            values,
            operator: query.operator,
            match_keys: query.match_keys,
            case_sensitive: query.case_sensitive,
        }
    }

    /// Whether one model's selection satisfies the operator.
    fn matches(&self, selection: &Value) -> bool {
        let mut found = vec![false; self.values.len()];
        if let Value::Object(map) = selection {
            self.walk(map, &mut found);
        }
        let count = found.iter().filter(|hit| **hit).count();
        match self.operator {
            Operator::And => count > 0 && count == self.values.len(),
            Operator::Or => count > 0,
            Operator::Xor => count == 1,
        }
    }

    /// Compares every key (when asked) and every value below `map` with the search values.
    fn walk(&self, map: &Map<String, Value>, found: &mut [bool]) {
        for (key, value) in map {
            if self.match_keys {
                self.mark(key, found);
            }
            match value {
                Value::Object(inner) => self.walk(inner, found),
                Value::Array(items) => {
                    for item in items {
                        self.mark(&python_str(item), found);
                    }
                }
                scalar => self.mark(&python_str(scalar), found),
            }
        }
    }

    /// Records which search value (if any) equals `text`.
    fn mark(&self, text: &str, found: &mut [bool]) {
        let text = fold_case(text, self.case_sensitive);
        if let Some(index) = self.values.iter().position(|value| *value == text) {
            found[index] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KeywordQuery, Operator, find_matching};
    use serde_json::{Value, json};

    fn catalogue() -> Vec<(&'static str, Value)> {
        vec![
            (
                "a",
                json!({"modality": ["MMG", "T1"], "type": "DCGAN", "height": 128,
                       "performance": {"Dice": 0.5, "FID": null}}),
            ),
            (
                "b",
                json!({"modality": ["mri"], "type": "CycleGAN", "height": 224.0,
                       "performance": {"dice": 0.7}}),
            ),
            (
                "c",
                json!({"modality": ["x-ray"], "nested": [["MMG"]], "year": 2021}),
            ),
        ]
    }

    fn search(query: &KeywordQuery) -> Vec<String> {
        let models = catalogue();
        let pairs = models.iter().map(|(id, selection)| (*id, selection));
        find_matching(pairs, query)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn query(values: &[&str], operator: Operator, keys: bool, case: bool) -> KeywordQuery {
        KeywordQuery {
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            operator,
            match_keys: keys,
            case_sensitive: case,
        }
    }

    #[test]
    fn operators_parse_in_any_case_and_reject_others() {
        assert_eq!("and".parse::<Operator>(), Ok(Operator::And));
        assert_eq!("Or".parse::<Operator>(), Ok(Operator::Or));
        assert_eq!("XOR".parse::<Operator>(), Ok(Operator::Xor));
        let error = "nand".parse::<Operator>().unwrap_err().to_string();
        assert!(
            error.contains("`nand`") && error.contains("`xor`"),
            "{error}"
        );
        assert!("".parse::<Operator>().is_err());
    }

    #[test]
    fn whole_values_only_and_no_trimming() {
        assert_eq!(search(&KeywordQuery::new(["mmg"])), ["a"]);
        assert!(search(&KeywordQuery::new(["mm"])).is_empty());
        assert!(search(&KeywordQuery::new(["mmg "])).is_empty());
    }

    #[test]
    fn numbers_and_null_compare_as_python_strings() {
        assert_eq!(search(&KeywordQuery::new(["128"])), ["a"]);
        assert_eq!(search(&KeywordQuery::new(["224.0"])), ["b"]);
        assert!(search(&KeywordQuery::new(["224"])).is_empty());
        assert_eq!(search(&KeywordQuery::new(["none"])), ["a"]);
        assert_eq!(search(&KeywordQuery::new(["2021"])), ["c"]);
    }

    #[test]
    fn lists_inside_lists_are_compared_whole() {
        assert_eq!(search(&KeywordQuery::new(["['mmg']"])), ["c"]);
    }

    #[test]
    fn case_sensitivity() {
        let exact = query(&["mmg"], Operator::And, false, true);
        assert!(search(&exact).is_empty());
        let exact = query(&["MMG"], Operator::And, false, true);
        assert_eq!(search(&exact), ["a"]);
    }

    #[test]
    fn keys_match_at_every_depth_only_when_asked() {
        assert!(search(&KeywordQuery::new(["dice"])).is_empty());
        assert_eq!(
            search(&query(&["dice"], Operator::And, true, false)),
            ["a", "b"]
        );
        assert_eq!(search(&query(&["Dice"], Operator::And, true, true)), ["a"]);
        assert_eq!(
            search(&query(&["modality"], Operator::And, true, false)),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn xor_is_exactly_one_distinct_value_not_parity() {
        let three = query(&["mmg", "t1", "dcgan"], Operator::Xor, false, false);
        assert!(search(&three).is_empty(), "3 of 3 found is not a XOR match");
        let one = query(&["mmg", "mri"], Operator::Xor, false, false);
        assert_eq!(search(&one), ["a", "b"]);
        let same_word = query(&["MMG", "mmg"], Operator::Xor, false, false);
        assert_eq!(search(&same_word), ["a"], "equal after folding counts once");
        let distinct_when_exact = query(&["MMG", "T1"], Operator::Xor, false, true);
        assert!(search(&distinct_when_exact).is_empty());
    }

    #[test]
    fn and_or_semantics() {
        assert_eq!(
            search(&query(&["mmg", "t1"], Operator::And, false, false)),
            ["a"]
        );
        assert!(search(&query(&["mmg", "mri"], Operator::And, false, false)).is_empty());
        assert_eq!(
            search(&query(&["mmg", "mri"], Operator::Or, false, false)),
            ["a", "b"]
        );
        assert_eq!(
            search(&query(&["mmg", "mmg"], Operator::And, false, false)),
            ["a"]
        );
    }

    #[test]
    fn empty_query_matches_nothing() {
        for operator in [Operator::And, Operator::Or, Operator::Xor] {
            assert!(search(&query(&[], operator, true, false)).is_empty());
        }
    }
}
