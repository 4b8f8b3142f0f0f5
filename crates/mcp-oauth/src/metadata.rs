//! Discovery documents: Authorization Server Metadata (RFC 8414, also served where OpenID
//! Connect discovery looks) and the endpoints they name.

use serde::Serialize;
use url::Url;

use crate::http::HttpResponse;

/// Path of the authorization endpoint under the issuer (`GET`: start; shows the log-in page).
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// Path the log-in form posts to.
pub const LOGIN_PATH: &str = "/oauth/login";
/// Path the consent form posts to.
pub const CONSENT_PATH: &str = "/oauth/consent";
/// Path of the token endpoint (`POST`).
pub const TOKEN_PATH: &str = "/oauth/token";
/// Path of the Dynamic Client Registration endpoint (`POST`).
pub const REGISTER_PATH: &str = "/oauth/register";
/// Path of the revocation endpoint (`POST`, RFC 7009).
pub const REVOKE_PATH: &str = "/oauth/revoke";

/// How long clients may cache the metadata documents, in seconds.
pub const METADATA_MAX_AGE_SECS: u32 = 3600;

/// The absolute URLs of the authorization server's endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// The issuer identifier (no trailing `/`).
    pub issuer: String,
    /// `{issuer}/oauth/authorize`.
    pub authorization: String,
    /// `{issuer}/oauth/login`.
    pub login: String,
    /// `{issuer}/oauth/consent`.
    pub consent: String,
    /// `{issuer}/oauth/token`.
    pub token: String,
    /// `{issuer}/oauth/register`.
    pub registration: String,
    /// `{issuer}/oauth/revoke`.
    pub revocation: String,
}

impl Endpoints {
    /// The endpoints under `issuer` (given without a trailing `/`).
    pub fn new(issuer: &str) -> Self {
        let at = |path: &str| format!("{issuer}{path}");
        Self {
            issuer: issuer.to_owned(),
            authorization: at(AUTHORIZE_PATH),
            login: at(LOGIN_PATH),
            consent: at(CONSENT_PATH),
            token: at(TOKEN_PATH),
            registration: at(REGISTER_PATH),
            revocation: at(REVOKE_PATH),
        }
    }

    /// The path component of `url` (one of the endpoints), for routing: `/base/oauth/token`
    /// for an issuer `https://host/base`.
    pub fn path_of(url: &str) -> String {
        Url::parse(url).map_or_else(|_| "/".to_owned(), |u| u.path().to_owned())
    }
}

/// Authorization Server Metadata (RFC 8414 §2), as published at the well-known URLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The registration endpoint, when Dynamic Client Registration is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// The revocation endpoint (RFC 7009).
    pub revocation_endpoint: String,
    /// Every scope a client may request.
    pub scopes_supported: Vec<String>,
    /// `["code"]`.
    pub response_types_supported: Vec<&'static str>,
    /// `["query"]`.
    pub response_modes_supported: Vec<&'static str>,
    /// `["authorization_code", "refresh_token"]`.
    pub grant_types_supported: Vec<&'static str>,
    /// `["none", "client_secret_basic", "client_secret_post"]`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Same as for the token endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `["S256"]`: `plain` is not offered.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `true`: authorization responses carry `iss` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Whether `https://` client ids naming a metadata document are accepted.
    pub client_id_metadata_document_supported: bool,
    /// Human-readable documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
}

impl AuthorizationServerMetadata {
    /// The JSON document, publicly cacheable for an hour, readable cross-origin (browser
    /// clients fetch it).
    pub fn to_http(&self) -> HttpResponse {
        let body = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        HttpResponse::public_json(body, METADATA_MAX_AGE_SECS)
    }
}

pub(crate) const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

/// The paths (on the issuer's host) where the metadata must be served: RFC 8414 §3.1
/// (`/.well-known/oauth-authorization-server` followed by the issuer's path) and the two
/// places MCP clients look for OpenID Connect discovery (`{issuer path}/.well-known/openid-configuration`
/// and `/.well-known/openid-configuration{issuer path}`). Serve the same document at each.
pub fn authorization_server_metadata_paths(issuer: &str) -> Vec<String> {
    let path = Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let mut paths = vec![
        format!("/.well-known/oauth-authorization-server{path}"),
        format!("{path}/.well-known/openid-configuration"),
        format!("/.well-known/openid-configuration{path}"),
    ];
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths_for_a_root_issuer() {
        assert_eq!(
            authorization_server_metadata_paths("https://mcp.example"),
            [
                "/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn well_known_paths_for_an_issuer_with_a_path() {
        assert_eq!(
            authorization_server_metadata_paths("https://mcp.example/tenant1"),
            [
                "/.well-known/oauth-authorization-server/tenant1",
                "/tenant1/.well-known/openid-configuration",
                "/.well-known/openid-configuration/tenant1"
            ]
        );
    }

    #[test]
    fn endpoints_hang_under_the_issuer() {
        let e = Endpoints::new("https://mcp.example/base");
        assert_eq!(e.token, "https://mcp.example/base/oauth/token");
        assert_eq!(Endpoints::path_of(&e.token), "/base/oauth/token");
    }
}
