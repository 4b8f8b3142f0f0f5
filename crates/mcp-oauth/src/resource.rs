//! The resource server's side: Protected Resource Metadata (RFC 9728) and the
//! `WWW-Authenticate` challenges of 401 and 403 answers (RFC 6750 §3, RFC 9728 §5.1).
//!
//! Usable without the authorization server, for example when tokens come from an external
//! OpenID provider only.

use serde::Serialize;
use url::Url;

use crate::config::check_base_url;
use crate::error::Error;
use crate::http::HttpResponse;
use crate::metadata::METADATA_MAX_AGE_SECS;
use crate::scope::ScopeSet;

/// Protected Resource Metadata (RFC 9728 §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the canonical URL tokens are audience-bound to.
    pub resource: String,
    /// Issuers of the authorization servers whose tokens this resource accepts.
    pub authorization_servers: Vec<String>,
    /// Scopes this resource understands.
    pub scopes_supported: Vec<String>,
    /// `["header"]`: tokens are accepted in the `Authorization` header only.
    pub bearer_methods_supported: Vec<&'static str>,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Human-readable documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// A protected resource: its metadata, where that is published, and its challenges.
///
/// ```
/// use mcp_oauth::{ProtectedResource, ScopeSet};
///
/// let mcp = ProtectedResource::new(
///     "https://mcp.example.com/mcp",
///     vec!["https://mcp.example.com".to_owned()],
///     ScopeSet::parse("tools:read tools:execute")?,
/// )?;
/// assert_eq!(mcp.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(
///     mcp.unauthorized_challenge(None),
///     "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ProtectedResource {
    metadata: ProtectedResourceMetadata,
    metadata_url: String,
    metadata_path: String,
}

/// Why a bearer token was refused, for the `error` of a 401 challenge (RFC 6750 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BearerError {
    /// The request is malformed (e.g. two tokens).
    InvalidRequest,
    /// The token is expired, revoked, malformed, for another audience or issuer.
    InvalidToken,
}

impl ProtectedResource {
    /// A resource at `resource` (`https://`, or `http://` on loopback for development)
    /// trusting the given authorization servers (issuer identifiers).
    pub fn new(
        resource: &str,
        authorization_servers: Vec<String>,
        scopes_supported: ScopeSet,
    ) -> Result<Self, Error> {
        let resource = check_base_url("resource", resource)?;
        if authorization_servers.is_empty() {
            return Err(Error::config(
                "a protected resource needs at least one authorization server",
            ));
        }
        let url = Url::parse(&resource).map_err(|e| Error::config(e.to_string()))?;
        let path = url.path().trim_end_matches('/');
        let metadata_path = format!("/.well-known/oauth-protected-resource{path}");
        let origin = url.origin().ascii_serialization();
        Ok(Self {
            metadata_url: format!("{origin}{metadata_path}"),
            metadata_path,
            metadata: ProtectedResourceMetadata {
                resource,
                authorization_servers,
                scopes_supported: scopes_supported.to_vec(),
                bearer_methods_supported: vec!["header"],
                resource_name: None,
                resource_documentation: None,
            },
        })
    }

