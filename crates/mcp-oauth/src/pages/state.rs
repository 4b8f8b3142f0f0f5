//! The pages' state: a CSRF cookie, tokens derived from it, and the pending authorization
//! carried in a signed hidden field (so nothing is stored before a user logs in).
//!
//! - The cookie holds 256 random bits (`HttpOnly`, `SameSite=Strict`, `Secure` and the
//!   `__Host-` prefix when the issuer is `https://`).
//! - A form's CSRF token is `HMAC(key, "csrf", cookie)`: a cross-site page cannot read the
//!   cookie, so it cannot produce the token (the signed double-submit pattern).
//! - The pending authorization (the validated request, and after log-in the user) is JSON
//!   signed with `HMAC(key, "pending", json)`, carries an expiry, and is bound to the cookie
//!   by a hash of it, so it is useless in another browser.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::scope::ScopeSet;
use crate::secret::{constant_time_eq, hmac_sha256, random_bytes, random_token};

const SEAL_VERSION: &str = "v1";

/// A validated authorization request waiting for log-in and consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    #[serde(default)]
    pub(crate) state: Option<String>,
    pub(crate) scope: ScopeSet,
    pub(crate) resource: String,
    pub(crate) code_challenge: String,
    /// Set once the user logged in: (user id, display name).
    #[serde(default)]
    pub(crate) user: Option<(String, String)>,
    /// The scopes the user may grant of those requested (set with `user`).
    #[serde(default)]
    pub(crate) grantable: Option<ScopeSet>,
    pub(crate) expires_at: i64,
    /// Hash of the CSRF cookie this belongs to.
    pub(crate) binding: String,
}

/// Why a sealed value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unseal {
    /// Not produced by this server's key, or altered.
    Forged,
    /// Past its expiry.
    Expired,
    /// Produced for another browser (another CSRF cookie).
    OtherBrowser,
}

/// The page key and cookie settings.
pub(crate) struct PageKeys {
    key: Zeroizing<Vec<u8>>,
    secure: bool,
    ttl_secs: i64,
}

impl PageKeys {
    /// Keys from a configured secret, or a random one.
    pub(crate) fn new(secret: Option<&[u8]>, secure: bool, ttl_secs: i64) -> Self {
        let key = match secret {
            Some(secret) => Zeroizing::new(secret.to_vec()),
            None => Zeroizing::new(random_bytes().to_vec()),
        };
        Self {
            key,
            secure,
            ttl_secs,
        }
    }

