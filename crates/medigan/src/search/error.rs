//! Errors of the search module: a bad operator, sort order or metric path.

/// What went wrong when a search or ranking request was malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The search operator is not `and`, `or` or `xor`.
    #[error("unknown search operator `{value}`: expected `and`, `or` or `xor` (any case)")]
    UnknownOperator {
        /// The operator as given.
        value: String,
    },
    /// The sort order is not `asc` or `desc`.
    #[error(
        "unknown sort order `{value}`: expected `asc` or `desc` (also `ascending`, `descending`; any case)"
    )]
    UnknownOrder {
        /// The order as given.
        value: String,
    },
    /// The metric path is empty or has an empty part between dots.
    #[error(
        "metric `{metric}` is empty or has an empty part between dots: name a metric below \
         `selection.performance`, such as `FID` or `CLF.trained_on_real.f1`"
    )]
    EmptyMetric {
        /// The metric as given.
        metric: String,
    },
}

impl crate::error::Hint for SearchError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            SearchError::EmptyMetric { .. } => {
                Some("`medigan info MODEL` shows a model's metrics".into())
            }
            SearchError::UnknownOperator { .. } | SearchError::UnknownOrder { .. } => None,
        }
    }
}
