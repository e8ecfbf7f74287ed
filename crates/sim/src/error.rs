use std::net::SocketAddr;

/// Errors of the simulator's own API (not the AWS errors it serves on the wire).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid fleet spec: {0}")]
    InvalidSpec(String),
    #[error("cannot bind simulator to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("simulator server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
