//! The client cost of two TLS libraries on an acquire+release-shaped cycle (two round trips:
//! `SET key value NX PX`, then `DEL key`), with the same code around each, against a
//! redis-server with a TLS port (README, "TLS"). It chose the extension's TLS library.
//!
//! Usage: tls-libraries <plain|openssl|rustls> <port> <ca.pem> <cycles> [handshakes]
//!
//! Prints the median time of connect + handshake + PING over `handshakes` connections (default
//! 1), then runs `cycles` cycles on the last one. Instructions per cycle: run it under
//! `valgrind --tool=callgrind` with N and with 0 cycles and divide the difference by N.
//! OpenSSL verifies the chain (the CA file) and the IP address 127.0.0.1; rustls (ring
//! provider, passed explicitly) the same.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

fn roundtrip<S: Read + Write>(s: &mut S, cmd: &[u8], buf: &mut [u8]) {
    s.write_all(cmd).unwrap();
    let mut n = 0;
    loop {
        n += s.read(&mut buf[n..]).unwrap();
        if n >= 2 && &buf[n - 2..n] == b"\r\n" {
            return;
        }
    }
}

const SET: &[u8] = b"*6\r\n$3\r\nSET\r\n$10\r\nbench:tlsk\r\n$36\r\n0123456789abcdef0123456789abcdef0123\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n10000\r\n";
const DEL: &[u8] = b"*2\r\n$3\r\nDEL\r\n$10\r\nbench:tlsk\r\n";
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

fn cycles<S: Read + Write>(s: &mut S, n: usize) {
    let mut buf = [0u8; 4096];
    for _ in 0..n {
        roundtrip(s, SET, &mut buf);
        roundtrip(s, DEL, &mut buf);
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (mode, port, ca, n) = (
        a[1].as_str(),
        a[2].parse::<u16>().unwrap(),
        a[3].clone(),
        a[4].parse::<usize>().unwrap(),
    );
    let handshakes: usize = a.get(5).map(|h| h.parse().unwrap()).unwrap_or(1);
    let ossl = {
        let mut b =
            openssl::ssl::SslContextBuilder::new(openssl::ssl::SslMethod::tls_client()).unwrap();
        b.set_ca_file(&ca).unwrap();
        b.set_verify(openssl::ssl::SslVerifyMode::PEER);
        b.set_read_ahead(true);
        b.set_mode(openssl::ssl::SslMode::AUTO_RETRY | openssl::ssl::SslMode::ENABLE_PARTIAL_WRITE);
        b.build()
    };
    let rcfg = {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    let mut times = Vec::new();
    for i in 0..handshakes {
        let t = Instant::now();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut buf = [0u8; 4096];
        let last = i + 1 == handshakes;
        match mode {
            "plain" => {
                let mut s = tcp;
                roundtrip(&mut s, PING, &mut buf);
                times.push(t.elapsed());
                if last {
                    cycles(&mut s, n)
                }
            }
            "openssl" => {
                let mut ssl = openssl::ssl::Ssl::new(&ossl).unwrap();
                ssl.param_mut()
                    .set_ip("127.0.0.1".parse().unwrap())
                    .unwrap();
                let mut s = ssl.connect(tcp).unwrap();
                roundtrip(&mut s, PING, &mut buf);
                times.push(t.elapsed());
                if last {
                    cycles(&mut s, n)
                }
            }
            _ => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let conn = rustls::ClientConnection::new(Arc::clone(&rcfg), name).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                roundtrip(&mut s, PING, &mut buf);
                times.push(t.elapsed());
                if last {
                    cycles(&mut s, n)
                }
            }
        }
    }
    times.sort();
    eprintln!(
        "median connect+handshake+PING: {:?}",
        times[times.len() / 2]
    );
}
