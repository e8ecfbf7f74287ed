//! The AWS edge: one factory builds every AWS client, and one place assumes roles.
//!
//! [`ClientFactory`] owns endpoint override, retry, timeouts and the starting identity for every
//! SDK client the pipeline uses (STS, SSM, Organizations), and attaches a [`CallStats`]
//! interceptor so that callers can report calls, throttles and retries. [`RoleAssumer`] assumes
//! the member-account role once per account (ExternalId, session name, duration), caches the
//! session and refreshes it before it expires, so a run longer than a session never fails on
//! expiry. [`ErrorKind`] classifies AWS errors where they are born. This crate must not know
//! about patches or the lake.

mod credentials;
mod error;
mod factory;
mod pacer;
mod retry;
mod s3;
mod stats;

pub use aws_smithy_runtime_api::client::interceptors::context::Output as SdkOutput;
pub use credentials::RoleAssumer;
pub use error::{AwsError, Error, ErrorKind, Result, classify};
pub use factory::ClientFactory;
pub use pacer::{Pacer, PacerSnapshot};
pub use retry::OutputCheck;
pub use stats::{CallStats, CallStatsSnapshot};
