//! The lean RESP2 path: a command encoder that writes straight into a reused buffer, and a reply
//! parser that borrows from the read buffer instead of copying.
//!
//! Why not the `redis` crate's connection: its synchronous reader zero-fills an 8 KiB buffer on
//! every reply and builds owned `Value`s; for a lock whose whole job is two tiny round trips, that
//! was more client CPU than the rest of the call together (see README, "Why a lean reply path").

/// Most nested array accepted in a reply. Our commands never produce nesting deeper than 2.
const MAX_DEPTH: usize = 8;
/// Largest bulk string accepted (Redis's own `proto-max-bulk-len` default, 512 MiB).
const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;

/// One RESP2 reply, borrowing its bytes from the connection's read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+OK`
    Status(&'a [u8]),
    /// `-ERR message`
    Error(&'a [u8]),
    /// `:42`
    Int(i64),
    /// `$-1` or `*-1`
    Nil,
    /// `$3\r\nabc`
    Bulk(&'a [u8]),
    /// `*2\r\n...`
    Array(Vec<Reply<'a>>),
}

/// The reply bytes are not RESP2.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

/// Appends the header of a command of `argc` arguments (`*3\r\n`).
#[inline]
pub fn begin(buf: &mut Vec<u8>, argc: usize) {
    buf.push(b'*');
    push_decimal(buf, argc as u64);
    buf.extend_from_slice(b"\r\n");
}

/// Appends bytes that are already RESP-encoded (a constant run of arguments).
#[inline]
pub fn raw(buf: &mut Vec<u8>, encoded: &[u8]) {
    buf.extend_from_slice(encoded);
}

/// Encodes `args` as bulk strings without the array header, for use with [`raw`] after
/// [`begin`]: constant parts of a command are encoded once, not per call.
pub fn encode_args(args: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    for a in args {
        arg(&mut buf, a);
    }
    buf
}

/// Appends one bulk-string argument.
#[inline]
pub fn arg(buf: &mut Vec<u8>, bytes: &[u8]) {
    arg2(buf, bytes, b"");
}

/// Appends one argument made of two parts, `head` then `tail` (a key prefix and the key),
/// without building the joined string first.
#[inline]
pub fn arg2(buf: &mut Vec<u8>, head: &[u8], tail: &[u8]) {
    let len = head.len() + tail.len();
    buf.reserve(len + 24);
    buf.push(b'$');
    push_decimal(buf, len as u64);
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(head);
    buf.extend_from_slice(tail);
    buf.extend_from_slice(b"\r\n");
}

/// Appends one argument made of `parts`, without joining them first.
#[inline]
pub fn arg_parts(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    buf.reserve(len + 24);
    buf.push(b'$');
    push_decimal(buf, len as u64);
    buf.extend_from_slice(b"\r\n");
    for part in parts {
        buf.extend_from_slice(part);
    }
    buf.extend_from_slice(b"\r\n");
}

/// Appends one integer argument as its decimal digits.
#[inline]
pub fn arg_u64(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    arg(buf, decimal(&mut digits, n));
}

/// Where each request in `buf` (RESP arrays of bulk strings, as this module encodes them)
/// ends; `None` if `buf` is not a sequence of whole requests.
pub fn request_ends(buf: &[u8]) -> Option<Vec<usize>> {
    fn number(buf: &[u8], at: &mut usize, marker: u8) -> Option<usize> {
        if buf.get(*at) != Some(&marker) {
            return None;
        }
        let start = *at + 1;
        let len = buf.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(&buf[start..start + len])
            .ok()?
            .parse()
            .ok()?;
        *at = start + len + 2;
        Some(n)
    }
    let mut ends = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let argc = number(buf, &mut at, b'*')?;
        for _ in 0..argc {
            let len = number(buf, &mut at, b'$')?;
            at = at.checked_add(len)?;
            if buf.get(at..at.checked_add(2)?) != Some(b"\r\n".as_slice()) {
                return None;
            }
            at += 2;
        }
        ends.push(at);
    }
    Some(ends)
}

/// Appends a whole command.
pub fn command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    begin(buf, args.len());
    for a in args {
        arg(buf, a);
    }
}

#[inline]
fn push_decimal(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    buf.extend_from_slice(decimal(&mut digits, n));
}

/// Formats `n` in decimal into `out` without allocating; returns the digits.
#[inline]
pub fn decimal(out: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &out[i..];
        }
    }
}

/// Parses one reply from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a reply, or `Ok(Some((reply, used)))` where
/// `used` is the number of bytes the reply took.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(reply) => Ok(Some((reply, pos))),
        None => Ok(None),
    }
}

