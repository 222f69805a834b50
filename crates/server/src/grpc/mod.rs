//! The gRPC frontend (tonic): `inference.GRPCInferenceService`. Core errors map to gRPC
//! codes in [`status_of`].

mod convert;
mod limit;
mod service;

pub use convert::{to_request, to_response};
pub use limit::SizeLimitStatus;
pub use service::GrpcService;

use crate::error::ServerError;

/// The gRPC status of a core error (Triton's mapping).
pub fn status_of(e: &ServerError) -> tonic::Status {
    let msg = e.message().to_string();
    match e {
        ServerError::NotFound(_) => tonic::Status::not_found(msg),
        ServerError::InvalidArg(_) => tonic::Status::invalid_argument(msg),
        ServerError::Unavailable(_) => tonic::Status::unavailable(msg),
        ServerError::Unsupported(_) => tonic::Status::unimplemented(msg),
        ServerError::Internal(_) => tonic::Status::internal(msg),
    }
}
