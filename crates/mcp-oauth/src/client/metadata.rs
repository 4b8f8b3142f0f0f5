//! Client metadata (RFC 7591 §2), as sent to the registration endpoint or published in a
//! Client ID Metadata Document, and its validation.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ErrorResponse};
use crate::record::{AuthMethod, ClientRecord, ClientSource};
use crate::redirect::{redirect_display_host, validate_redirect_uri};
use crate::scope::ScopeSet;

/// Most redirect URIs a client may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest client name kept, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
/// Longest `client_uri`, `software_id` and `software_version` kept, in bytes.
const MAX_FIELD_BYTES: usize = 2000;

/// The metadata fields this server reads; others are ignored (RFC 7591 §2).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ClientMetadata {
    #[serde(default)]
    pub(crate) client_id: Option<String>,
    #[serde(default)]
    pub(crate) client_secret: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) client_secret_expires_at: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub(crate) grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) response_types: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) client_name: Option<String>,
    #[serde(default)]
    pub(crate) client_uri: Option<String>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) software_id: Option<String>,
    #[serde(default)]
    pub(crate) software_version: Option<String>,
}

fn bad(description: impl Into<String>) -> ErrorResponse {
    ErrorResponse::new(ErrorCode::InvalidClientMetadata, description)
}

impl ClientMetadata {
    /// Parses a JSON object; wrong types are `invalid_client_metadata`.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, ErrorResponse> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        if !value.is_object() {
            return Err(bad("the body must be a JSON object"));
        }
        serde_json::from_value(value).map_err(|e| bad(format!("invalid metadata: {e}")))
    }

    /// Validates the metadata into a client record with id `client_id`.
    ///
    /// `default_method` is the authentication method when none is given: RFC 7591's
    /// `client_secret_basic` for registration, `none` for metadata documents.
    pub(crate) fn into_record(
        self,
        client_id: String,
        source: ClientSource,
        default_method: AuthMethod,
        supported_scopes: &ScopeSet,
        now: i64,
    ) -> Result<ClientRecord, ErrorResponse> {
        let redirect_uris = self.redirect_uris.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err(ErrorResponse::new(
                ErrorCode::InvalidRedirectUri,
                "at least one redirect URI is required",
            ));
        }
        if redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(ErrorResponse::new(
                ErrorCode::InvalidRedirectUri,
                format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
            ));
        }
        for uri in &redirect_uris {
            if let Err(reason) = validate_redirect_uri(uri) {
                return Err(ErrorResponse::new(ErrorCode::InvalidRedirectUri, reason));
            }
        }
        let auth_method = match self.token_endpoint_auth_method.as_deref() {
            None => default_method,
            Some(name) => AuthMethod::parse(name).ok_or_else(|| {
                bad("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
            })?,
        };
        let grant_types = self
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
        if let Some(other) = grant_types
            .iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        {
            return Err(bad(format!(
                "grant type {:?} is not supported (authorization_code, refresh_token)",
                crate::params::shorten(other)
            )));
        }
        if !grant_types.iter().any(|g| g == "authorization_code") {
            return Err(bad("grant_types must include authorization_code"));
        }
        let response_types = self
            .response_types
            .unwrap_or_else(|| vec!["code".to_owned()]);
        if response_types.is_empty() || response_types.iter().any(|r| r != "code") {
            return Err(bad("response_types must be [\"code\"]"));
        }
        let client_name = match self.client_name {
            Some(name) => Some(clean_name(&name)?),
            None => None,
        };
        let client_uri = match self.client_uri {
            Some(uri) if uri.len() <= MAX_FIELD_BYTES && is_https_url(&uri) => Some(uri),
            Some(_) => return Err(bad("client_uri must be an https:// URL")),
            None => None,
        };
        let scope = match self.scope {
            Some(scope) => {
                let requested = ScopeSet::parse(&scope).map_err(|e| bad(format!("scope: {e}")))?;
                let kept = requested.intersection(supported_scopes);
                (!kept.is_empty()).then_some(kept)
            }
            None => None,
        };
        let bounded = |field: &str, value: Option<String>| match value {
            Some(v) if v.len() > MAX_FIELD_BYTES || v.chars().any(char::is_control) => Err(bad(
                format!("{field} is too long or has control characters"),
            )),
            other => Ok(other),
        };
        Ok(ClientRecord {
            client_id,
            source,
            secret_hash: None,
            auth_method,
            redirect_uris,
            refresh_tokens: grant_types.iter().any(|g| g == "refresh_token"),
            client_name,
            client_uri,
            scope,
            software_id: bounded("software_id", self.software_id)?,
            software_version: bounded("software_version", self.software_version)?,
            created_at: now,
            first_party: false,
        })
    }
}

