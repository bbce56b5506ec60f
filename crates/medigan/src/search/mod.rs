//! Keyword search and ranking by metric (the paper's `model_selector`).
