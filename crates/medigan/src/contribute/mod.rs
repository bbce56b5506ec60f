//! Contributing models and testing them (paper, sections 3.7 and 3.8).
//!
//! | module | job |
//! |---|---|
//! | `model_test` | the model test pipeline: fetch, load, generate, check ([`test_model`]) |

mod model_test;

pub use model_test::{Check, ModelTestReport, Verdict, test_model};
