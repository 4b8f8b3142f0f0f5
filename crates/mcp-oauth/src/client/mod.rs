//! Clients: from configuration, registered dynamically (RFC 7591), or described by a Client
//! ID Metadata Document; and client authentication at the token and revocation endpoints.

pub(crate) mod document;
pub(crate) mod metadata;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ErrorCode, ErrorResponse};
use crate::event::{EventSink, OAuthEvent};
use crate::params::Params;
use crate::record::{ClientRecord, ClientSource};
use crate::scope::ScopeSet;
use crate::secret::{constant_time_eq, hash_token};
use crate::store::OAuthStore;
use document::{DocumentClients, Resolved, is_document_client_id};

pub use metadata::RegisteredClient;

/// Longest client id accepted (other than metadata document URLs), in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// Why a client could not be found.
pub(crate) enum ClientError {
    /// No such client, or its metadata document was refused (the reason, for the user).
    Unknown(String),
    /// The store failed.
    Store(ErrorResponse),
}

/// Finds clients wherever they come from.
pub(crate) struct Clients {
    statics: HashMap<String, ClientRecord>,
    store: Arc<dyn OAuthStore>,
    documents: Option<DocumentClients>,
    supported: ScopeSet,
    events: Arc<dyn EventSink>,
}

impl Clients {
    pub(crate) fn new(
        statics: HashMap<String, ClientRecord>,
        store: Arc<dyn OAuthStore>,
        documents: Option<DocumentClients>,
        supported: ScopeSet,
        events: Arc<dyn EventSink>,
    ) -> Self {
        Self {
            statics,
            store,
            documents,
            supported,
            events,
        }
    }

    /// Whether metadata-document client ids are accepted.
    pub(crate) fn documents_enabled(&self) -> bool {
        self.documents.is_some()
    }

    /// The client with this id.
    pub(crate) async fn find(&self, client_id: &str) -> Result<ClientRecord, ClientError> {
        if let Some(client) = self.statics.get(client_id) {
            return Ok(client.clone());
        }
        if is_document_client_id(client_id) {
            let Some(documents) = &self.documents else {
                return Err(ClientError::Unknown(
                    "this server does not accept client metadata documents".into(),
                ));
            };
            return match documents.resolve(client_id, &self.supported).await {
                Ok(Resolved::Cached(record)) => Ok(record),
                Ok(Resolved::Fetched(record)) => {
                    self.events
                        .record(OAuthEvent::ClientRegistered {
                            client_id: record.client_id.clone(),
                            source: ClientSource::MetadataDocument,
                            client_name: record.client_name.clone(),
                            redirect_hosts: metadata::redirect_hosts(&record),
                        })
                        .await;
                    Ok(record)
                }
                Err(reason) => Err(ClientError::Unknown(reason)),
            };
        }
        if client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(ClientError::Unknown("unknown client".into()));
        }
        match self.store.client(client_id).await {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(ClientError::Unknown("unknown client".into())),
            Err(e) => Err(ClientError::Store(ErrorResponse::from_store(
                "client lookup",
                &e,
            ))),
        }
    }
}

impl Clients {
    /// The client with this id if it is known without fetching anything: configured,
    /// registered, or a metadata document still in the cache.
    pub(crate) async fn known(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, mcp_core::StoreError> {
        if let Some(client) = self.statics.get(client_id) {
            return Ok(Some(client.clone()));
        }
        if is_document_client_id(client_id) {
            return Ok(self.documents.as_ref().and_then(|d| d.cached(client_id)));
        }
        self.store.client(client_id).await
    }
}

/// Client credentials from a token or revocation request.
#[derive(Debug)]
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) via_basic: bool,
}

/// `invalid_client`, with a Basic challenge when the client used Basic (RFC 6749 §5.2).
pub(crate) fn invalid_client(description: &str, via_basic: bool) -> ErrorResponse {
    let err = ErrorResponse::new(ErrorCode::InvalidClient, description);
    if via_basic {
        err.with_challenge("Basic realm=\"oauth\", charset=\"UTF-8\"")
    } else {
        err
    }
}

