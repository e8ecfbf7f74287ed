//! Integration tests of the lake writer: staging, committing, reading back, verifying,
//! collecting garbage; each against a local directory and against S3 (moto's server).

mod backend;
mod commit;
mod compact;
mod crash;
mod fixtures;
mod gc;
mod integrity;
mod measure;
mod moto;
mod s3;
