//! Client ID Metadata Documents: a client id that is an `https://` URL names a JSON document
//! (the client's metadata) that the server fetches, checks and caches.
//!
//! The fetch goes through [`HttpFetch`] with a policy built from
//! [`ClientMetadataDocumentConfig`]: public `https://` only (unless configured), size and time
//! limits, no redirects. Successes are cached for `cache_ttl_secs`, failures for
//! `failure_cache_secs` (so a slow or broken URL cannot make the server fetch it on every
//! request), both in bounded caches; at most a few fetches run at once.

use std::sync::Arc;
use std::time::Duration;

use mcp_core::cache::TtlCache;
use tokio::sync::Semaphore;
use url::Url;

use super::metadata::ClientMetadata;
use crate::config::ClientMetadataDocumentConfig;
use crate::fetch::{FetchPolicy, HttpFetch};
use crate::record::{AuthMethod, ClientRecord, ClientSource};
use crate::scope::ScopeSet;

/// Longest client id URL accepted, in bytes.
pub const MAX_DOCUMENT_URL_LEN: usize = 2048;
/// Most metadata documents fetched at the same time.
const MAX_CONCURRENT_FETCHES: usize = 8;

/// Whether a client id names a metadata document (it is an `http(s)://` URL).
pub(crate) fn is_document_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Checks the shape of a client id URL (the draft's rules): a path, no fragment, no user
/// info, no `.` or `..` segments, printable ASCII, bounded.
pub(crate) fn check_document_url(client_id: &str) -> Result<Url, String> {
    if client_id.len() > MAX_DOCUMENT_URL_LEN {
        return Err(format!(
            "a client id URL must be at most {MAX_DOCUMENT_URL_LEN} bytes"
        ));
    }
    if !client_id.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err("a client id URL must be printable ASCII".into());
    }
    let url = Url::parse(client_id).map_err(|e| format!("the client id is not a URL: {e}"))?;
    if url.fragment().is_some() || client_id.contains('#') {
        return Err("a client id URL must not have a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a client id URL must not have user info".into());
    }
    let after_host = client_id
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    let path = after_host.split('?').next().unwrap_or("");
    if path.len() <= 1 {
        return Err("a client id URL must have a path".into());
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("a client id URL must not have . or .. segments".into());
    }
    Ok(url)
}

/// Fetches and caches metadata documents.
pub(crate) struct DocumentClients {
    fetcher: Arc<dyn HttpFetch>,
    policy: FetchPolicy,
    found: TtlCache<String, ClientRecord>,
    failed: TtlCache<String, String>,
    permits: Semaphore,
}

/// The outcome of resolving a document client id.
pub(crate) enum Resolved {
    /// From the cache.
    Cached(ClientRecord),
    /// Fetched now (worth an event).
    Fetched(ClientRecord),
}

impl DocumentClients {
    pub(crate) fn new(fetcher: Arc<dyn HttpFetch>, config: &ClientMetadataDocumentConfig) -> Self {
        let policy =
            FetchPolicy::public(config.max_bytes, Duration::from_millis(config.timeout_ms))
                .allowing_private_addresses(config.allow_private_addresses);
        Self {
            fetcher,
            policy,
            found: TtlCache::new(
                Duration::from_secs(config.cache_ttl_secs),
                config.cache_capacity,
            ),
            failed: TtlCache::new(
                Duration::from_secs(config.failure_cache_secs),
                config.cache_capacity,
            ),
            permits: Semaphore::new(MAX_CONCURRENT_FETCHES),
        }
    }

    /// The client described at `client_id` if its document is in the cache (never fetches).
    pub(crate) fn cached(&self, client_id: &str) -> Option<ClientRecord> {
        self.found.get(client_id)
    }

    /// The client described at `client_id`, or why not.
    pub(crate) async fn resolve(
        &self,
        client_id: &str,
        supported: &ScopeSet,
    ) -> Result<Resolved, String> {
        if let Some(record) = self.found.get(client_id) {
            return Ok(Resolved::Cached(record));
        }
        if let Some(reason) = self.failed.get(client_id) {
            return Err(reason);
        }
        let Ok(_permit) = self.permits.try_acquire() else {
            return Err("too many client metadata documents are being fetched; try again".into());
        };
        let stamp = self.found.stamp();
        let failed_stamp = self.failed.stamp();
        match self.fetch(client_id, supported).await {
            Ok(record) => {
                self.found
                    .insert(client_id.to_owned(), record.clone(), stamp);
                Ok(Resolved::Fetched(record))
            }
            Err(reason) => {
                tracing::info!(client_id = %crate::params::shorten(client_id), %reason, "client metadata document refused");
                self.failed
                    .insert(client_id.to_owned(), reason.clone(), failed_stamp);
                Err(reason)
            }
        }
    }

    async fn fetch(&self, client_id: &str, supported: &ScopeSet) -> Result<ClientRecord, String> {
        let url = check_document_url(client_id)?;
        let document = self
            .fetcher
            .get(&url, &self.policy)
            .await
            .map_err(|e| format!("the client metadata document could not be fetched: {e}"))?;
        let metadata = ClientMetadata::from_json(&document.body).map_err(|e| {
            format!(
                "the client metadata document is invalid: {}",
                e.error_description.unwrap_or_default()
            )
        })?;
        if metadata.client_id.as_deref() != Some(client_id) {
            return Err(
                "the client metadata document's client_id is not the URL it was fetched from"
                    .into(),
            );
        }
        if metadata.client_secret.is_some() || metadata.client_secret_expires_at.is_some() {
            return Err("a client metadata document must not contain a client secret".into());
        }
        let now = chrono::Utc::now().timestamp();
        let record = metadata
            .into_record(
                client_id.to_owned(),
                ClientSource::MetadataDocument,
                AuthMethod::None,
                supported,
                now,
            )
            .map_err(|e| {
                format!(
                    "the client metadata document is invalid: {}",
                    e.error_description.unwrap_or_default()
                )
            })?;
        if record.auth_method != AuthMethod::None {
            return Err(
                "clients described by a metadata document must be public (token_endpoint_auth_method \"none\")"
                    .into(),
            );
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_urls_follow_the_draft_rules() {
        assert!(check_document_url("https://app.example/oauth/client.json").is_ok());
        assert!(check_document_url("https://app.example/c?v=2").is_ok());
        for bad in [
            "https://app.example",
            "https://app.example/",
            "https://app.example/a#b",
            "https://u:p@app.example/c",
            "https://app.example/a/../b",
            "https://app.example/./b",
            "https://app.example/a b",
        ] {
            assert!(check_document_url(bad).is_err(), "{bad}");
        }
        assert!(check_document_url(&format!("https://a.example/{}", "x".repeat(2048))).is_err());
    }
}
