//! Fetching JSON documents from URLs an outsider may choose (client metadata documents) or an
//! operator configured (OpenID discovery, JWKS), with guards against server-side request
//! forgery.
//!
//! [`HttpFetch`] is the seam: the authorization server and the external-token verifier only
//! call it. [`GuardedFetcher`] (feature `fetch`) is the real implementation; tests may plug
//! in their own.
//!
//! The guards, per [`FetchPolicy`]:
//! - `https://` only (plain `http://` only to a loopback host when the policy allows it, for
//!   a development identity provider on the same machine);
//! - every address the host resolves to must be public (not loopback, private, link-local,
//!   unique-local, CGNAT, multicast, documentation, reserved, or an IPv6 form embedding one
//!   of those), unless the policy allows private addresses; the connection is made to the
//!   checked addresses only, so a second DNS answer cannot swap them (DNS rebinding);
//! - redirects are not followed (a 3xx is an error) and no proxy is used;
//! - the whole fetch (resolution, connection, body) has a time limit, and the body a size
//!   limit, checked while reading.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use async_trait::async_trait;
use url::{Host, Url};

#[cfg(feature = "fetch")]
mod guarded;
#[cfg(feature = "fetch")]
pub use guarded::GuardedFetcher;

/// Limits and allowances of one fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchPolicy {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Time allowed for the whole fetch.
    pub timeout: Duration,
    /// Whether non-public addresses (loopback, private, link-local, …) may be contacted.
    pub allow_private_addresses: bool,
    /// Whether plain `http://` may be used to a loopback host (`127.0.0.1`, `[::1]`,
    /// `localhost`). Off for client metadata documents; for identity providers it follows
    /// their configuration.
    pub allow_loopback_http: bool,
}

impl FetchPolicy {
    /// The strictest policy: public `https://` only.
    pub fn public(max_bytes: usize, timeout: Duration) -> Self {
        Self {
            max_bytes,
            timeout,
            allow_private_addresses: false,
            allow_loopback_http: false,
        }
    }

    /// Allows non-public addresses.
    #[must_use]
    pub fn allowing_private_addresses(mut self, allow: bool) -> Self {
        self.allow_private_addresses = allow;
        self
    }

    /// Allows plain `http://` to loopback hosts.
    #[must_use]
    pub fn allowing_loopback_http(mut self, allow: bool) -> Self {
        self.allow_loopback_http = allow;
        self
    }
}

/// A fetched document (status 200).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedDocument {
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, at most the policy's `max_bytes`.
    pub body: Vec<u8>,
}

impl FetchedDocument {
    /// A document.
    pub fn new(content_type: Option<String>, body: Vec<u8>) -> Self {
        Self { content_type, body }
    }
}

/// Why a fetch failed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not `https://` (or allowed loopback `http://`), has user info, or no host.
    #[error("URL refused: {0}")]
    UrlRefused(String),
    /// The host is, or resolves to, an address the policy does not allow.
    #[error("address {0} is not public")]
    AddressRefused(IpAddr),
    /// The host did not resolve.
    #[error("cannot resolve host: {0}")]
    Resolve(String),
    /// Connecting, TLS or HTTP failed.
    #[error("request failed: {0}")]
    Request(String),
    /// The fetch took longer than the policy allows.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The body is larger than the policy allows.
    #[error("document larger than {0} bytes")]
    TooLarge(usize),
    /// The server answered with a redirect, which is not followed.
    #[error("redirect ({0}) not followed")]
    Redirect(u16),
    /// The server answered with a status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
}

/// Fetches documents under a [`FetchPolicy`].
#[async_trait]
pub trait HttpFetch: Send + Sync {
    /// `GET url` and return the body of a 200 answer, within the policy.
    async fn get(&self, url: &Url, policy: &FetchPolicy) -> Result<FetchedDocument, FetchError>;
}

