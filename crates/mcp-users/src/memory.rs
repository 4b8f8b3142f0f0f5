//! Users in memory: lost on restart.
use std::collections::BTreeMap;

use async_trait::async_trait;
use mcp_core::StoreError;
use tokio::sync::RwLock;

use super::{User, UserStore};

/// A [`UserStore`] in a map.
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    by_name: RwLock<BTreeMap<String, User>>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    async fn update(&self, id: &str, change: impl FnOnce(&mut User)) -> Result<(), StoreError> {
        let mut map = self.by_name.write().await;
        let user = map
            .values_mut()
            .find(|u| u.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        change(user);
        Ok(())
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        let mut map = self.by_name.write().await;
        if map.contains_key(username) {
            return Err(StoreError::Conflict(format!("user `{username}` exists")));
        }
        let user = User::new(username, password_hash);
        map.insert(username.to_owned(), user.clone());
        Ok(user)
    }

    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self.by_name.read().await.get(username).cloned())
    }

    async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .by_name
            .read()
            .await
            .values()
            .find(|u| u.id == id)
            .cloned())
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        Ok(self.by_name.read().await.values().cloned().collect())
    }

    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError> {
        let mut map = self.by_name.write().await;
        let user = map
            .values_mut()
            .find(|u| u.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        user.disabled = disabled;
        if disabled {
            user.tokens_valid_from = Some(super::next_tokens_valid_from(
                user.tokens_valid_from,
                chrono::Utc::now(),
            ));
        }
        Ok(user.clone())
    }

    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let mut map = self.by_name.write().await;
        let user = map
            .values_mut()
            .find(|u| u.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        password_hash.clone_into(&mut user.password_hash);
        user.tokens_valid_from = Some(super::next_tokens_valid_from(
            user.tokens_valid_from,
            chrono::Utc::now(),
        ));
        Ok(())
    }

    async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError> {
        self.update(id, |u| {
            u.tokens_valid_from = Some(super::next_tokens_valid_from(
                u.tokens_valid_from,
                chrono::Utc::now(),
            ));
        })
        .await
    }

    async fn record_unlock(&self, id: &str) -> Result<(), StoreError> {
        self.update(id, |u| u.unlocked_at = Some(chrono::Utc::now()))
            .await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let mut map = self.by_name.write().await;
        let name = map
            .values()
            .find(|u| u.id == id)
            .map(|u| u.username.clone())
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        map.remove(&name);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_passes_the_user_store_conformance_cases() {
        crate::conformance::run(&super::MemoryUserStore::new()).await;
    }
}
