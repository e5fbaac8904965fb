//! The slot map: which master serves each of the 16,384 hash slots, learned from any node with
//! `CLUSTER SHARDS` (Redis 7+), or `CLUSTER SLOTS` where that is unknown.

use std::sync::Arc;

use crate::lock::keys::SLOTS;
use crate::lock::net::registry::Shared;
use crate::lock::protocol::resp::Reply;

/// A range of slots and the address of the master serving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub first: u16,
    pub last: u16,
    pub host: String,
    pub port: u16,
}

/// No master serves the slot.
const NONE: u16 = u16::MAX;

/// One master, and this process's connection state for it.
pub struct Node {
    pub host: String,
    pub port: u16,
    pub shared: Arc<Shared>,
}

/// Which master serves each slot. Immutable: a change is a new map.
pub struct SlotMap {
    nodes: Vec<Node>,
    /// Per slot, an index into `nodes`, or [`NONE`].
    slots: Box<[u16]>,
}

impl SlotMap {
    /// The map of `ranges`, each master's connection state from `connect` (called once per
    /// master).
    pub fn new(ranges: &[Range], mut connect: impl FnMut(&str, u16) -> Arc<Shared>) -> SlotMap {
        let mut map = SlotMap {
            nodes: Vec::new(),
            slots: vec![NONE; SLOTS as usize].into_boxed_slice(),
        };
        for range in ranges {
            let index = map.index_of(&range.host, range.port, &mut connect);
            for slot in range.first..=range.last.min(SLOTS - 1) {
                map.slots[slot as usize] = index;
            }
        }
        map
    }

    fn index_of(
        &mut self,
        host: &str,
        port: u16,
        connect: &mut impl FnMut(&str, u16) -> Arc<Shared>,
    ) -> u16 {
        match self
            .nodes
            .iter()
            .position(|n| n.port == port && n.host == host)
        {
            Some(i) => i as u16,
            None => {
                self.nodes.push(Node {
                    host: host.to_owned(),
                    port,
                    shared: connect(host, port),
                });
                (self.nodes.len() - 1) as u16
            }
        }
    }

    /// The master serving `slot`, if any.
    #[inline]
    pub fn node(&self, slot: u16) -> Option<&Node> {
        match self.slots[(slot % SLOTS) as usize] {
            NONE => None,
            i => self.nodes.get(i as usize),
        }
    }

    /// The masters.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The known node at `host:port`.
    pub fn find(&self, host: &str, port: u16) -> Option<&Node> {
        self.nodes.iter().find(|n| n.port == port && n.host == host)
    }

    /// This map with `slot` served by `host:port` (a `MOVED` reply).
    pub fn moved(
        &self,
        slot: u16,
        host: &str,
        port: u16,
        mut connect: impl FnMut(&str, u16) -> Arc<Shared>,
    ) -> SlotMap {
        let mut map = SlotMap {
            nodes: self
                .nodes
                .iter()
                .map(|n| Node {
                    host: n.host.clone(),
                    port: n.port,
                    shared: Arc::clone(&n.shared),
                })
                .collect(),
            slots: self.slots.clone(),
        };
        let index = map.index_of(host, port, &mut connect);
        map.slots[(slot % SLOTS) as usize] = index;
        map
    }

    /// How many slots no master serves.
    pub fn unserved(&self) -> usize {
        self.slots.iter().filter(|&&i| i == NONE).count()
    }
}

/// The slot ranges of a `CLUSTER SHARDS` reply: each shard's slots and its master that is
/// online (`tls` picks `tls-port` over `port`). An empty endpoint means the node asked
/// (`asked`); `?` an unknown one (skipped).
pub fn parse_shards(reply: &Reply<'_>, asked: &str, tls: bool) -> Option<Vec<Range>> {
    let Reply::Array(shards) = reply else {
        return None;
    };
    let mut ranges = Vec::new();
    for shard in shards {
        let fields = pairs(shard)?;
        let slots = match field(&fields, "slots")? {
            Reply::Array(bounds) => bounds
                .iter()
                .map(|b| int(b).and_then(|n| u16::try_from(n).ok()))
                .collect::<Option<Vec<u16>>>()?,
            _ => return None,
        };
        let Reply::Array(nodes) = field(&fields, "nodes")? else {
            return None;
        };
        let mut master = None;
        for node in nodes {
            let node = pairs(node)?;
            let role = field(&node, "role").and_then(text);
            let health = field(&node, "health").and_then(text);
            if role.as_deref() != Some("master") || health.as_deref() != Some("online") {
                continue;
            }
            let port_field = if tls { "tls-port" } else { "port" };
            let port = field(&node, port_field)
                .and_then(int)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0);
            let endpoint = field(&node, "endpoint").and_then(text);
            if let (Some(port), Some(endpoint)) = (port, endpoint) {
                master = host_of(&endpoint, asked).map(|host| (host, port));
            }
        }
        let Some((host, port)) = master else {
            continue;
        };
        for pair in slots.chunks(2) {
            if let [first, last] = *pair {
                ranges.push(Range {
                    first,
                    last,
                    host: host.clone(),
                    port,
                });
            }
        }
    }
    Some(ranges)
}

