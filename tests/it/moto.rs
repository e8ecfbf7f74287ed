//! moto's S3 server for the CLI-level S3 tests: the shared launcher of `patchlake-testkit`
//! (started once per test binary, reset between tests, one test at a time), with the bucket
//! these tests use. `PATCHLAKE_SKIP_S3_TESTS=1` skips them; otherwise a missing
//! `moto_server` fails them.

pub use patchlake_testkit::moto::{MOTO_ACCOUNT, Moto, skipped};

pub const BUCKET: &str = "patchlake-cli-test";
