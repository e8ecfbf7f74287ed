//! patchlake's integration tests: one binary, modules by concern. They run the real AWS SDK
//! clients against the fleet simulator on loopback and the real lake on a temp directory.

mod cli;
mod collect;
mod crash;
mod discover;
mod e2e;
mod faults;
mod golden;
mod harness;
mod infra;
mod load;
mod moto;
mod privilege;
mod report_input;
mod s3;
mod secrets;
mod throughput;
