//! Every Lua script loads into a real server under the hash we send with EVALSHA, and a flushed
//! script cache is recovered from (NOSCRIPT, then EVAL).

use super::{get, locker};
use crate::lock::scripts;
use crate::lock::testing::{RedisServer, q};

#[test]
fn every_script_loads_under_the_hash_evalsha_uses() {
    let server = RedisServer::start();
    for script in scripts::all() {
        let sha: String = q(&mut server.client(), &["SCRIPT", "LOAD", script.body()]);
        assert_eq!(sha, script.sha1());
    }
}

#[test]
fn release_recovers_from_a_flushed_script_cache() {
    let server = RedisServer::start();
    let l = locker(&server);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    assert!(l.release(b"k", b"v").unwrap()); // loads the script
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let _: () = q(&mut server.client(), &["SCRIPT", "FLUSH"]);
    assert!(l.release(b"k", b"v").unwrap());
    assert_eq!(get(&server, "k"), None);
}
