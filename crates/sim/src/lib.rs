//! Fleet simulator: a deterministic, seeded synthetic AWS organization and a loopback HTTP
//! server speaking the real AWS wire protocols for it.
//!
//! This crate owns three things:
//! - [`fleet`]: generation of the organization (accounts, OUs), and per account-region the
//!   SSM managed instances, patch baselines, patch-group registrations, patch states,
//!   maintenance windows, and (lazily) per-instance patch records and inventory.
//! - [`truth`]: the expected compliance aggregates, computed directly from the fleet.
//! - [`server`]: an axum server on `127.0.0.1` answering SSM and Organizations
//!   (awsJson1_1) and STS (awsQuery) so the unmodified aws-sdk-rust clients can be pointed at
//!   it with `endpoint_url`, with runtime-injectable faults and call statistics.
//!
//! ```no_run
//! use std::sync::Arc;
//! use patchlake_sim::{Fleet, SimOptions, SimServer, TruthOptions, demo_spec};
//!
//! # async fn demo() -> patchlake_sim::Result<()> {
//! let spec = demo_spec();
//! let fleet = Arc::new(Fleet::generate(&spec));
//! let expected = fleet.truth(&TruthOptions::at(spec.anchor));
//! let sim = SimServer::start(Arc::clone(&fleet), SimOptions::default()).await?;
//! // aws_sdk_sts / aws_sdk_ssm clients: .endpoint_url(sim.endpoint()), any base credentials,
//! // then AssumeRole into arn:aws:iam::<account>:role/<spec.role_name> with the ExternalId.
//! # let _ = expected;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! It must not depend on any other patchlake crate: it is the independent source of truth
//! the collector, the lake and the reports are checked against, so sharing their model would
//! let a bug on both sides cancel out.

mod error;
pub mod fleet;
mod keys;
pub mod server;
pub mod truth;
pub mod truth_inventory;

pub use error::{Error, Result};
pub use fleet::{ExtraRole, Fleet, FleetSpec, PatchRecord, RegionOptStatus, demo_spec};
pub use server::{
    FaultConfig, Faults, Malformation, SimHandle, SimOptions, SimServer, Stats, Throttle,
};
pub use truth::{Agg, Truth, TruthOptions};
