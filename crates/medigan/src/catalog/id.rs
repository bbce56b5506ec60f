//! Finding a model by id: full ids, integers (`1`, `00001`) and unique prefixes.

use super::{Catalog, CatalogError, ModelEntry};

/// How many close ids an unknown-model error suggests.
const SUGGESTIONS: usize = 3;

impl Catalog {
    /// Finds a model by full id, by number (`1`, `00001` -> `00001_...`) or by a unique prefix
    /// (`00001_DCGAN`). Prefixes are tried case-sensitively first, then ignoring case.
    pub fn resolve(&self, query: &str) -> Result<&ModelEntry, CatalogError> {
        let query = query.trim();
        if let Some(entry) = self.get(query) {
            return Ok(entry);
        }
        let candidates = self.candidates(query);
        match candidates.as_slice() {
            [one] => Ok(one),
            [] => Err(CatalogError::UnknownModel {
                query: query.to_string(),
                suggestions: self.closest(query),
            }),
            many => Err(CatalogError::AmbiguousModel {
                query: query.to_string(),
                candidates: many.iter().map(|e| e.id.clone()).collect(),
            }),
        }
    }

    /// The entries a non-exact query could mean.
    fn candidates(&self, query: &str) -> Vec<&ModelEntry> {
        if query.is_empty() {
            return Vec::new();
        }
        if let Some(number) = numeric_id(query) {
            let prefix = format!("{number:05}_");
            let by_number = self.with_prefix(|id| id.starts_with(&prefix));
            if !by_number.is_empty() {
                return by_number;
            }
        }
        let exact_case = self.with_prefix(|id| id.starts_with(query));
        if !exact_case.is_empty() {
            return exact_case;
        }
        let lower = query.to_lowercase();
        self.with_prefix(|id| id.to_lowercase().starts_with(&lower))
    }

    fn with_prefix(&self, matches: impl Fn(&str) -> bool) -> Vec<&ModelEntry> {
        self.entries().iter().filter(|e| matches(&e.id)).collect()
    }

    /// The ids closest to `query`, best first.
    fn closest(&self, query: &str) -> Vec<String> {
        let lower = query.to_lowercase();
        let mut scored: Vec<(f64, &str)> = self
            .ids()
            .map(|id| (similarity(&lower, &id.to_lowercase()), id))
            .filter(|(score, _)| *score > 0.3)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored
            .into_iter()
            .take(SUGGESTIONS)
            .map(|(_, id)| id.to_string())
            .collect()
    }
}

/// `Some(n)` when the query is all digits (an integer model id).
fn numeric_id(query: &str) -> Option<u64> {
    if query.bytes().all(|b| b.is_ascii_digit()) {
        query.parse().ok()
    } else {
        None
    }
}

/// Similarity of a query to an id: the best of the whole-id and the name-part comparison, with
/// a bonus when the query is contained in the id.
fn similarity(query: &str, id: &str) -> f64 {
    let name = id.split_once('_').map_or(id, |(_, name)| name);
    let whole = strsim::jaro_winkler(query, id);
    let named = strsim::jaro_winkler(query, name);
    let contained = if id.contains(query) { 0.2 } else { 0.0 };
    whole.max(named) + contained
}
