//! Registration (RFC 7591), revocation (RFC 7009), remembered consents and upkeep.

use super::{AuthorizationServer, PURGE_GRACE_SECS};
use crate::client::ClientError;
use crate::client::metadata::{ClientMetadata, RegisteredClient};
use crate::error::{Error, ErrorCode, ErrorResponse};
use crate::event::{Endpoint, OAuthEvent, TokenKind};
use crate::http::HttpResponse;
use crate::params::Params;
use crate::record::{
    AuthMethod, ClientRecord, ClientSource, Connection, ConsentRecord, GrantRecord,
};
use crate::secret::{constant_time_eq, hash_token, random_token};

/// Largest registration request body read, in bytes.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

impl AuthorizationServer {
    /// `POST {issuer}/oauth/register` with the JSON body and the `Authorization` header
    /// (needed only when an initial access token is configured). Answers 201 with
    /// [`RegisteredClient::to_http`].
    pub async fn register(
        &self,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<RegisteredClient, ErrorResponse> {
        let result = self.register_inner(body, authorization).await;
        match &result {
            Ok(registered) => {
                self.record(OAuthEvent::ClientRegistered {
                    client_id: registered.client_id.clone(),
                    source: ClientSource::Dynamic,
                    client_name: registered.client_name.clone(),
                    redirect_hosts: registered
                        .redirect_uris
                        .iter()
                        .map(|u| crate::redirect::redirect_display_host(u))
                        .collect(),
                })
                .await;
            }
            Err(err) => {
                self.record(OAuthEvent::RequestRefused {
                    endpoint: Endpoint::Register,
                    client_id: None,
                    error: err.error,
                    reason: err.error_description.clone().unwrap_or_default(),
                })
                .await;
            }
        }
        result
    }

    async fn register_inner(
        &self,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<RegisteredClient, ErrorResponse> {
        let settings = &self.inner.settings;
        if !settings.dynamic_registration {
            return Err(ErrorResponse::new(
                ErrorCode::AccessDenied,
                "dynamic client registration is disabled",
            )
            .with_status(403));
        }
        if let Some(expected) = &settings.initial_access_token {
            let presented = authorization
                .and_then(|h| h.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            let ok = presented.is_some_and(|p| {
                constant_time_eq(
                    hash_token(p).as_bytes(),
                    hash_token_bytes(expected.expose()).as_bytes(),
                )
            });
            if !ok {
                return Err(ErrorResponse::new(
                    ErrorCode::InvalidToken,
                    "registration requires a valid initial access token",
                )
                .with_challenge("Bearer error=\"invalid_token\""));
            }
        }
        if body.len() > MAX_REGISTRATION_BYTES {
            return Err(ErrorResponse::new(
                ErrorCode::InvalidClientMetadata,
                format!("the registration request is larger than {MAX_REGISTRATION_BYTES} bytes"),
            ));
        }
        let metadata = ClientMetadata::from_json(body)?;
        let now = Self::now();
        let client_id = format!("mcp_{}", random_token());
        let mut record = metadata.into_record(
            client_id,
            ClientSource::Dynamic,
            AuthMethod::ClientSecretBasic,
            &settings.scopes_supported,
            now,
        )?;
        let secret = (record.auth_method != AuthMethod::None).then(random_token);
        record.secret_hash = secret.as_deref().map(hash_token);
        let count = self
            .inner
            .store
            .count_clients()
            .await
            .map_err(|e| self.store_error("client count", &e))?;
        if count >= settings.max_clients {
            tracing::warn!(
                count,
                "dynamic client registration refused: the client limit is reached"
            );
            return Err(ErrorResponse::unavailable());
        }
        self.inner
            .store
            .insert_client(&record)
            .await
            .map_err(|e| match e {
                mcp_core::StoreError::Invalid(why) => {
                    ErrorResponse::new(ErrorCode::InvalidClientMetadata, why)
                }
                other => self.store_error("client write", &other),
            })?;
        Ok(RegisteredClient::new(&record, secret))
    }

    /// `POST {issuer}/oauth/revoke` (RFC 7009) with the form body and the `Authorization`
    /// header. A refresh token revokes its whole grant and the grant's access tokens; an
    /// access token is revoked by the [`AccessTokenIssuer`](crate::AccessTokenIssuer). Unknown
    /// tokens are not an error (RFC 7009 §2.2). Answer success with
    /// [`revocation_response`](Self::revocation_response).
    pub async fn revoke(
        &self,
        form: &[u8],
        authorization: Option<&str>,
    ) -> Result<(), ErrorResponse> {
        let mut client_id = None;
        let result = self.revoke_inner(form, authorization, &mut client_id).await;
        if let Err(err) = &result {
            self.record(OAuthEvent::RequestRefused {
                endpoint: Endpoint::Revoke,
                client_id,
                error: err.error,
                reason: err.error_description.clone().unwrap_or_default(),
            })
            .await;
        }
        result
    }

    /// The answer to a successful revocation: 200, empty, not cacheable.
    pub fn revocation_response() -> HttpResponse {
        let mut response = HttpResponse::empty(200);
        response.push_header("Cache-Control", "no-store");
        response
    }

    async fn revoke_inner(
        &self,
        form: &[u8],
        authorization: Option<&str>,
        client_id: &mut Option<String>,
    ) -> Result<(), ErrorResponse> {
        let params = Params::parse(form)?;
        let client = self
            .authenticate_client(&params, authorization, client_id)
            .await?;
        let token = params.require("token")?;
        let hint = params.get("token_type_hint");
        let refresh = if hint == Some("access_token") {
            None
        } else {
            self.inner
                .store
                .refresh_token(&hash_token(token))
                .await
                .map_err(|e| self.store_error("refresh token lookup", &e))?
        };
        if let Some(record) = refresh {
            if record.client_id != client.client_id {
                return Err(ErrorResponse::new(
                    ErrorCode::UnauthorizedClient,
                    "the token was issued to another client",
                ));
            }
            self.revoke_grant_everywhere(&record.grant_id).await?;
            self.record(OAuthEvent::TokenRevoked {
                client_id: client.client_id.clone(),
                user_id: Some(record.user_id),
                grant_id: Some(record.grant_id),
                token_kind: TokenKind::RefreshToken,
            })
            .await;
            return Ok(());
        }
        let presented = self.inner.tokens.recognise(token).await.map_err(|e| {
            tracing::warn!(error = %e, "access token recognition failed");
            ErrorResponse::unavailable()
        })?;
        if let Some(presented) = presented {
            if presented
                .client_id
                .as_deref()
                .is_some_and(|owner| owner != client.client_id)
            {
                return Err(ErrorResponse::new(
                    ErrorCode::UnauthorizedClient,
                    "the token was issued to another client",
                ));
            }
            self.inner
                .tokens
                .revoke(std::slice::from_ref(&presented.reference))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "access token revocation failed");
                    ErrorResponse::unavailable()
                })?;
            self.record(OAuthEvent::TokenRevoked {
                client_id: client.client_id.clone(),
                user_id: None,
                grant_id: None,
                token_kind: TokenKind::AccessToken,
            })
            .await;
        }
        Ok(())
    }

