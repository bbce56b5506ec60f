//! Model catalogues (the paper's `config_manager`): load, validate and merge them.

pub mod field;
pub mod metadata;
pub mod onnx;

pub use field::Field;
pub use metadata::*;
pub use onnx::*;
