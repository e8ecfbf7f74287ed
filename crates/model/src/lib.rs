//! patchlake's core: the domain model of patch compliance and the Arrow schemas of the lake.
//!
//! This crate owns the vocabulary every stage shares (managed instances, patch states,
//! per-instance patches, baselines, patch-group registrations, coverage, runs) and the exact
//! Arrow schema each lake table has (see `shared/LAKE.md`). It performs no I/O and must never
//! depend on an AWS crate, DataFusion or an async runtime: the collector converts SDK types
//! into these records at the edge, the lake writer turns them into Parquet.

pub mod batch;
pub mod ids;
pub mod os;
pub mod records;
pub mod schema;

pub use batch::{PATCH_SPILL_ROWS, SpilledChunk, spill_if_full};
pub use ids::{AccountId, RunId, validate_account_id, validate_region};
pub use records::*;
pub use schema::Table;

/// Errors of the core model: invalid identifiers and batch construction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid account id {value:?}: expected 12 digits (leading zeros are part of the id)")]
    InvalidAccountId { value: String },
    #[error("invalid region {value:?}: expected a name like us-east-1")]
    InvalidRegion { value: String },
    #[error("invalid run id {value:?}: expected YYYYMMDDTHHMMSSZ-<8 hex>")]
    InvalidRunId { value: String },
    #[error("building the {table} batch: {source}")]
    Arrow {
        table: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Version of the tool, recorded in every `runs` record.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
