//! User accounts: the `mcp-users` crate (store trait and backends, password rules and
//! hashing), plus what also needs the role store (deletion) or the shared counters of
//! `mcp-limits` (the log-in lock-out).
pub use mcp_users::*;

use mcp_core::StoreError;

/// Deletes an account: ends its sessions (so its tokens stop working at once, also if a later
/// step fails), takes every role assigned to it, then removes it. Returns the roles taken.
pub async fn delete_user(
    store: &dyn UserStore,
    authorizer: &mcp_rbac::Authorizer,
    user: &User,
) -> Result<Vec<String>, DeleteError> {
    store.invalidate_tokens(&user.id).await?;
    let mut taken = Vec::new();
    for role in authorizer.roles_of(&user.id).await? {
        if authorizer.revoke_role(&user.id, &role).await? {
            taken.push(role);
        }
    }
    store.delete(&user.id).await?;
    Ok(taken)
}

/// Why [`delete_user`] failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The user store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The role store failed.
    #[error(transparent)]
    Roles(#[from] mcp_rbac::Error),
}

pub mod lockout;