#[async_trait]
impl<T: HttpFetch + ?Sized> HttpFetch for std::sync::Arc<T> {
    async fn get(&self, url: &Url, policy: &FetchPolicy) -> Result<FetchedDocument, FetchError> {
        (**self).get(url, policy).await
    }
}

/// Checks a URL's scheme, user info and host against the policy (before any connection);
/// returns the host. An IP-literal host is checked against the address rules here too.
pub fn check_url<'a>(
    url: &'a Url,
    policy: &FetchPolicy,
    allow_any_http: bool,
) -> Result<Host<&'a str>, FetchError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::UrlRefused("user info is not allowed".into()));
    }
    let host = url
        .host()
        .ok_or_else(|| FetchError::UrlRefused("no host".into()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_any_http => {}
        "http" if policy.allow_loopback_http && host_is_loopback(&host) => {}
        other => {
            return Err(FetchError::UrlRefused(format!(
                "scheme `{other}` is not allowed (https only)"
            )));
        }
    }
    let literal = match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    };
    if let Some(ip) = literal {
        check_address(ip, policy)?;
    }
    Ok(host)
}

/// Refuses an address the policy does not allow.
pub fn check_address(ip: IpAddr, policy: &FetchPolicy) -> Result<(), FetchError> {
    if policy.allow_private_addresses
        || is_public_address(ip)
        || (policy.allow_loopback_http && ip.is_loopback())
    {
        Ok(())
    } else {
        Err(FetchError::AddressRefused(ip))
    }
}

fn host_is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether an address is globally routable unicast: not loopback, unspecified, private
/// (RFC 1918), shared (CGNAT, RFC 6598), link-local, unique-local, site-local, multicast,
/// broadcast, documentation, benchmarking, reserved, or an IPv6 form embedding such an IPv4
/// address (mapped, compatible, NAT64, 6to4) or tunnelling to an unknown one (Teredo).
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    let refused = o[0] == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240;
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if s[..6] == [0; 6] {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d.
        return false;
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64: 64:ff9b::/96 embeds an IPv4 address; 64:ff9b:1::/48 is local use.
        return s[2..6] == [0; 4] && is_public_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4 embeds an IPv4 address in bits 16..48.
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    let refused = (s[0] & 0xe000) != 0x2000 // not global unicast 2000::/3 (covers fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0020) // ORCHIDv2
        || (s[0] == 0x3fff && s[1] <= 0x0fff); // documentation (RFC 9637)
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_recognised() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:0a00:0001::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "3fff::1",
        ] {
            assert!(!is_public_address(ip(s)), "{s} counted as public");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert!(is_public_address(ip(s)), "{s} refused");
        }
    }

    #[test]
    fn urls_are_checked_before_connecting() {
        let strict = FetchPolicy::public(1024, Duration::from_secs(1));
        let ok = Url::parse("https://client.example/meta.json").unwrap();
        assert!(check_url(&ok, &strict, false).is_ok());
        for bad in [
            "http://client.example/meta.json",
            "ftp://client.example/x",
            "https://user:pw@client.example/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:7f00:1]/x",
            "http://localhost:8080/x",
        ] {
            let url = Url::parse(bad).unwrap();
            assert!(check_url(&url, &strict, false).is_err(), "{bad} accepted");
        }
        let dev = strict.clone().allowing_loopback_http(true);
        assert!(
            check_url(
                &Url::parse("http://127.0.0.1:9000/jwks").unwrap(),
                &dev,
                false
            )
            .is_ok()
        );
        assert!(
            check_url(
                &Url::parse("http://localhost:9000/jwks").unwrap(),
                &dev,
                false
            )
            .is_ok()
        );
        assert!(check_url(&Url::parse("http://idp.example/jwks").unwrap(), &dev, false).is_err());
        let private = strict.allowing_private_addresses(true);
        assert!(check_url(&Url::parse("https://10.1.2.3/x").unwrap(), &private, false).is_ok());
    }
}
