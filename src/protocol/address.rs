//! Address parsing (docs/protocol.md §4): `[protocol://]host:port`, hashed port names, `+offset`,
//! `localhost`, `publichost[N]`, and the `max_tries` port stepping of `bind`.

use super::handshake::parse_py_int;
use super::hash::port_hash;
use crate::error::{Error, Result};

/// A parsed address. The protocol is recorded but ignored (always TCP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub protocol: String,
    /// The host as written, except `localhost` → `127.0.0.1`, `publichostN` resolved and an
    /// IPv6 literal without its brackets (in canonical form). Never empty.
    pub host: String,
    pub port: u16,
}

const ERR_FORMAT: &str = "Address should be in format 'host:port'.";
const ERR_OFFSET: &str = "Invalid offset in address";
const ERR_RANGE: &str = "The port must be in the range [0, 2^16>.";
const PUBLICHOST: &str = "publichost";
const ERR_AMBIGUOUS: &str = "Ambiguous address: write an IPv6 address in brackets ([::1]:port); a port name cannot contain ':'.";
const ERR_NO_HOST: &str = "The address has no host: write localhost:port, or 0.0.0.0:port / [::]:port to listen on every interface.";
const ERR_UNCLOSED: &str = "Unclosed '[' in address: write an IPv6 address as [::1]:port.";

/// Parse an address. Errors are `InvalidArgument` with the original's wording
/// ("Address should be in format 'host:port'.", "Invalid offset in address",
/// "The port must be in the range [0, 2^16>.", "Invalid index (N) in public host addresses.");
/// negative ports are refused here too.
pub fn parse_address(text: &str) -> Result<Address> {
    if text.len() > super::MAX_NAME_BYTES {
        return Err(Error::invalid(format!(
            "the address is {} bytes long, above the limit of {} bytes",
            text.len(),
            super::MAX_NAME_BYTES
        )));
    }
    // Python: protocol, _, address = address.rpartition("://")
    let (protocol, rest) = match text.rfind("://") {
        Some(i) => (text[..i].to_lowercase(), &text[i + 3..]),
        None => (String::new(), text),
    };
    let protocol = if protocol.is_empty() {
        "tcp".to_owned()
    } else {
        protocol
    };
    let (host, port_text) = split_host_port(rest)?;
    let port = parse_port(port_text)?;
    Ok(Address {
        protocol,
        host,
        port,
    })
}

/// Split `host:port` or `[ipv6]:port`. Anything that could be read two ways is refused rather
/// than guessed: the original splits at the first colon, so `::1:0` meant "every interface,
/// port hash of ':1:0'" — a typo must never expose a socket on every interface.
fn split_host_port(text: &str) -> Result<(String, &str)> {
    if let Some(inner) = text.strip_prefix('[') {
        let (literal, after) = inner
            .split_once(']')
            .ok_or_else(|| Error::invalid(ERR_UNCLOSED))?;
        let port_text = after
            .strip_prefix(':')
            .ok_or_else(|| Error::invalid(ERR_FORMAT))?;
        let ip: std::net::Ipv6Addr = literal.parse().map_err(|_| {
            Error::invalid(format!(
                "Only IPv6 addresses go in brackets, not '{literal}' (write host:port)."
            ))
        })?;
        return Ok((ip.to_string(), port_text));
    }
    let (host, port_text) = text
        .split_once(':')
        .ok_or_else(|| Error::invalid(ERR_FORMAT))?;
    if port_text.contains(':') || host.contains(['[', ']']) {
        return Err(Error::invalid(ERR_AMBIGUOUS));
    }
    if host.is_empty() {
        return Err(Error::invalid(ERR_NO_HOST));
    }
    Ok((resolve_host(host)?, port_text))
}

/// `localhost` and `publichost[N]` (ASCII case-insensitive); anything else is kept as written.
fn resolve_host(host: &str) -> Result<String> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok("127.0.0.1".to_owned());
    }
    let bytes = host.as_bytes();
    if bytes.len() >= PUBLICHOST.len()
        && bytes[..PUBLICHOST.len()].eq_ignore_ascii_case(PUBLICHOST.as_bytes())
    {
        let digits = &host[PUBLICHOST.len()..];
        // Python: set(host[10:]).issubset("0123456789"); bare "publichost" means index 0.
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            return public_host(digits);
        }
    }
    Ok(host.to_owned())
}

