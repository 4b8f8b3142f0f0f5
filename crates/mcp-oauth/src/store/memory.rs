//! An in-process store, for tests and single-process embedding.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{
    AccessTokenRef, ClientRecord, CodeRecord, ConsentRecord, GrantRecord, OAuthStore, Redemption,
    RefreshTokenRecord, StoreError, check_key, tombstone,
};

#[derive(Debug, Default)]
struct State {
    clients: HashMap<String, ClientRecord>,
    /// hash -> (times redeemed, record)
    codes: HashMap<String, (u32, CodeRecord)>,
    grants: BTreeMap<String, GrantRecord>,
    /// grant id -> access tokens
    access_tokens: HashMap<String, Vec<AccessTokenRef>>,
    refresh_tokens: HashMap<String, (u32, RefreshTokenRecord)>,
    /// (user, client) -> consent
    consents: BTreeMap<(String, String), ConsentRecord>,
}

/// Keeps everything in maps behind one lock; lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryOAuthStore {
    state: Mutex<State>,
}

impl MemoryOAuthStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the maps consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn redeem<T: Clone>(entry: Option<&mut (u32, T)>) -> Redemption<T> {
    match entry {
        None => Redemption::Unknown,
        Some((uses, record)) => {
            *uses = uses.saturating_add(1);
            if *uses == 1 {
                Redemption::First(record.clone())
            } else {
                Redemption::Replayed(record.clone())
            }
        }
    }
}

fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(format!("{what} already exists"))
}

#[async_trait]
impl OAuthStore for MemoryOAuthStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        check_key("client id", &client.client_id)?;
        let mut state = self.state();
        if state.clients.contains_key(&client.client_id) {
            return Err(conflict("client"));
        }
        state
            .clients
            .insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.state().clients.get(client_id).cloned())
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.state().clients.remove(client_id).is_some())
    }

    async fn count_clients(&self) -> Result<u64, StoreError> {
        Ok(self.state().clients.len() as u64)
    }

    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        check_key("code hash", &code.code_hash)?;
        let mut state = self.state();
        if state.codes.contains_key(&code.code_hash) {
            return Err(conflict("code"));
        }
        state
            .codes
            .insert(code.code_hash.clone(), (0, code.clone()));
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str) -> Result<Redemption<CodeRecord>, StoreError> {
        Ok(redeem(self.state().codes.get_mut(code_hash)))
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        check_key("grant id", &grant.grant_id)?;
        let mut state = self.state();
        if state.grants.contains_key(&grant.grant_id) {
            return Err(conflict("grant"));
        }
        state.grants.insert(grant.grant_id.clone(), grant.clone());
        Ok(())
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        Ok(self.state().grants.get(grant_id).cloned())
    }

    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantRecord>, StoreError> {
        Ok(self
            .state()
            .grants
            .values()
            .filter(|g| g.user_id == user_id && !user_id.is_empty())
            .cloned()
            .collect())
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        now: i64,
    ) -> Result<Vec<AccessTokenRef>, StoreError> {
        check_key("grant id", grant_id)?;
        let mut state = self.state();
        state
            .grants
            .entry(grant_id.to_owned())
            .and_modify(|g| g.revoked = true)
            .or_insert_with(|| tombstone(grant_id, now));
        Ok(state
            .access_tokens
            .get(grant_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn add_access_token(
        &self,
        grant_id: &str,
        token: &AccessTokenRef,
    ) -> Result<bool, StoreError> {
        check_key("grant id", grant_id)?;
        let mut state = self.state();
        let tokens = state.access_tokens.entry(grant_id.to_owned()).or_default();
        if !tokens.contains(token) {
            tokens.push(token.clone());
        }
        Ok(state.grants.get(grant_id).is_some_and(|g| !g.revoked))
    }

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        check_key("refresh token hash", &token.token_hash)?;
        let mut state = self.state();
        if state.refresh_tokens.contains_key(&token.token_hash) {
            return Err(conflict("refresh token"));
        }
        state
            .refresh_tokens
            .insert(token.token_hash.clone(), (0, token.clone()));
        Ok(())
    }

    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(self
            .state()
            .refresh_tokens
            .get(token_hash)
            .map(|(_, r)| r.clone()))
    }

    async fn redeem_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Redemption<RefreshTokenRecord>, StoreError> {
        Ok(redeem(self.state().refresh_tokens.get_mut(token_hash)))
    }

    async fn put_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError> {
        check_key("user id", &consent.user_id)?;
        check_key("client id", &consent.client_id)?;
        self.state().consents.insert(
            (consent.user_id.clone(), consent.client_id.clone()),
            consent.clone(),
        );
        Ok(())
    }

    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        Ok(self
            .state()
            .consents
            .get(&(user_id.to_owned(), client_id.to_owned()))
            .cloned())
    }

    async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        Ok(self
            .state()
            .consents
            .values()
            .filter(|c| c.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn delete_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .state()
            .consents
            .remove(&(user_id.to_owned(), client_id.to_owned()))
            .is_some())
    }

    async fn purge_expired(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let state = &mut *state;
        let mut removed = 0u64;
        let before = state.codes.len();
        state.codes.retain(|_, (_, c)| c.expires_at > cutoff);
        removed += (before - state.codes.len()) as u64;
        let gone: HashSet<String> = state
            .grants
            .values()
            .filter(|g| g.expires_at <= cutoff)
            .map(|g| g.grant_id.clone())
            .collect();
        for id in &gone {
            state.grants.remove(id);
            if let Some(tokens) = state.access_tokens.remove(id) {
                removed += tokens.len() as u64;
            }
        }
        removed += gone.len() as u64;
        let before = state.refresh_tokens.len();
        state
            .refresh_tokens
            .retain(|_, (_, t)| t.expires_at > cutoff && !gone.contains(&t.grant_id));
        removed += (before - state.refresh_tokens.len()) as u64;
        for tokens in state.access_tokens.values_mut() {
            let before = tokens.len();
            tokens.retain(|t| t.expires_at > cutoff);
            removed += (before - tokens.len()) as u64;
        }
        state.access_tokens.retain(|_, t| !t.is_empty());
        Ok(removed)
    }
}
