//! Pins in memory, lost on restart: for tests and embedding.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use mcp_core::StoreError;

use super::{PinRecord, PinStore, validate_namespace, validate_record, validate_tool_name};

/// Pins in a map behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryPinStore {
    records: Mutex<BTreeMap<(String, String), PinRecord>>,
}

impl MemoryPinStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), PinRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key(namespace: &str, tool: &str) -> (String, String) {
    (namespace.to_owned(), tool.to_owned())
}

#[async_trait]
impl PinStore for MemoryPinStore {
    async fn get(&self, namespace: &str, tool: &str) -> Result<Option<PinRecord>, StoreError> {
        validate_namespace(namespace)?;
        validate_tool_name(tool)?;
        Ok(self.records().get(&key(namespace, tool)).cloned())
    }

    async fn list(&self, namespace: Option<&str>) -> Result<Vec<PinRecord>, StoreError> {
        if let Some(ns) = namespace {
            validate_namespace(ns)?;
        }
        Ok(self
            .records()
            .values()
            .filter(|r| namespace.is_none_or(|ns| r.namespace == ns))
            .cloned()
            .collect())
    }

    async fn insert(&self, record: &PinRecord) -> Result<bool, StoreError> {
        validate_record(record)?;
        let mut records = self.records();
        let k = key(&record.namespace, &record.tool);
        if records.contains_key(&k) {
            return Ok(false);
        }
        records.insert(k, record.clone());
        Ok(true)
    }

    async fn update(&self, record: &PinRecord, expected_version: u64) -> Result<bool, StoreError> {
        validate_record(record)?;
        let mut records = self.records();
        match records.get_mut(&key(&record.namespace, &record.tool)) {
            Some(stored) if stored.version == expected_version => {
                *stored = record.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove(&self, namespace: &str, tool: &str) -> Result<bool, StoreError> {
        validate_namespace(namespace)?;
        validate_tool_name(tool)?;
        Ok(self.records().remove(&key(namespace, tool)).is_some())
    }
}
