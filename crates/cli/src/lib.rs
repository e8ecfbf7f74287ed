//! The `patchlake` command line: the pipeline wiring behind its subcommands.
//!
//! [`pipeline::collect_run`] is the whole job — discover, assume, collect, stage, finalize —
//! as a library function, so that tests and the Lambda handlers call exactly what the CLI
//! runs. [`demo`] runs it against the in-process fleet simulator. `main.rs` only parses
//! arguments and prints.

pub mod demo;
pub mod pipeline;
pub mod progress;
