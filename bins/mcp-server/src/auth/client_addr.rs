//! The client's address behind trusted reverse proxies.
use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::{FORWARDED, HeaderName};

use crate::config::TrustedProxies;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The address of the client of `req`: the TCP peer, unless the peer is one of `trusted`;
/// then the nearest address in `X-Forwarded-For` (or, without it, `Forwarded: for=`) that is
/// not a trusted proxy, read from the right (each proxy appends the address it saw, so the
/// entries left of the first untrusted one are the client's to choose and are never read).
/// When every listed hop is trusted, the leftmost one; when the headers are missing, the peer.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if trusted.is_empty() || !trusted.contains(peer) {
        return Some(peer);
    }
    let mut hops = forwarded_for(req, &X_FORWARDED_FOR, parse_xff_entry);
    if hops.is_empty() {
        hops = forwarded_for(req, &FORWARDED, parse_forwarded_entry);
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if trusted.contains(ip) => client = ip,
            Some(ip) => return Some(ip),
            // Unreadable: what lies further left cannot be trusted either.
            None => break,
        }
    }
    Some(client)
}

/// Every comma-separated entry of every `name` header, in order, parsed with `parse`.
fn forwarded_for(
    req: &HttpRequest,
    name: &HeaderName,
    parse: fn(&str) -> Option<Option<IpAddr>>,
) -> Vec<Option<IpAddr>> {
    req.headers()
        .get_all(name)
        .flat_map(|v| v.to_str().ok().unwrap_or_default().split(','))
        .filter_map(parse)
        .collect()
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port. `None` skips an empty entry.
fn parse_xff_entry(entry: &str) -> Option<Option<IpAddr>> {
    let entry = entry.trim();
    (!entry.is_empty()).then(|| parse_node(entry))
}

/// A `Forwarded` element: its `for=` node (RFC 7239); `None` skips elements without one.
fn parse_forwarded_entry(element: &str) -> Option<Option<IpAddr>> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))
    })
}

/// `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn from(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> Option<IpAddr> {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for (name, value) in headers {
            req = req.append_header((*name, *value));
        }
        client_ip(
            &req.to_http_request(),
            &TrustedProxies::parse(trusted.iter().copied()).unwrap(),
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        let h = [("X-Forwarded-For", "203.0.113.9")];
        assert_eq!(from("10.0.0.1", &h, &[]), ip("10.0.0.1"));
        assert_eq!(from("10.0.0.1", &h, &["10.0.0.2"]), ip("10.0.0.1"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8"];
        let spoofed = [("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.7")];
        assert_eq!(from("10.0.0.1", &spoofed, &trusted), ip("203.0.113.9"));
        let two_headers = [
            ("X-Forwarded-For", "garbage"),
            ("X-Forwarded-For", "198.51.100.4:5555"),
        ];
        assert_eq!(from("10.0.0.1", &two_headers, &trusted), ip("198.51.100.4"));
        assert_eq!(from("10.0.0.1", &[], &trusted), ip("10.0.0.1"));
        let all_trusted = [("X-Forwarded-For", "10.1.1.1, 10.2.2.2")];
        assert_eq!(from("10.0.0.1", &all_trusted, &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn the_forwarded_header_is_read_when_x_forwarded_for_is_absent() {
        let h = [(
            "Forwarded",
            r#"for=192.0.2.60;proto=http, for="[2001:db8::17]:4711";by=10.0.0.1"#,
        )];
        assert_eq!(from("10.0.0.1", &h, &["10.0.0.0/8"]), ip("2001:db8::17"));
    }
}