/// Reads the client's credentials from HTTP Basic (RFC 6749 §2.3.1, form-encoded id and
/// secret) or from the body; using both, or naming two different clients, is refused.
pub(crate) fn credentials(
    params: &Params,
    authorization: Option<&str>,
) -> Result<Credentials, ErrorResponse> {
    let basic = authorization.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
    });
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(encoded) = basic {
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| invalid_client("malformed HTTP Basic credentials", true))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| invalid_client("malformed HTTP Basic credentials", true))?;
        let id = form_decode(id);
        let secret = form_decode(secret);
        if body_secret.is_some() {
            return Err(ErrorResponse::invalid_request(
                "use one client authentication method, not HTTP Basic and client_secret both",
            ));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(ErrorResponse::invalid_request(
                "client_id in the body differs from HTTP Basic",
            ));
        }
        if id.is_empty() {
            return Err(invalid_client("empty client id", true));
        }
        return Ok(Credentials {
            client_id: id,
            secret: (!secret.is_empty()).then_some(secret),
            via_basic: true,
        });
    }
    let client_id = body_id
        .ok_or_else(|| {
            ErrorResponse::invalid_request("client authentication is required (client_id)")
        })?
        .to_owned();
    Ok(Credentials {
        client_id,
        secret: body_secret.map(str::to_owned),
        via_basic: false,
    })
}

fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks the credentials against the client: a confidential client must present its
/// secret (compared as hashes, in constant time); a public client must not present one.
pub(crate) fn check_secret(client: &ClientRecord, creds: &Credentials) -> Result<(), &'static str> {
    match (&client.secret_hash, &creds.secret) {
        (Some(stored), Some(given)) => {
            if constant_time_eq(stored.as_bytes(), hash_token(given).as_bytes()) {
                Ok(())
            } else {
                Err("client authentication failed")
            }
        }
        (Some(_), None) => Err("this client must authenticate with its secret"),
        (None, Some(_)) => Err("this client is public and has no secret"),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AuthMethod;

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // id "a b", secret "p:w%" form-encoded, then base64.
        let header = format!("Basic {}", STANDARD.encode("a+b:p%3Aw%25"));
        let c = credentials(&params(""), Some(&header)).unwrap();
        assert_eq!(c.client_id, "a b");
        assert_eq!(c.secret.as_deref(), Some("p:w%"));
        assert!(c.via_basic);
    }

    #[test]
    fn two_methods_or_two_ids_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:s"));
        assert!(credentials(&params("client_secret=s"), Some(&header)).is_err());
        assert!(credentials(&params("client_id=b"), Some(&header)).is_err());
        assert!(credentials(&params("client_id=a"), Some(&header)).is_ok());
        assert!(credentials(&params(""), None).is_err());
        let bad = credentials(&params(""), Some("Basic !!!")).unwrap_err();
        assert_eq!(bad.status, 401);
        assert!(bad.www_authenticate.is_some());
    }

    #[test]
    fn secrets_are_checked_by_hash() {
        let mut client = ClientRecord::public("c", ClientSource::Dynamic, vec![]);
        let creds = |secret: Option<&str>| Credentials {
            client_id: "c".into(),
            secret: secret.map(str::to_owned),
            via_basic: false,
        };
        assert!(check_secret(&client, &creds(None)).is_ok());
        assert!(check_secret(&client, &creds(Some("x"))).is_err());
        client.secret_hash = Some(hash_token("right"));
        client.auth_method = AuthMethod::ClientSecretPost;
        assert!(check_secret(&client, &creds(Some("right"))).is_ok());
        assert!(check_secret(&client, &creds(Some("wrong"))).is_err());
        assert!(check_secret(&client, &creds(None)).is_err());
    }
}
