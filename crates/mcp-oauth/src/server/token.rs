//! `POST /oauth/token`: the authorization code grant (with PKCE) and the refresh token grant
//! (with rotation and reuse detection).

use serde::Serialize;

use super::AuthorizationServer;
use crate::client::{ClientError, check_secret, credentials, invalid_client};
use crate::error::{ErrorCode, ErrorResponse};
use crate::event::{Endpoint, OAuthEvent};
use crate::http::HttpResponse;
use crate::params::{Params, shorten};
use crate::pkce::{is_valid_verifier, verify_s256};
use crate::record::{ClientRecord, GrantRecord, Redemption};
use crate::scope::ScopeSet;
use crate::secret::hash_token;

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// The new refresh token (each use of one returns a new one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The scopes of the access token.
    pub scope: ScopeSet,
}

impl TokenResponse {
    /// 200 with the JSON body, `Cache-Control: no-store` and `Pragma: no-cache`.
    pub fn to_http(&self) -> HttpResponse {
        let body = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        HttpResponse::json(200, body)
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// `POST {issuer}/oauth/token` with the form body and the `Authorization` header.
    ///
    /// Refusals are RFC 6749 §5.2 errors, each recorded as an event; a replayed code or a
    /// reused refresh token also revokes the grant and every token it issued.
    pub async fn token(
        &self,
        form: &[u8],
        authorization: Option<&str>,
    ) -> Result<TokenResponse, ErrorResponse> {
        let mut client_id = None;
        let result = self.token_inner(form, authorization, &mut client_id).await;
        if let Err(err) = &result {
            self.record(OAuthEvent::RequestRefused {
                endpoint: Endpoint::Token,
                client_id,
                error: err.error,
                reason: err.error_description.clone().unwrap_or_default(),
            })
            .await;
        }
        result
    }

    async fn token_inner(
        &self,
        form: &[u8],
        authorization: Option<&str>,
        client_id: &mut Option<String>,
    ) -> Result<TokenResponse, ErrorResponse> {
        let params = Params::parse(form)?;
        let client = self
            .authenticate_client(&params, authorization, client_id)
            .await?;
        match params.get("grant_type") {
            Some("authorization_code") => self.code_grant(&params, &client).await,
            Some("refresh_token") => self.refresh_grant(&params, &client).await,
            Some(other) => Err(ErrorResponse::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {:?} is not supported", shorten(other)),
            )),
            None => Err(ErrorResponse::invalid_request("grant_type is required")),
        }
    }

    /// Authenticates the client of a token or revocation request.
    pub(crate) async fn authenticate_client(
        &self,
        params: &Params,
        authorization: Option<&str>,
        client_id: &mut Option<String>,
    ) -> Result<ClientRecord, ErrorResponse> {
        let creds = credentials(params, authorization)?;
        *client_id = Some(shorten(&creds.client_id));
        let client = match self.inner.clients.find(&creds.client_id).await {
            Ok(client) => client,
            Err(ClientError::Unknown(reason)) => {
                return Err(invalid_client(
                    &format!("unknown client: {reason}"),
                    creds.via_basic,
                ));
            }
            Err(ClientError::Store(e)) => return Err(e),
        };
        check_secret(&client, &creds).map_err(|why| invalid_client(why, creds.via_basic))?;
        Ok(client)
    }

    async fn code_grant(
        &self,
        params: &Params,
        client: &ClientRecord,
    ) -> Result<TokenResponse, ErrorResponse> {
        let code = params.require("code")?;
        let invalid = |why: &str| ErrorResponse::new(ErrorCode::InvalidGrant, why);
        // Redeem first: any attempt uses the code up, right or wrong.
        let redemption = self
            .inner
            .store
            .redeem_code(&hash_token(code))
            .await
            .map_err(|e| self.store_error("code redemption", &e))?;
        let record = match redemption {
            Redemption::First(record) => record,
            Redemption::Replayed(record) => {
                // OAuth 2.1 §4.1.3: a code used twice revokes what it issued.
                let revoked = self.revoke_grant_everywhere(&record.grant_id).await;
                self.record(OAuthEvent::CodeReplayDetected {
                    user_id: record.user_id.clone(),
                    client_id: record.client_id.clone(),
                    grant_id: record.grant_id.clone(),
                })
                .await;
                revoked?;
                return Err(invalid(
                    "the code was already used; the tokens it issued are revoked",
                ));
            }
            _ => return Err(invalid("unknown or expired code")),
        };
        let now = Self::now();
        if record.client_id != client.client_id {
            return Err(invalid("the code was issued to another client"));
        }
        if now >= record.expires_at {
            return Err(invalid("the code expired"));
        }
        if params
            .get("redirect_uri")
            .is_some_and(|uri| uri != record.redirect_uri)
        {
            return Err(invalid(
                "redirect_uri differs from the authorization request",
            ));
        }
        let Some(verifier) = params.get("code_verifier") else {
            return Err(ErrorResponse::invalid_request(
                "code_verifier is required (PKCE)",
            ));
        };
        if !is_valid_verifier(verifier) {
            return Err(invalid(
                "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
            ));
        }
        if !verify_s256(verifier, &record.code_challenge) {
            return Err(invalid("code_verifier does not match the code_challenge"));
        }
        self.check_resource_param(params, &record.resource)?;
        let scope = self.current_scope(&record.user_id, &record.scope).await?;
        let grant = GrantRecord {
            grant_id: record.grant_id.clone(),
            client_id: record.client_id.clone(),
            user_id: record.user_id.clone(),
            scope: record.scope.clone(),
            resource: record.resource.clone(),
            created_at: now,
            expires_at: now + self.inner.settings.grant_max,
            revoked: false,
        };
        match self.inner.store.insert_grant(&grant).await {
            Ok(()) => {}
            // A replay of this code revoked the grant before it existed.
            Err(mcp_core::StoreError::Conflict(_)) => return Err(invalid("the grant was revoked")),
            Err(e) => return Err(self.store_error("grant write", &e)),
        }
        let minted = self.mint_for(&grant, &scope).await?;
        let access_token_id = minted.reference.id.clone();
        let refresh = self.new_refresh_token(client, &grant).await?;
        self.record(OAuthEvent::TokenIssued {
            user_id: grant.user_id.clone(),
            client_id: grant.client_id.clone(),
            scope: scope.clone(),
            resource: grant.resource.clone(),
            grant_id: grant.grant_id.clone(),
            access_token_id,
        })
        .await;
        Ok(Self::token_response(minted, refresh, &scope))
    }

