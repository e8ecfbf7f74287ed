//! Drives the simulator over raw HTTP/1.1, checking the AWS wire formats byte for byte, and
//! through the unmodified aws-sdk-rust clients (`sdk`).

mod client;
mod faults;
mod orgs;
mod sdk;
mod ssm;
mod sts;
