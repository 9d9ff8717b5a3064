//! Typed errors of the core. Nothing in the core panics on bad input; it returns one of these.

/// An error of the core; the bindings map `Config` to `ConfigError` and the rest to `InputError`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A row's bytes are not UTF-8.
    #[error("row {row}: text is not valid UTF-8 (byte {byte})")]
    InvalidUtf8 { row: usize, byte: usize },
    /// An option is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input buffers are inconsistent (offsets not monotonic, lengths disagree, ...).
    #[error("invalid input: {0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, CoreError>;
