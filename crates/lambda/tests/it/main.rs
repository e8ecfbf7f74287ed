//! patchlake-lambda's integration tests: the handlers with hand-built events, the real
//! binaries behind a Lambda Runtime API emulator, and the state machine definition followed
//! by a local runner against the fleet simulator.

mod asl;
mod chain;
mod crash;
mod emulator;
mod handlers;
mod harness;
mod measure;
mod shapes;