fn parse_at<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    depth: usize,
) -> Result<Option<Reply<'a>>, ProtocolError> {
    let Some(line) = take_line(buf, pos)? else {
        return Ok(None);
    };
    let Some((&kind, body)) = line.split_first() else {
        return Err(ProtocolError("empty reply line"));
    };
    Ok(Some(match kind {
        b'+' => Reply::Status(body),
        b'-' => Reply::Error(body),
        b':' => Reply::Int(parse_int(body)?),
        b'$' => {
            let len = parse_int(body)?;
            if len == -1 {
                return Ok(Some(Reply::Nil));
            }
            if !(0..=MAX_BULK_LEN).contains(&len) {
                return Err(ProtocolError("bad bulk string length"));
            }
            let len = len as usize;
            let end = *pos + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not terminated by CRLF"));
            }
            let data = &buf[*pos..end];
            *pos = end + 2;
            Reply::Bulk(data)
        }
        b'*' => {
            let len = parse_int(body)?;
            if len == -1 {
                return Ok(Some(Reply::Nil));
            }
            if len < 0 || depth >= MAX_DEPTH {
                return Err(ProtocolError("bad array"));
            }
            // Each element takes at least 3 bytes: do not trust the count for the allocation.
            let mut items = Vec::with_capacity((len as usize).min((buf.len() - *pos) / 3));
            for _ in 0..len {
                match parse_at(buf, pos, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            Reply::Array(items)
        }
        _ => return Err(ProtocolError("unknown reply type")),
    }))
}

/// Takes the bytes up to the next CRLF, advancing `pos` past it; `None` if there is no CRLF yet.
#[inline]
fn take_line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, ProtocolError> {
    let rest = &buf[*pos..];
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        return Ok(None);
    };
    match rest.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => {
            *pos += cr + 2;
            Ok(Some(&rest[..cr]))
        }
        Some(_) => Err(ProtocolError("CR without LF in a reply line")),
    }
}

fn parse_int(digits: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(ProtocolError("bad integer"));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError("bad integer"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add((d - b'0') as i64))
            .ok_or(ProtocolError("integer overflow"))?;
    }
    Ok(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ends_split_a_pipeline() {
        let mut buf = Vec::new();
        super::command(&mut buf, &[b"SET", b"k\r\n*1", b""]);
        let first = buf.len();
        super::command(&mut buf, &[b"EVALSHA", b"abc", b"0"]);
        assert_eq!(super::request_ends(&buf), Some(vec![first, buf.len()]));
        assert_eq!(super::request_ends(b""), Some(vec![]));
        assert_eq!(super::request_ends(&buf[..buf.len() - 1]), None);
        assert_eq!(super::request_ends(b"*1\r\n$9\r\nab\r\n"), None);
        assert_eq!(super::request_ends(b"+OK\r\n"), None);
    }

    use super::*;

    #[test]
    fn encodes_commands_as_resp_arrays() {
        let mut buf = Vec::new();
        begin(&mut buf, 4);
        arg(&mut buf, b"SET");
        arg2(&mut buf, b"p:", b"k");
        arg(&mut buf, b"");
        arg_u64(&mut buf, 10_000);
        assert_eq!(
            buf,
            b"*4\r\n$3\r\nSET\r\n$3\r\np:k\r\n$0\r\n\r\n$5\r\n10000\r\n".to_vec()
        );
        let mut buf = Vec::new();
        command(&mut buf, &[b"PING"]);
        assert_eq!(buf, b"*1\r\n$4\r\nPING\r\n");
        let mut buf = Vec::new();
        arg_u64(&mut buf, 0);
        arg_u64(&mut buf, u64::MAX);
        assert_eq!(buf, b"$1\r\n0\r\n$20\r\n18446744073709551615\r\n");
    }

    #[test]
    fn encoding_is_binary_safe() {
        let mut buf = Vec::new();
        arg(&mut buf, b"a\r\n\0b");
        assert_eq!(buf, b"$5\r\na\r\n\0b\r\n");
    }

    #[test]
    fn parses_every_reply_type() {
        assert_eq!(parse(b"+OK\r\n"), Ok(Some((Reply::Status(b"OK"), 5))));
        assert_eq!(
            parse(b"-ERR no\r\n"),
            Ok(Some((Reply::Error(b"ERR no"), 9)))
        );
        assert_eq!(parse(b":-42\r\n"), Ok(Some((Reply::Int(-42), 6))));
        assert_eq!(parse(b"$-1\r\n"), Ok(Some((Reply::Nil, 5))));
        assert_eq!(parse(b"*-1\r\n"), Ok(Some((Reply::Nil, 5))));
        assert_eq!(
            parse(b"$5\r\na\r\nbc\r\n+next"),
            Ok(Some((Reply::Bulk(b"a\r\nbc"), 11)))
        );
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\nx\r\n"),
            Ok(Some((
                Reply::Array(vec![Reply::Int(1), Reply::Bulk(b"x")]),
                15
            )))
        );
    }

    #[test]
    fn every_prefix_of_a_reply_is_incomplete() {
        let full = b"*3\r\n$3\r\nabc\r\n:7\r\n*1\r\n+OK\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(matches!(parse(full), Ok(Some((_, n))) if n == full.len()));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"?x\r\n"[..],
            b":12a\r\n",
            b":\r\n",
            b"$-2\r\n",
            b"$3\r\nabcXY",
            b"*-5\r\n",
            b":99999999999999999999\r\n",
            b"\r\n",
            b"+OK\rX\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn a_huge_array_count_does_not_allocate_up_front() {
        assert_eq!(parse(b"*2000000000\r\n:1\r\n"), Ok(None));
    }
}
