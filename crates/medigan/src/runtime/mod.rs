//! Running a loaded generator: the ONNX backends (onnxruntime, tract) behind one trait (the paper's `model_executor`).
