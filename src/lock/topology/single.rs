//! One Redis server: every slot is served by the one connection of the process registry
//! ([`crate::lock::net::registry`]), with its reconnect, fork and resend rules.

use std::sync::Arc;

use crate::lock::error::{Error, ErrorKind};
use crate::lock::net::registry::{self, Shared};

/// One server.
pub struct Single {
    shared: Arc<Shared>,
}

impl Single {
    /// The server whose connection state is `shared`.
    pub fn new(shared: Arc<Shared>) -> Single {
        Single { shared }
    }

    /// The connection state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The same server over a connection of its own.
    pub fn detached(&self) -> Single {
        Single::new(registry::private(self.shared.endpoint()))
    }
}

/// A redirect from a Redis Cluster node reached by a single-server DSN, said plainly.
#[cold]
pub fn cluster_hint(e: Error) -> Error {
    if ["MOVED", "ASK", "CLUSTERDOWN"]
        .iter()
        .any(|code| e.is_server_code(code))
    {
        let message = format!(
            "{} (this server is a Redis Cluster node: use a redis+cluster:// DSN)",
            e.message()
        );
        return match e.node() {
            Some(node) => Error::server(message, node),
            None => Error::new(ErrorKind::Server, message),
        };
    }
    e
}
