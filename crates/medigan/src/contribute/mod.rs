//! Contributing models and testing them (paper, sections 3.7 and 3.8).
//!
//! | module | job |
//! |---|---|
//! | `test_pipeline` | the model test pipeline: fetch, load, generate, check ([`test_model`]) |
//! | `skeleton` | `init-model`: a package skeleton to fill in ([`init_model`]) |
//! | `package_check` | reading a package folder, the required fields, the id form ([`Package`]) |
//! | `zip` | the reproducible zip ([`pack_dir`]) |
//! | `zenodo`, `github`, `http` | the deposition REST API, the catalogue issue, tokens |
//! | `hub` | publishing to a Hugging Face Hub repository: the commit and LFS APIs ([`HubTarget`]) |
//! | `workflow` | `contribute`: check, test, pack, upload, propose ([`contribute()`]) |
//! | `steps` | the issue alone, at a given link ([`open_entry_issue`]; Python's `push_to_github`) |

mod error;
mod github;
mod http;
mod hub;
mod package_check;
mod skeleton;
mod steps;
mod test_pipeline;
mod workflow;
mod zenodo;
mod zip;

pub use test_pipeline::{Check, ModelTestReport, Verdict, test_model};

pub use error::ContributeError;
pub use github::{CATALOG_REPO, GITHUB_API_URL};
pub use http::Token;
pub use hub::HubTarget;
pub use package_check::{
    FieldKind, METADATA_FILE, Package, PackageKind, REQUIRED_FIELDS, RequiredField, check_id_format,
};
pub use skeleton::{PLACEHOLDER_ID, init_model};
pub use steps::{IssueReport, IssueRequest, open_entry_issue};
pub use workflow::{
    ContributeReport, ContributeRequest, DepositionReport, Destination, HubReport, contribute,
    contribute_to,
};
pub use zenodo::{Deposition, ZENODO_SANDBOX_URL, ZENODO_URL};
pub use zip::{PackedPackage, pack_dir};
