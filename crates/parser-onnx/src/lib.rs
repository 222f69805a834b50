//! Kiln ONNX parser.
