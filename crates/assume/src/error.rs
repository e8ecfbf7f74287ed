use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call ended in, decided where the error is born so callers act
/// by kind rather than by string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller may not do this (AccessDenied, role not assumable, ExternalId mismatch).
    AccessDenied,
    /// The credentials are not valid for the endpoint or region (region disabled, token expired).
    Unauthorized,
    /// The service kept throttling after every retry.
    Throttled,
    /// A transient server or network failure that survived retries (5xx, timeout, connection).
    Transient,
    /// The request was rejected as invalid (a bug on our side or an unexpected response).
    BadRequest,
    /// The named resource does not exist.
    NotFound,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Whether repeating the whole task later could succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

/// An AWS call that failed, with the operation and the service's code and message.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    pub kind: ErrorKind,
    pub operation: &'static str,
    /// The service's error code (`AccessDenied`, `ThrottlingException`, ...), or a client-side
    /// code such as `DispatchFailure` or `Timeout`.
    pub code: String,
    pub message: String,
}

impl AwsError {
    /// The code of a page that was still malformed when the attempts ran out.
    pub const MALFORMED: &'static str = "MalformedResponse";

    /// A page of `operation` that was still malformed when the attempts ran out (`defect`
    /// says how: an item lacking an identifier the SDK would default to empty, a negative
    /// count): never kept short, blank or negative.
    pub fn malformed(operation: &'static str, defect: &str) -> Self {
        AwsError {
            kind: ErrorKind::Transient,
            operation,
            code: Self::MALFORMED.to_owned(),
            message: format!("{defect} in every attempt; the page is malformed"),
        }
    }
}

/// Errors of the AWS edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "assuming role {role_arn} in account {account_id}: {source}{hint}",
        hint = assume_hint(source)
    )]
    AssumeRole {
        account_id: String,
        role_arn: String,
        #[source]
        source: AwsError,
    },
    /// An AssumeRole answer without usable credentials: a member missing or empty (the SDK
    /// defaults missing required members to empty strings and the epoch), or an expiry that
    /// has passed or is not a time.
    #[error(
        "assuming role {role_arn} in account {account_id}: sts:AssumeRole returned unusable credentials: {problem}"
    )]
    NoCredentials {
        account_id: String,
        role_arn: String,
        problem: String,
    },
}

fn assume_hint(e: &AwsError) -> &'static str {
    if e.kind == ErrorKind::AccessDenied {
        " (check that the role exists, trusts the calling identity, and that roles.external_id matches the role's sts:ExternalId condition)"
    } else {
        ""
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::AssumeRole { source, .. } => source.kind,
            Error::NoCredentials { .. } => ErrorKind::Other,
        }
    }

    /// The AWS error code, for the `coverage` table.
    pub fn code(&self) -> &str {
        match self {
            Error::AssumeRole { source, .. } => &source.code,
            Error::NoCredentials { .. } => "NoCredentials",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Classifies an SDK error of `operation` into an [`AwsError`].
pub fn classify<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = match err {
        SdkError::ServiceError(se) if se.err().code().is_none() => {
            // No error code: the answer did not parse (a 2xx body the deserializer refused,
            // or an error body without a code). Say why, from the parser, not from the body.
            let status = se.raw().status().as_u16();
            // Display of each source only: the Debug form would carry the raw response.
            let mut why = String::new();
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(se.err());
            while let Some(e) = source {
                if !why.is_empty() {
                    why.push_str(": ");
                }
                why.push_str(&e.to_string());
                source = e.source();
            }
            if why.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|&i| why.is_char_boundary(i))
                    .unwrap_or(0);
                why.truncate(cut);
                why.push('…');
            }
            (
                "ResponseError".into(),
                format!("the HTTP {status} answer could not be parsed: {why}"),
            )
        }
        SdkError::ServiceError(se) => {
            let e = se.err();
            (
                e.code().unwrap_or("Unknown").to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        }
        SdkError::TimeoutError(_) => ("Timeout".into(), "the call timed out".into()),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            ("Timeout".into(), "the attempt timed out".into())
        }
        SdkError::DispatchFailure(d) => (
            "DispatchFailure".into(),
            format!("{:?}", d.as_connector_error()),
        ),
        SdkError::ResponseError(_) => (
            "ResponseError".into(),
            "the response could not be read or parsed".into(),
        ),
        SdkError::ConstructionFailure(_) => (
            "ConstructionFailure".into(),
            "the request could not be built".into(),
        ),
        _ => ("Unknown".into(), err.to_string()),
    };
    let kind = kind_of(&code, err);
    AwsError {
        kind,
        operation,
        code,
        message,
    }
}

fn kind_of<E>(code: &str, err: &SdkError<E, HttpResponse>) -> ErrorKind {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => return ErrorKind::Transient,
        SdkError::ResponseError(_) => return ErrorKind::Transient,
        SdkError::ServiceError(se) if code == "ResponseError" && se.raw().status().is_success() => {
            return ErrorKind::Transient;
        }
        SdkError::ConstructionFailure(_) => return ErrorKind::BadRequest,
        _ => {}
    }
    let status = match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    };
    match code {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            ErrorKind::AccessDenied
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "AuthFailure"
        | "RegionDisabledException" => ErrorKind::Unauthorized,
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "SlowDown" => ErrorKind::Throttled,
        "ValidationException"
        | "InvalidNextToken"
        | "InvalidFilter"
        | "InvalidFilterKey"
        | "InvalidParameterValue"
        | "SerializationException" => ErrorKind::BadRequest,
        "DoesNotExistException" | "InvalidInstanceId" | "InvalidResourceId" | "NoSuchEntity" => {
            ErrorKind::NotFound
        }
        "InternalServerError" | "InternalFailure" | "ServiceUnavailable" => ErrorKind::Transient,
        _ if status.is_some_and(|s| s >= 500) => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}
