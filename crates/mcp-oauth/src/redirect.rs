//! Redirect URIs: what a client may register, and exact matching at authorization time.
//!
//! Accepted for registration:
//! - `https://` URIs (host required, no user info);
//! - `http://` URIs on a loopback host (`127.0.0.1` or another `127.x.y.z`, `[::1]`,
//!   `localhost`) for native apps (RFC 8252 §7.3);
//! - private-use schemes with a period, such as `com.example.app:/callback` (RFC 8252 §7.1).
//!
//! Always refused: fragments, user info, whitespace, control and non-ASCII characters,
//! `javascript:`, `data:`, `file:` and the like, and plain `http://` to any other host.
//!
//! Matching is exact, byte for byte, with one exception from RFC 8252 §7.3: for a registered
//! loopback `http://` URI, any port matches (native apps pick a free port at run time); the
//! host, path and query must still be identical.

use url::Url;

/// Longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// Schemes that can run code or read local data in a browser: never redirect targets.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
    "ftp",
    "ws",
    "wss",
    "view-source",
];

/// The kind of an accepted redirect URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectKind {
    /// An `https://` URI (web clients).
    Https,
    /// An `http://` URI on a loopback host; any port matches it.
    Loopback,
    /// A private-use scheme such as `com.example.app:` (native apps).
    PrivateUse,
}

/// Checks that `uri` may be registered as a redirect URI; returns its kind or why not.
pub fn validate_redirect_uri(uri: &str) -> Result<RedirectKind, String> {
    if uri.is_empty() || uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "a redirect URI must be 1 to {MAX_REDIRECT_URI_LEN} bytes"
        ));
    }
    if !uri.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err("a redirect URI must be printable ASCII without spaces".into());
    }
    if uri.contains('#') {
        return Err("a redirect URI must not have a fragment".into());
    }
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a redirect URI must not contain user info".into());
    }
    let scheme = url.scheme();
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return Err(format!("the scheme `{scheme}:` is not allowed"));
    }
    match scheme {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err("an https redirect URI needs a host".into());
            }
            Ok(RedirectKind::Https)
        }
        "http" => {
            let Some(parts) = split_http(uri) else {
                return Err("malformed http redirect URI".into());
            };
            if is_loopback_host(parts.host) {
                Ok(RedirectKind::Loopback)
            } else {
                Err(
                    "plain http redirect URIs are only allowed on loopback hosts (127.0.0.1, [::1], localhost)"
                        .into(),
                )
            }
        }
        other if other.contains('.') => Ok(RedirectKind::PrivateUse),
        other => Err(format!(
            "the scheme `{other}:` is neither https, loopback http, nor a private-use scheme with a period (com.example.app:)"
        )),
    }
}

/// Whether `requested` matches the registered redirect URI `registered`: byte-equal, or both
/// loopback `http://` URIs that differ only in the port.
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Some(reg), Some(req)) = (split_http(registered), split_http(requested)) else {
        return false;
    };
    is_loopback_host(reg.host)
        && reg.host.eq_ignore_ascii_case(req.host)
        && reg.rest == req.rest
        && valid_port(req.port)
        && !requested.contains('#')
        && requested.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// What to show a user about where a redirect goes: `host[:port]`, or `scheme:` for a
/// private-use scheme.
pub fn redirect_display_host(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) if !host.is_empty() => host.to_owned(),
            _ => format!("{}:", url.scheme()),
        },
        Err(_) => "(invalid)".to_owned(),
    }
}

/// The origin to name in a page's CSP `form-action` so a form post may redirect there:
/// `scheme://host[:port]`, or `scheme:` for a private-use scheme.
pub(crate) fn redirect_csp_source(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => {
            let origin = url.origin();
            origin.is_tuple().then(|| origin.ascii_serialization())
        }
        scheme => Some(format!("{scheme}:")),
    }
}