/// The slot ranges of a `CLUSTER SLOTS` reply: `[first, last, [host, port, id, …], replicas…]`.
pub fn parse_slots(reply: &Reply<'_>, asked: &str) -> Option<Vec<Range>> {
    let Reply::Array(entries) = reply else {
        return None;
    };
    let mut ranges = Vec::new();
    for entry in entries {
        let Reply::Array(parts) = entry else {
            return None;
        };
        let (first, last) = (int(parts.first()?)?, int(parts.get(1)?)?);
        let Reply::Array(master) = parts.get(2)? else {
            return None;
        };
        let endpoint = text(master.first()?)?;
        let port = int(master.get(1)?)?;
        let (Some(host), Ok(port), Ok(first), Ok(last)) = (
            host_of(&endpoint, asked),
            u16::try_from(port),
            u16::try_from(first),
            u16::try_from(last),
        ) else {
            continue;
        };
        ranges.push(Range {
            first,
            last,
            host,
            port,
        });
    }
    Some(ranges)
}

/// A node's endpoint as a host to connect to: empty means the node asked, `?` unknown.
fn host_of(endpoint: &str, asked: &str) -> Option<String> {
    match endpoint {
        "" => Some(asked.to_owned()),
        "?" => None,
        host => Some(host.to_owned()),
    }
}

/// A RESP2 map (a flat array of name, value, …) as pairs.
fn pairs<'r, 'a>(reply: &'r Reply<'a>) -> Option<Vec<(String, &'r Reply<'a>)>> {
    let Reply::Array(items) = reply else {
        return None;
    };
    items
        .chunks(2)
        .map(|pair| match pair {
            [name, value] => Some((text(name)?, value)),
            _ => None,
        })
        .collect()
}

fn field<'r, 'a>(fields: &[(String, &'r Reply<'a>)], name: &str) -> Option<&'r Reply<'a>> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn text(reply: &Reply<'_>) -> Option<String> {
    match reply {
        Reply::Bulk(b) | Reply::Status(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn int(reply: &Reply<'_>) -> Option<i64> {
    match reply {
        Reply::Int(n) => Some(*n),
        Reply::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::protocol::resp;

    fn parsed(bytes: &[u8]) -> Reply<'_> {
        resp::parse(bytes).unwrap().unwrap().0
    }

    #[test]
    fn shards_name_the_online_master_of_each_shard() {
        let node = |port: u16, role: &str, health: &str, endpoint: &str| {
            format!(
                "*12\r\n$2\r\nid\r\n$1\r\nx\r\n$4\r\nport\r\n:{port}\r\n$8\r\nendpoint\r\n${}\r\n{endpoint}\r\n$4\r\nrole\r\n${}\r\n{role}\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n${}\r\n{health}\r\n",
                endpoint.len(),
                role.len(),
                health.len()
            )
        };
        let shard = |slots: &[u16], nodes: &[String]| {
            let mut s = format!("*4\r\n$5\r\nslots\r\n*{}\r\n", slots.len());
            for n in slots {
                s.push_str(&format!(":{n}\r\n"));
            }
            s.push_str(&format!("$5\r\nnodes\r\n*{}\r\n", nodes.len()));
            for n in nodes {
                s.push_str(n);
            }
            s
        };
        let text = format!(
            "*3\r\n{}{}{}",
            shard(
                &[0, 5460, 10000, 10001],
                &[
                    node(7001, "replica", "online", "127.0.0.1"),
                    node(7000, "master", "online", "127.0.0.1")
                ]
            ),
            shard(&[5461, 9999], &[node(7002, "master", "online", "")]),
            shard(
                &[10002, 16383],
                &[node(7003, "master", "fail", "127.0.0.1")]
            ),
        );
        let ranges = parse_shards(&parsed(text.as_bytes()), "seed", false).unwrap();
        assert_eq!(
            ranges,
            vec![
                Range {
                    first: 0,
                    last: 5460,
                    host: "127.0.0.1".into(),
                    port: 7000
                },
                Range {
                    first: 10000,
                    last: 10001,
                    host: "127.0.0.1".into(),
                    port: 7000
                },
                Range {
                    first: 5461,
                    last: 9999,
                    host: "seed".into(),
                    port: 7002
                },
            ]
        );
        assert_eq!(parse_shards(&parsed(b"+OK\r\n"), "seed", false), None);
    }

    #[test]
    fn slots_reply_names_each_ranges_master() {
        let text = "*2\r\n*3\r\n:0\r\n:100\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$1\r\nx\r\n*4\r\n:101\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$1\r\ny\r\n*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$1\r\nz\r\n";
        let ranges = parse_slots(&parsed(text.as_bytes()), "10.0.0.1").unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[1].host, "10.0.0.1");
        assert_eq!(
            (ranges[1].first, ranges[1].last, ranges[1].port),
            (101, 16383, 7001)
        );
    }
}
