//! Model packages on disk: download, verify, unpack and cache (part of the paper's `model_executor`).