    async fn refresh_grant(
        &self,
        params: &Params,
        client: &ClientRecord,
    ) -> Result<TokenResponse, ErrorResponse> {
        let token = params.require("refresh_token")?;
        let invalid = |why: &str| ErrorResponse::new(ErrorCode::InvalidGrant, why);
        let redemption = self
            .inner
            .store
            .redeem_refresh_token(&hash_token(token))
            .await
            .map_err(|e| self.store_error("refresh token redemption", &e))?;
        let record = match redemption {
            Redemption::First(record) => record,
            Redemption::Replayed(record) => {
                // A rotated-out token came back: one of its holders is not the client.
                let revoked = self.revoke_grant_everywhere(&record.grant_id).await;
                self.record(OAuthEvent::RefreshReuseDetected {
                    user_id: record.user_id.clone(),
                    client_id: record.client_id.clone(),
                    grant_id: record.grant_id.clone(),
                })
                .await;
                revoked?;
                return Err(invalid(
                    "the refresh token was already used; its grant is revoked",
                ));
            }
            _ => return Err(invalid("unknown or expired refresh token")),
        };
        if record.client_id != client.client_id {
            // Someone else holds this client's token: treat it as stolen.
            self.revoke_grant_everywhere(&record.grant_id).await?;
            return Err(invalid(
                "the refresh token was issued to another client; its grant is revoked",
            ));
        }
        let now = Self::now();
        if now >= record.expires_at {
            return Err(invalid("the refresh token expired"));
        }
        let grant = match self.inner.store.grant(&record.grant_id).await {
            Ok(Some(grant)) if !grant.revoked && now < grant.expires_at => grant,
            Ok(_) => return Err(invalid("the grant was revoked or expired")),
            Err(e) => return Err(self.store_error("grant lookup", &e)),
        };
        let asked = match params.bounded("scope", 4096)? {
            Some(text) => {
                let asked = ScopeSet::parse(text)
                    .map_err(|e| ErrorResponse::new(ErrorCode::InvalidScope, e.to_string()))?;
                if !asked.is_subset(&record.scope) {
                    return Err(ErrorResponse::new(
                        ErrorCode::InvalidScope,
                        "the requested scope exceeds the grant",
                    ));
                }
                asked
            }
            None => record.scope.clone(),
        };
        self.check_resource_param(params, &record.resource)?;
        let scope = self.current_scope(&record.user_id, &asked).await?;
        let minted = self.mint_for(&grant, &scope).await?;
        let access_token_id = minted.reference.id.clone();
        let refresh = self.new_refresh_token(client, &grant).await?;
        self.record(OAuthEvent::TokenRefreshed {
            user_id: grant.user_id.clone(),
            client_id: grant.client_id.clone(),
            scope: scope.clone(),
            resource: grant.resource.clone(),
            grant_id: grant.grant_id.clone(),
            access_token_id,
        })
        .await;
        Ok(Self::token_response(minted, refresh, &scope))
    }

    /// A `resource` in a token request must name the grant's resource (RFC 8707 §2.2).
    fn check_resource_param(&self, params: &Params, granted: &str) -> Result<(), ErrorResponse> {
        match params.all("resource") {
            [] => Ok(()),
            [one] if self.known_resource(one).as_deref() == Some(granted) => Ok(()),
            [_] => Err(ErrorResponse::new(
                ErrorCode::InvalidTarget,
                "the resource differs from the one authorized",
            )),
            _ => Err(ErrorResponse::new(
                ErrorCode::InvalidTarget,
                "only one resource may be requested",
            )),
        }
    }

    /// The granted scopes the user still holds; refused when the user is gone or holds none.
    async fn current_scope(
        &self,
        user_id: &str,
        granted: &ScopeSet,
    ) -> Result<ScopeSet, ErrorResponse> {
        let user = self.inner.users.user(user_id).await.map_err(|e| {
            tracing::warn!(error = %e, "user lookup failed at the token endpoint");
            ErrorResponse::unavailable()
        })?;
        let Some(user) = user else {
            return Err(ErrorResponse::new(
                ErrorCode::InvalidGrant,
                "the user no longer exists or is disabled",
            ));
        };
        let scope = granted.intersection(&user.scopes);
        if scope.is_empty() {
            return Err(ErrorResponse::new(
                ErrorCode::InvalidGrant,
                "the user no longer holds any of the granted permissions",
            ));
        }
        Ok(scope)
    }
}
