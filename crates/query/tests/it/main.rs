//! Integration tests of the query layer over lakes written by `patchlake-lake`.

mod as_of;
mod athena;
mod compliance;
mod fixtures;
mod history;
mod properties;