struct HttpParts<'a> {
    host: &'a str,
    port: &'a str,
    /// Everything from the first `/`, `?` or `#` after the authority.
    rest: &'a str,
}

/// Splits `http://host[:port]rest` without normalizing anything.
fn split_http(uri: &str) -> Option<HttpParts<'_>> {
    let after = uri.strip_prefix("http://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let host = &authority[..close + 2];
        let tail = &v6[close + 1..];
        match tail.strip_prefix(':') {
            Some(port) => (host, port),
            None if tail.is_empty() => (host, ""),
            None => return None,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, port),
            None => (authority, ""),
        }
    };
    Some(HttpParts { host, port, rest })
}

fn valid_port(port: &str) -> bool {
    port.is_empty()
        || (port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65_535))
}

/// `127.x.y.z`, `[::1]` or `localhost` (ASCII case-insensitive).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_and_private_use_schemes() {
        assert_eq!(
            validate_redirect_uri("https://app.example/cb?x=1"),
            Ok(RedirectKind::Https)
        );
        for loopback in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:33418/callback",
            "http://[::1]:8080/cb",
            "http://localhost:6274/oauth/callback",
        ] {
            assert_eq!(
                validate_redirect_uri(loopback),
                Ok(RedirectKind::Loopback),
                "{loopback}"
            );
        }
        assert_eq!(
            validate_redirect_uri("com.example.app:/oauth2redirect"),
            Ok(RedirectKind::PrivateUse)
        );
    }

    #[test]
    fn refuses_dangerous_or_ambiguous_uris() {
        for bad in [
            "",
            "/relative/path",
            "https://app.example/cb#frag",
            "https://user:pw@app.example/cb",
            "https://good.example@evil.example/cb",
            "http://app.example/cb",
            "http://10.0.0.1/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "myapp:/cb",
            "https://app.example/c b",
            "https://app.example/\tcb",
            "https://bücher.example/cb",
            "http://127.0.0.1@evil.example/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "accepted {bad:?}");
        }
        assert!(validate_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn matching_is_exact_except_the_loopback_port() {
        let reg = "https://app.example/cb";
        assert!(redirect_matches(reg, reg));
        for other in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/CB",
            "https://app.example.evil/cb",
            "https://app.example/cb#x",
        ] {
            assert!(!redirect_matches(reg, other), "{other}");
        }
        let loop_reg = "http://127.0.0.1/callback";
        assert!(redirect_matches(
            loop_reg,
            "http://127.0.0.1:51004/callback"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1:3000/callback",
            "http://127.0.0.1:51004/callback"
        ));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:9000/cb"));
        assert!(redirect_matches(
            "http://localhost:1/cb",
            "http://localhost:9000/cb"
        ));
        for other in [
            "http://127.0.0.1:51004/callback/x",
            "http://127.0.0.2:51004/callback",
            "http://localhost:51004/callback",
            "http://127.0.0.1:99999/callback",
            "http://127.0.0.1:12ab/callback",
            "http://127.0.0.1:5@evil.example/callback",
            "https://127.0.0.1:51004/callback",
            "http://127.0.0.1:51004/callback#x",
        ] {
            assert!(!redirect_matches(loop_reg, other), "{other}");
        }
        // The port exception is only for loopback registrations.
        assert!(!redirect_matches(
            "https://app.example:8443/cb",
            "https://app.example:9443/cb"
        ));
    }

    #[test]
    fn display_host_and_csp_source() {
        assert_eq!(
            redirect_display_host("https://app.example/cb"),
            "app.example"
        );
        assert_eq!(
            redirect_display_host("http://127.0.0.1:5000/cb"),
            "127.0.0.1:5000"
        );
        assert_eq!(
            redirect_display_host("com.example.app:/cb"),
            "com.example.app:"
        );
        assert_eq!(
            redirect_csp_source("http://127.0.0.1:5000/cb?x").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            redirect_csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }
}
