//! The handlers' error type: a kind Step Functions' `Retry`/`Catch` match on (the Lambda
//! `errorType`), and a message naming what failed and where.

use patchlake_assume::ErrorKind as AwsKind;

/// How Step Functions should treat a failed invocation. The names are the `errorType`s the
/// state machine (`infra/statemachine.asl.json`) retries on or gives up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling, 5xx, timeouts, I/O: repeating the invocation can succeed.
    Retryable,
    /// The event or the configuration is wrong: repeating it cannot succeed.
    BadInput,
    /// The function's role may not do what it needs (assume, list, read or write the lake).
    AccessDenied,
    /// Anything else (a bug or corrupt data): not retried, surfaced to the operator.
    Internal,
}

impl ErrorKind {
    /// The Lambda `errorType`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::BadInput => "BadInput",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::Internal => "Internal",
        }
    }

    pub fn is_retryable(self) -> bool {
        self == ErrorKind::Retryable
    }

    /// Every kind, for checking the state machine's Retry and Catch lists.
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::Retryable,
        ErrorKind::BadInput,
        ErrorKind::AccessDenied,
        ErrorKind::Internal,
    ];
}

/// A failed invocation.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}", kind = kind.name())]
pub struct HandlerError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = HandlerError> = std::result::Result<T, E>;

impl HandlerError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HandlerError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }

    /// An error of the lake, in `context` (e.g. "staging account 1 region r of run x").
    pub fn lake(context: &str, e: &patchlake_lake::Error) -> Self {
        use patchlake_lake::Error as E;
        let kind = match e {
            E::Remote { .. } | E::Io { .. } => ErrorKind::Retryable,
            E::AccessDenied { .. } | E::KmsDenied { .. } | E::WrongBucketOwner { .. } => {
                ErrorKind::AccessDenied
            }
            E::InvalidTask { .. }
            | E::InvalidKey { .. }
            | E::InvalidUrl { .. }
            | E::NoSuchBucket { .. }
            | E::NotCommitted { .. }
            | E::NothingStaged { .. } => ErrorKind::BadInput,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, format!("{context}: {e}"))
    }

    /// An error of the AWS edge, classified by where it was born.
    pub fn aws(context: &str, kind: AwsKind, e: &dyn std::fmt::Display) -> Self {
        let kind = match kind {
            AwsKind::Throttled | AwsKind::Transient => ErrorKind::Retryable,
            AwsKind::AccessDenied | AwsKind::Unauthorized => ErrorKind::AccessDenied,
            AwsKind::BadRequest | AwsKind::NotFound => ErrorKind::BadInput,
            AwsKind::Other => ErrorKind::Internal,
        };
        Self::new(kind, format!("{context}: {e}"))
    }

    pub fn query(context: &str, e: &patchlake_query::Error) -> Self {
        use patchlake_query::Error as E;
        match e {
            E::Lake(inner) => Self::lake(context, inner),
            E::LakeNotFound { .. }
            | E::NoCommittedRuns { .. }
            | E::NoRunAsOf { .. }
            | E::InvalidAsOf { .. }
            | E::InvalidParam { .. }
            | E::NotLocal { .. } => Self::new(ErrorKind::BadInput, format!("{context}: {e}")),
            _ => Self::new(ErrorKind::Internal, format!("{context}: {e}")),
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.kind.name().to_owned(),
            error_message: e.message,
        }
    }
}

/// Parses an event into `T`; a malformed event is [`ErrorKind::BadInput`] naming the field.
pub fn parse_event<T: serde::de::DeserializeOwned>(
    handler: &str,
    event: serde_json::Value,
) -> Result<T> {
    serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "the event".to_owned()
        } else {
            format!("field `{path}`")
        };
        HandlerError::bad_input(format!(
            "{handler} event: {field}: {inner}",
            inner = e.into_inner()
        ))
    })
}
