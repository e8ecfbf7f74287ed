//! The lake's error type: every variant names the object, file or run it is about.

use patchlake_model::RunId;

/// Errors of the lake, classified so callers can decide by kind rather than by message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object the caller asked for does not exist.
    #[error("{path}: not found")]
    NotFound { path: String },

    /// A run was asked for that has no `runs` record.
    #[error("run {run_id} is not committed ({detail})")]
    NotCommitted { run_id: RunId, detail: String },

    /// A file exists but is not what the lake wrote there: unreadable Parquet, wrong schema,
    /// rows out of place.
    #[error("{path}: corrupt: {detail}")]
    Corrupt { path: String, detail: String },

    /// `finalize` was called for a run whose `runs` record already exists.
    #[error("run {run_id} is already committed ({path} exists); refusing to finalize it again")]
    AlreadyCommitted { run_id: RunId, path: String },

    /// A create-only write found the object already there.
    #[error("{path}: already exists")]
    AlreadyExists { path: String },

    /// `finalize` found no staged task for the run.
    #[error("run {run_id}: no staged task under {path}; nothing to finalize")]
    NothingStaged { run_id: RunId, path: String },

    /// A task output that breaks the lake contract (bad ids, rows of another account-region).
    #[error("task {task_key}: {detail}")]
    InvalidTask { task_key: String, detail: String },

    /// A storage key that is not a relative `/`-separated path.
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    /// A lake root that is neither a local directory nor `s3://bucket/prefix`.
    #[error("lake root {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The lake's S3 bucket does not exist.
    #[error("{url}: bucket {bucket} does not exist")]
    NoSuchBucket { bucket: String, url: String },

    /// The bucket exists but belongs to another account than the configured expected owner.
    #[error(
        "s3://{bucket}: the bucket is not owned by the expected account {expected}; refusing to read or write it"
    )]
    WrongBucketOwner { bucket: String, expected: String },

    /// The credentials may not perform the request on `path`.
    #[error("{path}: access denied: {detail}")]
    AccessDenied { path: String, detail: String },

    /// S3 could not use the object's KMS key (key policy, grant, disabled or missing key).
    #[error("{path}: KMS key access denied: {detail}")]
    KmsDenied { path: String, detail: String },

    /// The storage service does not support a request feature (conditional writes).
    #[error("{path}: unsupported by the server: {detail}")]
    Unsupported { path: String, detail: String },

    /// Any other failure of a remote storage request on `path` (throttling, timeouts, 5xx
    /// after the client's retries).
    #[error("{path}: {detail}")]
    Remote { path: String, detail: String },

    /// An I/O error reading or writing `path`.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// Encoding Parquet for `path` failed.
    #[error("{path}: writing parquet: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// An Arrow kernel (sort, take, concat) failed on the data of `path`.
    #[error("{path}: {source}")]
    Arrow {
        path: String,
        #[source]
        source: arrow::error::ArrowError,
    },

    /// Converting records of `context` to or from Arrow failed.
    #[error("{context}: {source}")]
    Model {
        context: String,
        #[source]
        source: patchlake_model::Error,
    },
}

impl Error {
    /// Whether the error means "does not exist" (an object or a committed run).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. } | Error::NotCommitted { .. })
    }

    pub(crate) fn io(path: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<String>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |source| Error::Parquet { path, source }
    }

    pub(crate) fn arrow(path: impl Into<String>) -> impl FnOnce(arrow::error::ArrowError) -> Error {
        let path = path.into();
        move |source| Error::Arrow { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
