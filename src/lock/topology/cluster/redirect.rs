//! What a cluster node's error reply says about where a command must go, and whether it ran.
//!
//! Every reply here means the command did **not** run on the node that sent it:
//! - `MOVED <slot> <host>:<port>`: the slot is served by that node now (the map is stale).
//! - `ASK <slot> <host>:<port>`: the slot is being migrated and the keys are not (all) here:
//!   send `ASKING` and the command to that node, once; the map does not change.
//! - `TRYAGAIN`: a multi-key command whose keys are split between the two nodes of a slot
//!   being migrated: retry shortly.
//! - `CLUSTERDOWN`: the cluster (or this slot) is not served right now: learn the map again
//!   and retry shortly.

use crate::lock::error::Error;

/// Where an error reply sends a command, or why it must wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `MOVED`: the slot's master is `host:port` (an empty host: the node that answered).
    Moved { slot: u16, host: String, port: u16 },
    /// `ASK`: this command only, to `host:port` after `ASKING`.
    Ask { host: String, port: u16 },
    /// `TRYAGAIN`.
    TryAgain,
    /// `CLUSTERDOWN`.
    Down,
}

/// The redirect `e` carries, if it is one (only server error replies are).
pub fn parse(e: &Error) -> Option<Redirect> {
    if !e.is_server() {
        return None;
    }
    let message = e.message();
    if e.is_server_code("TRYAGAIN") {
        return Some(Redirect::TryAgain);
    }
    if e.is_server_code("CLUSTERDOWN") {
        return Some(Redirect::Down);
    }
    let moved = e.is_server_code("MOVED");
    if !moved && !e.is_server_code("ASK") {
        return None;
    }
    let mut words = message.split(' ').skip(1);
    let slot = words.next()?.parse::<u16>().ok()?;
    let (host, port) = words.next()?.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_owned();
    Some(if moved {
        Redirect::Moved { slot, host, port }
    } else {
        Redirect::Ask { host, port }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::error::ErrorKind;

    fn server(message: &str) -> Error {
        Error::new(ErrorKind::Server, message)
    }

    #[test]
    fn redirects_are_read_from_error_replies() {
        assert_eq!(
            parse(&server("MOVED 3999 127.0.0.1:6381")),
            Some(Redirect::Moved {
                slot: 3999,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        assert_eq!(
            parse(&server("ASK 12 ::1:7000")),
            Some(Redirect::Ask {
                host: "::1".into(),
                port: 7000
            })
        );
        assert_eq!(
            parse(&server("MOVED 1 :7001")),
            Some(Redirect::Moved {
                slot: 1,
                host: String::new(),
                port: 7001
            })
        );
        assert_eq!(
            parse(&server(
                "TRYAGAIN Multiple keys request during rehashing of slot"
            )),
            Some(Redirect::TryAgain)
        );
        assert_eq!(
            parse(&server("CLUSTERDOWN Hash slot not served")),
            Some(Redirect::Down)
        );
        for not in [
            "MOVEDX 1 h:1",
            "MOVED x h:1",
            "MOVED 1 h",
            "MOVED 1 h:0",
            "ERR MOVED 1 h:1",
        ] {
            assert_eq!(parse(&server(not)), None, "{not}");
        }
        assert_eq!(
            parse(&Error::new(ErrorKind::Connection, "MOVED 1 h:1")),
            None
        );
    }
}
