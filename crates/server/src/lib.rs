//! kiln-server: serves a Triton-layout model repository over HTTP and gRPC with the KServe v2
//! protocol (the job Triton Inference Server does).