/// A display name: trimmed, no control or bidirectional-override characters, bounded.
fn clean_name(name: &str) -> Result<String, ErrorResponse> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(bad("client_name must not be empty"));
    }
    if trimmed.chars().count() > MAX_CLIENT_NAME_CHARS {
        return Err(bad(format!(
            "client_name must be at most {MAX_CLIENT_NAME_CHARS} characters"
        )));
    }
    let spoofing = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    if trimmed.chars().any(spoofing) {
        return Err(bad(
            "client_name must not contain control, zero-width or direction-override characters",
        ));
    }
    Ok(trimmed.to_owned())
}

fn is_https_url(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some())
}

/// The registration response (RFC 7591 §3.2.1): the registered metadata, the client id and,
/// for a confidential client, its secret (shown once; only its hash is stored).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The new client id.
    pub client_id: String,
    /// The client secret, for `client_secret_basic` and `client_secret_post` clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// When the id was issued (Unix seconds).
    pub client_id_issued_at: i64,
    /// `0`: the secret does not expire (present only with a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// The registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The authentication method.
    pub token_endpoint_auth_method: &'static str,
    /// The grant types.
    pub grant_types: Vec<&'static str>,
    /// `["code"]`.
    pub response_types: Vec<&'static str>,
    /// The name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The home page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// The registered scopes (those of the request the server supports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSet>,
    /// `software_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// `software_version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

impl RegisteredClient {
    pub(crate) fn new(record: &ClientRecord, secret: Option<String>) -> Self {
        let mut grant_types = vec!["authorization_code"];
        if record.refresh_tokens {
            grant_types.push("refresh_token");
        }
        Self {
            client_id: record.client_id.clone(),
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret,
            client_id_issued_at: record.created_at,
            redirect_uris: record.redirect_uris.clone(),
            token_endpoint_auth_method: record.auth_method.as_str(),
            grant_types,
            response_types: vec!["code"],
            client_name: record.client_name.clone(),
            client_uri: record.client_uri.clone(),
            scope: record.scope.clone(),
            software_id: record.software_id.clone(),
            software_version: record.software_version.clone(),
        }
    }

    /// 201 with the JSON body and `Cache-Control: no-store`.
    pub fn to_http(&self) -> crate::HttpResponse {
        let body = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        crate::HttpResponse::json(201, body)
    }
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("has_secret", &self.client_secret.is_some())
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

/// The hosts of a client's redirect URIs, for events and pages.
pub(crate) fn redirect_hosts(record: &ClientRecord) -> Vec<String> {
    let mut hosts: Vec<String> = record
        .redirect_uris
        .iter()
        .map(|u| redirect_display_host(u))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported() -> ScopeSet {
        ScopeSet::parse("tools:read tools:execute").unwrap()
    }

    fn record(json: &str) -> Result<ClientRecord, ErrorResponse> {
        ClientMetadata::from_json(json.as_bytes())?.into_record(
            "id".into(),
            ClientSource::Dynamic,
            AuthMethod::ClientSecretBasic,
            &supported(),
            0,
        )
    }

    #[test]
    fn a_typical_mcp_client_registration_is_accepted() {
        let r = record(
            r#"{"redirect_uris":["http://localhost:33418/callback"],"token_endpoint_auth_method":"none",
                "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
                "client_name":"Claude","scope":"tools:read unknown:scope","logo_uri":"https://x/y.png"}"#,
        )
        .unwrap();
        assert_eq!(r.auth_method, AuthMethod::None);
        assert!(r.refresh_tokens);
        assert_eq!(r.scope.unwrap().to_string(), "tools:read");
        assert_eq!(r.client_name.as_deref(), Some("Claude"));
    }

    #[test]
    fn rfc_7591_defaults_apply() {
        let r = record(r#"{"redirect_uris":["https://app.example/cb"]}"#).unwrap();
        assert_eq!(r.auth_method, AuthMethod::ClientSecretBasic);
        assert!(!r.refresh_tokens);
        assert_eq!(r.scope, None);
    }

    #[test]
    fn bad_metadata_is_refused_with_the_rfc_codes() {
        let cases = [
            (r#"{}"#, ErrorCode::InvalidRedirectUri),
            (
                r#"{"redirect_uris":["javascript:alert(1)"]}"#,
                ErrorCode::InvalidRedirectUri,
            ),
            (
                r#"{"redirect_uris":["http://evil.example/cb"]}"#,
                ErrorCode::InvalidRedirectUri,
            ),
            (
                r#"{"redirect_uris":"https://a.example/cb"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["refresh_token"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"client_name":"Goo\u202egle"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"client_uri":"javascript:x"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (r#"[1,2]"#, ErrorCode::InvalidClientMetadata),
            (r#"not json"#, ErrorCode::InvalidClientMetadata),
        ];
        for (json, code) in cases {
            let err = record(json).expect_err(json);
            assert_eq!(err.error, code, "{json}");
            assert_eq!(err.status, 400);
        }
        let many: Vec<String> = (0..11)
            .map(|i| format!("\"https://a.example/{i}\""))
            .collect();
        let json = format!("{{\"redirect_uris\":[{}]}}", many.join(","));
        assert_eq!(
            record(&json).unwrap_err().error,
            ErrorCode::InvalidRedirectUri
        );
    }
}