/// The N-th IPv4 address of this machine's own hostname (`gethostbyname_ex(gethostname())[2][N]`).
fn public_host(digits: &str) -> Result<String> {
    // Python formats the index with %i: no leading zeros, "0" for "publichost".
    let shown = digits.trim_start_matches('0');
    let shown = if shown.is_empty() { "0" } else { shown };
    let invalid = || Error::invalid(format!("Invalid index ({shown}) in public host addresses."));
    // An index too large for usize is certainly out of range.
    let index: usize = shown.parse().map_err(|_| invalid())?;
    let addresses = own_ipv4_addresses()?;
    addresses
        .get(index)
        .map(|a| a.to_string())
        .ok_or_else(invalid)
}

/// Resolve the machine's hostname to its IPv4 addresses, in resolver order, without duplicates.
fn own_ipv4_addresses() -> Result<Vec<std::net::Ipv4Addr>> {
    use std::net::{SocketAddr, ToSocketAddrs};
    let name = own_hostname();
    let resolved = (name.as_str(), 0u16)
        .to_socket_addrs()
        .map_err(|e| Error::io(&format!("Cannot resolve own hostname '{name}'"), &e))?;
    let mut out = Vec::new();
    for addr in resolved {
        if let SocketAddr::V4(v4) = addr {
            if !out.contains(v4.ip()) {
                out.push(*v4.ip());
            }
        }
    }
    Ok(out)
}

/// `socket.gethostname()` without libc: the kernel's name, then $HOSTNAME, then "localhost".
fn own_hostname() -> String {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_env = || std::env::var("HOSTNAME").ok();
    from_proc
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            from_env()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// An integer port, or `name[+offset]` hashed with `port_hash` (docs/protocol.md §4.3).
fn parse_port(text: &str) -> Result<u16> {
    let port: Option<i128> = match parse_py_int(text, 10) {
        // A valid integer is used as is, even when it is far too large (then a range error).
        Some(n) => n.to_i128(),
        None => {
            let (name, offset) = match text.split_once('+') {
                Some((name, offset_text)) => {
                    let offset =
                        parse_py_int(offset_text, 10).ok_or_else(|| Error::invalid(ERR_OFFSET))?;
                    (name, offset.to_i128())
                }
                None => (text, Some(0)),
            };
            offset.map(|o| port_hash(name) as i128 + o)
        }
    };
    // The original only checks the upper bound; a negative port would fail later in bind/connect.
    port.and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| Error::invalid(ERR_RANGE))
}

/// Port of bind attempt `k` (0-based): `port0 + sum_{j=1..k} floor(sqrt(j))`; None above 65535.
pub fn bind_attempt_port(port0: u16, k: u32) -> Option<u16> {
    let mut port = port0 as u64;
    for j in 1..=k as u64 {
        port += isqrt(j);
        // Each step adds at least 1, so this loop ends within 65536 iterations.
        if port > u16::MAX as u64 {
            return None;
        }
    }
    Some(port as u16)
}

