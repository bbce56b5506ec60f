//! Keyword search and ranking by metric (the paper's `model_selector`).
//!
//! Every function takes the models as `(model_id, selection)` pairs in catalogue order, where
//! `selection` is the `selection` object of a catalogue entry; nothing here depends on the
//! catalogue types. The exact semantics follow the original medigan `ModelSelector`, with the
//! deliberate differences listed in `tests/reference/search-semantics.md`:
//!
//! | function | medigan (Python) counterpart |
//! |---|---|
//! | [`find_matching`] | `find_matching_models_by_values` |
//! | [`rank`] | `rank_models_by_performance` |
//! | [`find_and_rank`] | `find_models_and_rank` |
//! | [`find_by_key_value`] | `get_models_by_key_value_pair` |
//! | [`selection_keys`] | `get_selection_keys` |
//! | [`selection_values_for_key`] | `get_selection_values_for_key` |
//!
//! Values are compared through their Python string form ([`python_str`]), so `224.0` matches
//! "224.0" but not "224", exactly as in the original.

mod error;
mod keys;
mod keyword;
mod lookup;
mod path;
mod pystr;
mod rank;

pub use error::SearchError;
pub use keys::{selection_keys, selection_values_for_key};
pub use keyword::{KeywordQuery, Operator, find_matching};
pub use lookup::find_by_key_value;
pub use pystr::{python_float_repr, python_str};
pub use rank::{Order, RankedModel, find_and_rank, rank};