    /// The client with this id (configured, registered or from a metadata document).
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        match self.inner.clients.find(client_id).await {
            Ok(client) => Ok(Some(client)),
            Err(ClientError::Unknown(_)) => Ok(None),
            Err(ClientError::Store(e)) => Err(Error::Store(mcp_core::StoreError::unavailable(
                e.to_string(),
            ))),
        }
    }

    /// The answer to a request refused by the embedding server's rate limit, before any
    /// work: 429 with `Retry-After`; an error page for the browser endpoints (authorize,
    /// log-in, consent), the RFC 6749 JSON error `temporarily_unavailable` for the others.
    /// Records [`OAuthEvent::RequestThrottled`].
    pub async fn too_many_requests(
        &self,
        endpoint: Endpoint,
        retry_after_secs: u64,
    ) -> HttpResponse {
        let retry_after_secs = retry_after_secs.max(1);
        self.record(OAuthEvent::RequestThrottled {
            endpoint,
            retry_after_secs,
        })
        .await;
        let message = format!(
            "Too many requests from your address. Try again in {retry_after_secs} seconds."
        );
        let mut response = match endpoint {
            Endpoint::Authorize | Endpoint::Login | Endpoint::Consent => self
                .inner
                .pages
                .error(429, "Too many requests", &message)
                .to_http(),
            _ => ErrorResponse::new(ErrorCode::TemporarilyUnavailable, message)
                .with_status(429)
                .to_http(),
        };
        response.push_header("Retry-After", retry_after_secs.to_string());
        response
    }

    /// The client with this id if it is known without fetching anything (configured,
    /// registered, or a metadata document still cached).
    pub async fn known_client(&self, client_id: &str) -> Result<Option<ClientRecord>, Error> {
        Ok(self.inner.clients.known(client_id).await?)
    }

    /// Removes a dynamically registered client (configured clients cannot be removed here).
    /// Its grants stay until revoked or expired; revoke consents first to end them.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, Error> {
        Ok(self.inner.store.delete_client(client_id).await?)
    }

    /// The consents a user asked to be remembered, by client id.
    pub async fn consents(&self, user_id: &str) -> Result<Vec<ConsentRecord>, Error> {
        Ok(self.inner.store.consents_of(user_id).await?)
    }

    /// The grants of a user that are still active (not revoked, not expired), by id: the
    /// clients that can currently get tokens for the user.
    pub async fn active_grants(&self, user_id: &str) -> Result<Vec<GrantRecord>, Error> {
        let now = Self::now();
        Ok(self
            .inner
            .store
            .grants_of(user_id)
            .await?
            .into_iter()
            .filter(|g| !g.revoked && g.expires_at > now)
            .collect())
    }

    /// The clients connected to a user's account, by client id: each with the remembered
    /// consent (if any) and the active grants. What the user's "connected applications"
    /// page shows, and what [`revoke_consent`](Self::revoke_consent) ends. The client's
    /// description is looked up without fetching anything (a metadata document no longer
    /// cached leaves it `None`).
    pub async fn connections(&self, user_id: &str) -> Result<Vec<Connection>, Error> {
        let mut by_client: std::collections::BTreeMap<String, Connection> = Default::default();
        for consent in self.consents(user_id).await? {
            let client_id = consent.client_id.clone();
            by_client
                .entry(client_id.clone())
                .or_insert_with(|| Connection::empty(&client_id))
                .consent = Some(consent);
        }
        for grant in self.active_grants(user_id).await? {
            let client_id = grant.client_id.clone();
            by_client
                .entry(client_id.clone())
                .or_insert_with(|| Connection::empty(&client_id))
                .grants
                .push(grant);
        }
        for connection in by_client.values_mut() {
            connection.client = self.known_client(&connection.client_id).await?;
        }
        Ok(by_client.into_values().collect())
    }

    /// Revokes what a user gave a client: the remembered consent and every active grant of
    /// the client for the user (with their refresh and access tokens), whether or not the
    /// consent was remembered. For the user's own settings page and for admins; `revoked_by`
    /// (the acting user's id) goes into the event. Returns whether there was anything to
    /// revoke.
    pub async fn revoke_consent(
        &self,
        user_id: &str,
        client_id: &str,
        revoked_by: &str,
    ) -> Result<bool, Error> {
        let had_consent = self.inner.store.delete_consent(user_id, client_id).await?;
        let grants: Vec<GrantRecord> = self
            .active_grants(user_id)
            .await?
            .into_iter()
            .filter(|g| g.client_id == client_id)
            .collect();
        for grant in &grants {
            self.revoke_grant_everywhere(&grant.grant_id)
                .await
                .map_err(|e| Error::Store(mcp_core::StoreError::unavailable(e.to_string())))?;
        }
        if had_consent || !grants.is_empty() {
            self.record(OAuthEvent::ConsentRevoked {
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
                grants_revoked: grants.len() as u64,
                revoked_by: revoked_by.to_owned(),
            })
            .await;
        }
        Ok(had_consent || !grants.is_empty())
    }

    /// Removes codes, refresh tokens, grants and access-token records that expired more than
    /// [`PURGE_GRACE_SECS`] ago; call it now and then. Returns how many records went.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        Ok(self
            .inner
            .store
            .purge_expired(Self::now() - PURGE_GRACE_SECS)
            .await?)
    }
}

fn hash_token_bytes(bytes: &[u8]) -> String {
    hash_token(&String::from_utf8_lossy(bytes))
}