    /// Sets the human-readable name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.metadata.resource_name = Some(name.into());
        self
    }

    /// Sets the documentation URL.
    #[must_use]
    pub fn with_documentation(mut self, url: impl Into<String>) -> Self {
        self.metadata.resource_documentation = Some(url.into());
        self
    }

    /// The resource identifier (the audience of its tokens).
    pub fn resource(&self) -> &str {
        &self.metadata.resource
    }

    /// The metadata document.
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    /// The absolute URL of the metadata (`resource_metadata` in challenges).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The path (on the resource's host) where the metadata must be served: RFC 9728 §3.1
    /// inserts `/.well-known/oauth-protected-resource` before the resource's path. MCP
    /// clients also try the root `/.well-known/oauth-protected-resource`; serve the main
    /// resource's document there too.
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The metadata as a response: JSON, publicly cacheable, readable cross-origin.
    pub fn metadata_response(&self) -> HttpResponse {
        let body = serde_json::to_string(&self.metadata).unwrap_or_else(|_| "{}".to_owned());
        HttpResponse::public_json(body, METADATA_MAX_AGE_SECS)
    }

    /// The `WWW-Authenticate` value of a 401: `Bearer resource_metadata="…"`, with
    /// `error="invalid_token"` when a token was presented and refused (RFC 6750 §3.1 says a
    /// request without any token gets no error code).
    pub fn unauthorized_challenge(&self, error: Option<BearerError>) -> String {
        self.unauthorized_challenge_with_scope(error, None)
    }

    /// [`unauthorized_challenge`](Self::unauthorized_challenge) naming the scopes the request
    /// needs (`scope="…"`), so that a client asks for them and no more (MCP's scope selection
    /// takes the challenge's `scope` first).
    pub fn unauthorized_challenge_with_scope(
        &self,
        error: Option<BearerError>,
        scope: Option<&ScopeSet>,
    ) -> String {
        let mut params = Vec::new();
        if let Some(error) = error {
            let code = match error {
                BearerError::InvalidRequest => "invalid_request",
                BearerError::InvalidToken => "invalid_token",
            };
            params.push(("error", code.to_owned()));
        }
        if let Some(scope) = scope.filter(|s| !s.is_empty()) {
            params.push(("scope", scope.to_string()));
        }
        params.push(("resource_metadata", self.metadata_url.clone()));
        challenge(&params)
    }

    /// The `WWW-Authenticate` value of a 403 for a token lacking scopes (step-up):
    /// `Bearer error="insufficient_scope", scope="…", resource_metadata="…"`. Name the scopes
    /// the request needs, so the client can ask the user for them.
    pub fn insufficient_scope_challenge(&self, needed: &ScopeSet) -> String {
        challenge(&[
            ("error", "insufficient_scope".to_owned()),
            ("scope", needed.to_string()),
            ("resource_metadata", self.metadata_url.clone()),
        ])
    }

    /// A complete 401 answer: the challenge and an RFC 6750 JSON body.
    pub fn unauthorized(&self, error: Option<BearerError>) -> HttpResponse {
        let body = match error {
            None => r#"{"error":"invalid_token","error_description":"a bearer token is required"}"#,
            Some(BearerError::InvalidRequest) => {
                r#"{"error":"invalid_request","error_description":"malformed authorization"}"#
            }
            Some(BearerError::InvalidToken) => {
                r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#
            }
        };
        let mut response = HttpResponse::json(401, body.to_owned());
        response.push_header("WWW-Authenticate", self.unauthorized_challenge(error));
        response
    }

    /// A complete 403 answer for missing scopes.
    pub fn insufficient_scope(&self, needed: &ScopeSet) -> HttpResponse {
        let body = serde_json::json!({
            "error": "insufficient_scope",
            "error_description": format!("the token lacks the scope {needed}"),
            "scope": needed.to_string(),
        });
        let mut response = HttpResponse::json(403, body.to_string());
        response.push_header(
            "WWW-Authenticate",
            self.insufficient_scope_challenge(needed),
        );
        response
    }
}

/// `Bearer k1="v1", k2="v2"` with `\` and `"` escaped in the values (RFC 9110 quoted-string).
fn challenge(params: &[(&str, String)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            let escaped: String = v
                .chars()
                .filter(|c| !c.is_control())
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("Bearer {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mcp() -> ProtectedResource {
        ProtectedResource::new(
            "https://mcp.example/mcp",
            vec!["https://mcp.example".into()],
            ScopeSet::parse("tools:read tools:execute").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn metadata_names_resource_servers_scopes_and_header_bearer() {
        let r = mcp();
        let json: serde_json::Value = serde_json::from_str(&r.metadata_response().body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://mcp.example/mcp",
                "authorization_servers": ["https://mcp.example"],
                "scopes_supported": ["tools:execute", "tools:read"],
                "bearer_methods_supported": ["header"],
            })
        );
        assert_eq!(
            r.metadata_url(),
            "https://mcp.example/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn challenges_follow_rfc_6750_and_9728() {
        let r = mcp();
        assert_eq!(
            r.unauthorized_challenge(Some(BearerError::InvalidToken)),
            "Bearer error=\"invalid_token\", resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(
            r.insufficient_scope_challenge(&ScopeSet::parse("tools:execute").unwrap()),
            "Bearer error=\"insufficient_scope\", scope=\"tools:execute\", resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(
            r.unauthorized_challenge_with_scope(
                None,
                Some(&ScopeSet::parse("tools:read").unwrap())
            ),
            "Bearer scope=\"tools:read\", resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/mcp\""
        );
        let resp = r.unauthorized(None);
        assert_eq!(resp.status, 401);
        assert!(
            resp.header("www-authenticate")
                .unwrap()
                .starts_with("Bearer resource_metadata=")
        );
        assert_eq!(
            r.insufficient_scope(&ScopeSet::parse("x").unwrap()).status,
            403
        );
    }

    #[test]
    fn quoted_values_are_escaped() {
        assert_eq!(
            challenge(&[("a", "x\"y\\z\n".to_owned())]),
            "Bearer a=\"x\\\"y\\\\z\""
        );
    }

    #[test]
    fn a_root_resource_gets_the_root_metadata_path() {
        let r = ProtectedResource::new(
            "https://api.example/",
            vec!["https://idp.example".into()],
            ScopeSet::new(),
        )
        .unwrap();
        assert_eq!(r.metadata_path(), "/.well-known/oauth-protected-resource");
        assert!(ProtectedResource::new("https://api.example", vec![], ScopeSet::new()).is_err());
    }
}
