//! Test-only helpers shared by the workspace's integration tests (a dev-dependency only,
//! never published): [`moto`] starts moto's S3 server on loopback once per test binary and
//! hands it out one test at a time; [`s3_proxy`] is a loopback HTTP proxy in front of it that
//! injects S3's 500 InternalError and 503 SlowDown, lost responses and latency at a seeded
//! rate, and records the S3 actions it forwarded.
//!
//! It must not depend on any patchlake crate: the tests use it to check them.

pub mod moto;
pub mod s3_proxy;
