//! The query layer's errors: which lake, which run, which report.

use std::path::PathBuf;

use chrono::NaiveDate;
use datafusion::error::DataFusionError;
use patchlake_model::RunId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no lake at {root}")]
    LakeNotFound { root: PathBuf },

    #[error("the lake at {root} has no committed run yet (run `collect` first)")]
    NoCommittedRuns { root: PathBuf },

    #[error("no committed run on or before {date} in the lake at {root}; the earliest is {earliest} (dt {})", earliest.dt())]
    NoRunAsOf {
        date: NaiveDate,
        earliest: RunId,
        root: PathBuf,
    },

    #[error(
        "invalid as-of {value:?}: expected `latest`, a run id (YYYYMMDDTHHMMSSZ-<8 hex>) or a date (YYYY-MM-DD)"
    )]
    InvalidAsOf { value: String },

    #[error("invalid report parameter {name}: {detail}")]
    InvalidParam { name: &'static str, detail: String },

    #[error("unknown report {name:?}; known reports: {known}")]
    UnknownReport { name: String, known: String },

    #[error("the lake {root} is not a local directory; only local lakes can be queried so far")]
    NotLocal { root: String },

    #[error("registering {what}: {source}")]
    Setup {
        what: String,
        #[source]
        source: Box<DataFusionError>,
    },

    #[error("report {name}: {source}")]
    Report {
        name: String,
        #[source]
        source: Box<DataFusionError>,
    },

    #[error("query failed: {source}")]
    Sql {
        #[source]
        source: Box<DataFusionError>,
    },

    #[error(
        "{context} failed reading damaged lake files: {problems} (the files differ from their runs record; `patchlake lake verify` lists every damaged file): {source}"
    )]
    Damaged {
        context: String,
        problems: String,
        #[source]
        source: Box<DataFusionError>,
    },

    #[error("deriving the Athena view {view} from queries/{source_file}: {detail}")]
    Athena {
        view: String,
        source_file: String,
        detail: String,
    },

    #[error(transparent)]
    Lake(#[from] patchlake_lake::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
