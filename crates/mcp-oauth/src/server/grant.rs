//! Grants: minting the tokens of a grant, and revoking a grant with everything it issued.

use super::AuthorizationServer;
use super::token::TokenResponse;
use crate::error::ErrorResponse;
use crate::record::{ClientRecord, GrantRecord, RefreshTokenRecord};
use crate::scope::ScopeSet;
use crate::seams::{MintedToken, TokenRequest};
use crate::secret::{hash_token, random_token};

impl AuthorizationServer {
    /// Revokes a grant in the store and the access tokens recorded for it. Returns how many
    /// access tokens were revoked.
    pub(crate) async fn revoke_grant_everywhere(
        &self,
        grant_id: &str,
    ) -> Result<usize, ErrorResponse> {
        let tokens = self
            .inner
            .store
            .revoke_grant(grant_id, Self::now())
            .await
            .map_err(|e| self.store_error("grant revocation", &e))?;
        if !tokens.is_empty()
            && let Err(e) = self.inner.tokens.revoke(&tokens).await
        {
            tracing::error!(error = %e, grant_id, "revoking the access tokens of a grant failed");
            return Err(ErrorResponse::server_error());
        }
        Ok(tokens.len())
    }

    /// Mints an access token for a grant and records it; if the grant was revoked meanwhile,
    /// revokes the new token and refuses.
    pub(crate) async fn mint_for(
        &self,
        grant: &GrantRecord,
        scope: &ScopeSet,
    ) -> Result<MintedToken, ErrorResponse> {
        let request = TokenRequest {
            user_id: grant.user_id.clone(),
            client_id: grant.client_id.clone(),
            scope: scope.clone(),
            audience: grant.resource.clone(),
            grant_id: grant.grant_id.clone(),
        };
        let minted = self.inner.tokens.mint(&request).await.map_err(|e| {
            tracing::error!(error = %e, "minting an access token failed");
            ErrorResponse::server_error()
        })?;
        let active = self
            .inner
            .store
            .add_access_token(&grant.grant_id, &minted.reference)
            .await
            .map_err(|e| self.store_error("access token record", &e))?;
        if !active {
            if let Err(e) = self
                .inner
                .tokens
                .revoke(std::slice::from_ref(&minted.reference))
                .await
            {
                tracing::error!(error = %e, "revoking a token of a revoked grant failed");
            }
            return Err(ErrorResponse::new(
                crate::error::ErrorCode::InvalidGrant,
                "the grant was revoked",
            ));
        }
        Ok(minted)
    }

    /// A new refresh token of a grant, if the client may use them.
    pub(crate) async fn new_refresh_token(
        &self,
        client: &ClientRecord,
        grant: &GrantRecord,
    ) -> Result<Option<String>, ErrorResponse> {
        if !client.refresh_tokens {
            return Ok(None);
        }
        let now = Self::now();
        let token = random_token();
        let record = RefreshTokenRecord {
            token_hash: hash_token(&token),
            grant_id: grant.grant_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.clone(),
            scope: grant.scope.clone(),
            resource: grant.resource.clone(),
            issued_at: now,
            expires_at: (now + self.inner.settings.refresh_ttl).min(grant.expires_at),
        };
        self.inner
            .store
            .insert_refresh_token(&record)
            .await
            .map_err(|e| self.store_error("refresh token write", &e))?;
        Ok(Some(token))
    }

    pub(crate) fn token_response(
        minted: MintedToken,
        refresh_token: Option<String>,
        scope: &ScopeSet,
    ) -> TokenResponse {
        TokenResponse {
            access_token: minted.token,
            token_type: "Bearer",
            expires_in: minted.expires_in,
            refresh_token,
            scope: scope.clone(),
        }
    }
}
