//! The one error type of kiln-core, carrying the node it happened at.

/// Result alias for kiln-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the IR, shape inference and the reference evaluator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error raised while handling one node; names the node and its op.
    #[error("node '{node}' ({op}): {source}")]
    Node {
        /// Node name (or a generated one when the model gave none).
        node: String,
        /// Op type of the node.
        op: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// An attribute is missing, of the wrong type, or has a bad value.
    #[error("attribute '{name}': {message}")]
    Attribute {
        /// Attribute name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// Shapes do not fit together.
    #[error("shape error: {0}")]
    Shape(String),
    /// A data type is not allowed here.
    #[error("type error: {0}")]
    Type(String),
    /// A feature the op set does not support (yet).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An input or value is missing or invalid.
    #[error("invalid input: {0}")]
    Input(String),
    /// The graph itself is malformed (cycles, undefined values, ...).
    #[error("invalid graph: {0}")]
    Graph(String),
}

impl Error {
    /// Wrap this error with the node it happened at (idempotent for errors that already name one).
    pub fn at_node(self, node: &str, op: &str) -> Error {
        match self {
            e @ Error::Node { .. } => e,
            e => Error::Node {
                node: node.to_string(),
                op: op.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// Shorthand for [`Error::Shape`].
    pub fn shape(msg: impl Into<String>) -> Error {
        Error::Shape(msg.into())
    }

    /// Shorthand for [`Error::Type`].
    pub fn dtype(msg: impl Into<String>) -> Error {
        Error::Type(msg.into())
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(msg: impl Into<String>) -> Error {
        Error::Unsupported(msg.into())
    }

    /// Shorthand for [`Error::Input`].
    pub fn input(msg: impl Into<String>) -> Error {
        Error::Input(msg.into())
    }

    /// Shorthand for [`Error::Attribute`].
    pub fn attr(name: &str, msg: impl Into<String>) -> Error {
        Error::Attribute {
            name: name.to_string(),
            message: msg.into(),
        }
    }
}