    /// How long pages stay valid.
    pub(crate) fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// The CSRF cookie's name (`__Host-` prefixed when it can be `Secure`).
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-mcp-oauth-csrf"
        } else {
            "mcp-oauth-csrf"
        }
    }

    /// The CSRF cookie's value from a `Cookie` header, if present and well-formed.
    pub(crate) fn cookie_from_header(&self, header: Option<&str>) -> Option<String> {
        let name = self.cookie_name();
        header?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| {
                v.len() == 43
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    }

    /// A new cookie value and its `Set-Cookie` header.
    pub(crate) fn new_cookie(&self) -> (String, String) {
        let value = random_token();
        let mut header = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
            self.cookie_name(),
            self.ttl_secs.max(60)
        );
        if self.secure {
            header.push_str("; Secure");
        }
        (value, header)
    }

    /// The CSRF token of forms shown to the browser holding `cookie`.
    pub(crate) fn csrf_token(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.key, &[b"csrf", cookie.as_bytes()]))
    }

    /// Whether `token` is the CSRF token for `cookie` (both must be present).
    pub(crate) fn check_csrf(&self, cookie: Option<&str>, token: Option<&str>) -> bool {
        match (cookie, token) {
            (Some(cookie), Some(token)) => {
                constant_time_eq(self.csrf_token(cookie).as_bytes(), token.as_bytes())
            }
            _ => false,
        }
    }

    /// The binding of pending state to a cookie.
    pub(crate) fn binding(cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(&Sha256::digest(cookie.as_bytes())[..16])
    }

    /// Signs pending state for a hidden field.
    pub(crate) fn seal(&self, pending: &Pending) -> String {
        let json = serde_json::to_vec(pending).unwrap_or_default();
        let mac = hmac_sha256(&self.key, &[b"pending", SEAL_VERSION.as_bytes(), &json]);
        format!(
            "{SEAL_VERSION}.{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// Checks and opens a sealed value for the browser holding `cookie`.
    pub(crate) fn unseal(&self, sealed: &str, cookie: &str, now: i64) -> Result<Pending, Unseal> {
        let mut parts = sealed.split('.');
        let (Some(SEAL_VERSION), Some(body), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Unseal::Forged);
        };
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| Unseal::Forged)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| Unseal::Forged)?;
        let expected = hmac_sha256(&self.key, &[b"pending", SEAL_VERSION.as_bytes(), &json]);
        if !constant_time_eq(&expected, &mac) {
            return Err(Unseal::Forged);
        }
        let pending: Pending = serde_json::from_slice(&json).map_err(|_| Unseal::Forged)?;
        if now >= pending.expires_at {
            return Err(Unseal::Expired);
        }
        if !constant_time_eq(pending.binding.as_bytes(), Self::binding(cookie).as_bytes()) {
            return Err(Unseal::OtherBrowser);
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(binding: String) -> Pending {
        Pending {
            client_id: "c".into(),
            redirect_uri: "https://c.example/cb".into(),
            state: Some("s".into()),
            scope: ScopeSet::parse("a b").unwrap(),
            resource: "https://as.example/mcp".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            user: None,
            grantable: None,
            expires_at: 1_000,
            binding,
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_cookie_and_key() {
        let keys = PageKeys::new(Some(b"0123456789abcdef0123456789abcdef"), true, 600);
        let (cookie, header) = keys.new_cookie();
        assert!(header.starts_with("__Host-mcp-oauth-csrf="));
        assert!(
            header.contains("HttpOnly")
                && header.contains("Secure")
                && header.contains("SameSite=Strict")
        );
        let token = keys.csrf_token(&cookie);
        assert!(keys.check_csrf(Some(&cookie), Some(&token)));
        assert!(!keys.check_csrf(None, Some(&token)));
        assert!(!keys.check_csrf(Some(&cookie), None));
        let (other, _) = keys.new_cookie();
        assert!(!keys.check_csrf(Some(&other), Some(&token)));
        let other_key = PageKeys::new(Some(b"another key of thirty-two bytes!"), true, 600);
        assert!(!other_key.check_csrf(Some(&cookie), Some(&token)));
    }

    #[test]
    fn cookie_is_read_from_the_header_only_when_well_formed() {
        let keys = PageKeys::new(None, false, 600);
        let (cookie, header) = keys.new_cookie();
        assert!(!header.contains("Secure"));
        let sent = format!("a=b; {}={cookie}; c=d", keys.cookie_name());
        assert_eq!(keys.cookie_from_header(Some(&sent)), Some(cookie));
        assert_eq!(keys.cookie_from_header(Some("mcp-oauth-csrf=short")), None);
        assert_eq!(keys.cookie_from_header(None), None);
    }

    #[test]
    fn sealed_state_refuses_tampering_expiry_and_other_browsers() {
        let keys = PageKeys::new(None, true, 600);
        let cookie = "c".repeat(43);
        let sealed = keys.seal(&pending(PageKeys::binding(&cookie)));
        assert_eq!(keys.unseal(&sealed, &cookie, 999).unwrap().client_id, "c");
        assert_eq!(keys.unseal(&sealed, &cookie, 1_000), Err(Unseal::Expired));
        assert_eq!(
            keys.unseal(&sealed, &"d".repeat(43), 999),
            Err(Unseal::OtherBrowser)
        );
        // Swap in another body: the MAC no longer matches.
        let mut forged = pending(PageKeys::binding(&cookie));
        forged.client_id = "evil".into();
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let mac = sealed.rsplit('.').next().unwrap();
        let tampered = format!("v1.{forged_body}.{mac}");
        assert_eq!(keys.unseal(&tampered, &cookie, 999), Err(Unseal::Forged));
        assert_eq!(keys.unseal("garbage", &cookie, 999), Err(Unseal::Forged));
        let other = PageKeys::new(None, true, 600);
        assert_eq!(other.unseal(&sealed, &cookie, 999), Err(Unseal::Forged));
    }
}