/// floor(sqrt(n)), exact (u64::isqrt needs Rust 1.84; we support 1.80).
fn isqrt(n: u64) -> u64 {
    // The float estimate is off by at most one; fix it up exactly (u128: no overflow).
    let n = n as u128;
    let mut r = (n as f64).sqrt() as u128;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn ok(text: &str, protocol: &str, host: &str, port: u16) {
        let expected = Address {
            protocol: protocol.into(),
            host: host.into(),
            port,
        };
        assert_eq!(parse_address(text), Ok(expected), "{text:?}");
    }

    fn err(text: &str, message: &str) {
        let e = parse_address(text).expect_err(text);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{text:?}");
        assert_eq!(e.message(), message, "{text:?}");
    }

    #[test]
    fn table_of_section_4_5() {
        ok("localhost:test", "tcp", "127.0.0.1", 56337);
        ok("LocalHost:test", "tcp", "127.0.0.1", 56337);
        ok("localhost:PYZO+256", "tcp", "127.0.0.1", 50625);
        ok("127.0.0.1:test+1", "tcp", "127.0.0.1", 56338);
        ok("localhost:test+-3", "tcp", "127.0.0.1", 56334);
        ok("tcp://localhost:80", "tcp", "127.0.0.1", 80);
        ok("foo://127.0.0.1:1234", "foo", "127.0.0.1", 1234);
        // Ours, not the original's: refused rather than guessed (docs/protocol.md §4.1).
        err("host:a:b", ERR_AMBIGUOUS);
        err(":test", ERR_NO_HOST);
        err("localhost:a+b+c", ERR_OFFSET);
        err("localhost:70000", ERR_RANGE);
        err("localhost:abc+999999", ERR_RANGE);
        err("localhost", ERR_FORMAT);
    }

    #[test]
    fn ipv6_in_brackets_and_ambiguous_forms() {
        ok("[::1]:80", "tcp", "::1", 80);
        ok("tcp://[::]:test", "tcp", "::", 56337);
        ok("[0:0:0:0:0:0:0:1]:1", "tcp", "::1", 1); // canonical form
        ok("[fe80::1]:test+1", "tcp", "fe80::1", 56338);
        err("::1:0", ERR_AMBIGUOUS);
        err("localhost:a:b", ERR_AMBIGUOUS);
        err("a]:0", ERR_AMBIGUOUS);
        err("[::1]0", ERR_FORMAT);
        err("[::1]", ERR_FORMAT);
        err("[::1:0", ERR_UNCLOSED);
        err(":0", ERR_NO_HOST);
        err("tcp://:0", ERR_NO_HOST);
        for not_v6 in ["localhost", "1.2.3.4", "", "::1%eth0"] {
            let e = parse_address(&format!("[{not_v6}]:0")).unwrap_err();
            assert!(
                e.message()
                    .starts_with("Only IPv6 addresses go in brackets"),
                "{e}"
            );
        }
    }

    #[test]
    fn error_messages_are_the_originals() {
        assert_eq!(ERR_FORMAT, "Address should be in format 'host:port'.");
        assert_eq!(ERR_OFFSET, "Invalid offset in address");
        assert_eq!(ERR_RANGE, "The port must be in the range [0, 2^16>.");
    }

    #[test]
    fn protocol_handling() {
        ok("TCP://localhost:80", "tcp", "127.0.0.1", 80);
        // Split at the last "://".
        ok("a://b://localhost:80", "a://b", "127.0.0.1", 80);
        ok("://localhost:80", "tcp", "127.0.0.1", 80);
        err("tcp://localhost", ERR_FORMAT);
        err("", ERR_FORMAT);
        err("tcp://", ERR_FORMAT);
    }

    #[test]
    fn hosts_are_kept_as_written() {
        ok("example.com:80", "tcp", "example.com", 80);
        ok("Example.COM:80", "tcp", "Example.COM", 80);
        ok("10.1.2.3:1", "tcp", "10.1.2.3", 1);
        ok("LOCALHOST:1", "tcp", "127.0.0.1", 1);
        ok("localhost2:1", "tcp", "localhost2", 1);
        // "publichostX" with non-digits is an ordinary host name.
        ok("publichostx:1", "tcp", "publichostx", 1);
        ok("mypublichost:1", "tcp", "mypublichost", 1);
    }

    #[test]
    fn integer_ports_python_style() {
        ok("h: 80 ", "tcp", "h", 80);
        ok("h:1_000", "tcp", "h", 1000);
        ok("h:+80", "tcp", "h", 80);
        ok("h:0", "tcp", "h", 0);
        ok("h:65535", "tcp", "h", 65535);
        ok("h:007", "tcp", "h", 7);
        err("h:65536", ERR_RANGE);
        err("h:99999999999999999999999999", ERR_RANGE);
        // Over CPython's 4300-digit limit int() fails, so the text is hashed as a name.
        let many = "1".repeat(4301);
        ok(&format!("h:{many}"), "tcp", "h", port_hash(&many));
        err(&format!("h:{}", "1".repeat(4300)), ERR_RANGE);
        // Negative ports are refused here (the original fails later, in the socket call).
        err("h:-1", ERR_RANGE);
        err("h:-99999999999999999999999999", ERR_RANGE);
    }

    #[test]
    fn named_ports() {
        // Empty port text is the name "" (hash 49152).
        ok("h:", "tcp", "h", 49152);
        ok("h:Test", "tcp", "h", 51089);
        // Names are hashed as written (not stripped or lower-cased).
        ok("h: test", "tcp", "h", port_hash(" test"));
        // Offsets are Python ints: whitespace, sign, underscores.
        ok("h:test+ 1 ", "tcp", "h", 56338);
        ok("h:test+1_0", "tcp", "h", 56347);
        ok("h:test+-56337", "tcp", "h", 0);
        // "+abc": the integer parse fails, then name "" with offset "abc" fails.
        err("h:+abc", ERR_OFFSET);
        err("h:test+", ERR_OFFSET);
        err("h:test+1.5", ERR_OFFSET);
        err("h:test+-56338", ERR_RANGE);
        err("h:test+9999999999999999999999999", ERR_RANGE);
        err("h:test+-9999999999999999999999999", ERR_RANGE);
        // 65535 - 53425 = 12110, the largest offset that stays in range.
        ok("h:TEST+12110", "tcp", "h", 65535);
        err("h:TEST+12111", ERR_RANGE);
    }

    #[test]
    fn publichost() {
        // Depends on how this machine resolves its own hostname; both outcomes are checked.
        match own_ipv4_addresses() {
            Ok(addrs) if !addrs.is_empty() => {
                let first = addrs[0].to_string();
                ok("publichost:80", "tcp", &first, 80);
                ok("PublicHost0:80", "tcp", &first, 80);
                ok("publichost000:80", "tcp", &first, 80);
                let n = addrs.len();
                err(
                    &format!("publichost{n}:80"),
                    &format!("Invalid index ({n}) in public host addresses."),
                );
                err(
                    "publichost0099999:80",
                    "Invalid index (99999) in public host addresses.",
                );
            }
            _ => assert!(parse_address("publichost:80").is_err()),
        }
        // An index that does not even fit in usize is out of range too.
        let e = parse_address("publichost99999999999999999999999:80").unwrap_err();
        if e.kind() == ErrorKind::InvalidArgument {
            assert_eq!(
                e.message(),
                "Invalid index (99999999999999999999999) in public host addresses."
            );
        }
    }

    #[test]
    fn bind_offsets_of_section_4_6() {
        let expected = [
            0u16, 1, 2, 3, 5, 7, 9, 11, 13, 16, 19, 22, 25, 28, 31, 34, 38, 42, 46, 50, 54, 58, 62,
            66, 70,
        ];
        for (k, off) in expected.iter().enumerate() {
            assert_eq!(bind_attempt_port(1000, k as u32), Some(1000 + off), "k={k}");
        }
        // The 256th port (k = 255) is port_0 + 2600; Pyzo binds localhost:PYZO with max_tries=256.
        assert_eq!(bind_attempt_port(50369, 255), Some(50369 + 2600));
        assert_eq!(bind_attempt_port(0, 255), Some(2600));
    }

    #[test]
    fn bind_offsets_overflow() {
        assert_eq!(bind_attempt_port(65535, 0), Some(65535));
        assert_eq!(bind_attempt_port(65535, 1), None);
        assert_eq!(bind_attempt_port(65534, 1), Some(65535));
        assert_eq!(bind_attempt_port(0, u32::MAX), None); // returns quickly
        assert_eq!(bind_attempt_port(65535 - 2600, 255), Some(65535));
        assert_eq!(bind_attempt_port(65535 - 2599, 255), None);
    }

    #[test]
    fn isqrt_exact() {
        for n in 0..10_000u64 {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
        }
        assert_eq!(isqrt(u32::MAX as u64 * u32::MAX as u64), u32::MAX as u64);
        assert_eq!(isqrt(u64::MAX), u32::MAX as u64);
    }
}
