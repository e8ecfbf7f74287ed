//! Integration tests of the lake writer: staging, committing, reading back, verifying.

mod commit;
mod fixtures;
mod integrity;
