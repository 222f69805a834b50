//! The server core's single error type; each frontend maps it to its transport's codes in
//! one function (`http::status_of`, `grpc::status_of`).

/// An error of the server core, classified the way Triton classifies its errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// A model (or model version) that is not in the repository or not loaded.
    #[error("{0}")]
    NotFound(String),
    /// A malformed or inconsistent request.
    #[error("{0}")]
    InvalidArg(String),
    /// The model exists but cannot serve now (not ready, queue full, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// A request the server understands but does not support.
    #[error("{0}")]
    Unsupported(String),
    /// A failure inside the server or the model.
    #[error("{0}")]
    Internal(String),
}

impl ServerError {
    /// The error for a model name the server does not know, in Triton's words.
    pub fn unknown_model(name: &str, version: Option<i64>) -> ServerError {
        match version {
            Some(v) => ServerError::NotFound(format!(
                "Request for unknown model: '{name}' version {v} is not found"
            )),
            None => {
                ServerError::NotFound(format!("Request for unknown model: '{name}' is not found"))
            }
        }
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            ServerError::NotFound(m)
            | ServerError::InvalidArg(m)
            | ServerError::Unavailable(m)
            | ServerError::Unsupported(m)
            | ServerError::Internal(m) => m,
        }
    }
}

/// Results of the server core.
pub type Result<T> = std::result::Result<T, ServerError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_message_is_tritons() {
        let e = ServerError::unknown_model("nope", None);
        assert!(e.to_string().starts_with("Request for unknown model"));
        let e = ServerError::unknown_model("simple", Some(7));
        assert_eq!(
            e.message(),
            "Request for unknown model: 'simple' version 7 is not found"
        );
    }
}
