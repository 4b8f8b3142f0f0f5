//! Pins in Neo4j or FalkorDB over Bolt (feature `neo4j`).
//!
//! Schema: one `(:ToolPin {key, namespace, tool, approved_hash, approved_at, approved_by,
//! pending_hash, pending_since, rejected_hash, version})` per tool, `key` being
//! `namespace/tool` (a namespace has no `/`). Definition texts live apart, content-addressed:
//! `(:ToolPinText {hash, part, text})` nodes holding at most [`PART_LEN`] bytes each, written
//! (idempotently, `MERGE` on hash and part) before a record refers to them. FalkorDB's Bolt
//! endpoint crashes on queries of about 4 KiB (see `mcp_core::bolt`), and a tool's schema is
//! often longer than that, hence the parts. Updates are compare-and-set on `version`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use mcp_core::bolt::neo4rs::Row;
use mcp_core::bolt::{BoltClient, BoltConfig};

use super::{
    PinRecord, PinStore, PinnedDefinition, validate_namespace, validate_record, validate_tool_name,
};

/// Bytes of definition text per `ToolPinText` node (escaped, it stays under FalkorDB's limit).
pub const PART_LEN: usize = 1_200;

const RETURN_PIN: &str = "RETURN p.namespace AS namespace, p.tool AS tool, \
     p.approved_hash AS approved_hash, p.approved_at AS approved_at, \
     p.approved_by AS approved_by, p.pending_hash AS pending_hash, \
     p.pending_since AS pending_since, p.rejected_hash AS rejected_hash, p.version AS version";

/// Keeps pins in a Bolt server.
#[derive(Clone, Debug)]
pub struct Neo4jPinStore {
    client: BoltClient,
}

impl Neo4jPinStore {
    /// Connects with `config` and creates the indexes if missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the indexes if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique("ToolPin", "key").await?;
        client.ensure_index("ToolPinText", "hash").await?;
        Ok(Self { client })
    }

    /// Writes the parts of `d` (a no-op for parts already there).
    async fn put_text(&self, d: &PinnedDefinition) -> Result<(), StoreError> {
        for (i, part) in split(&d.text).into_iter().enumerate() {
            let query = self
                .client
                .query(
                    "MERGE (t:ToolPinText {hash: $hash, part: $part}) SET t.text = $text \
                     RETURN count(t) AS n",
                )
                .param("hash", d.hash.as_str())
                .param("part", i as i64)
                .param("text", part);
            self.client.write(query).await?;
        }
        Ok(())
    }

    async fn text_of(&self, hash: &str) -> Result<String, StoreError> {
        let query = self
            .client
            .query(
                "MATCH (t:ToolPinText {hash: $hash}) RETURN t.part AS part, t.text AS text \
                 ORDER BY part",
            )
            .param("hash", hash);
        let rows = self.client.read(query).await?;
        let mut parts: Vec<(i64, String)> = rows
            .iter()
            .map(|row| {
                Ok((
                    row.get::<i64>("part").map_err(col("part"))?,
                    row.get::<String>("text").map_err(col("text"))?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        parts.sort_by_key(|(i, _)| *i);
        if parts.is_empty() {
            return Err(StoreError::backend(
                "pin definition text is missing",
                format!("no ToolPinText for hash {hash}"),
            ));
        }
        Ok(parts.into_iter().map(|(_, t)| t).collect())
    }

    async fn definition(
        &self,
        hash: Option<String>,
    ) -> Result<Option<PinnedDefinition>, StoreError> {
        match hash {
            Some(hash) => Ok(Some(PinnedDefinition {
                text: self.text_of(&hash).await?,
                hash,
            })),
            None => Ok(None),
        }
    }

    async fn decode(&self, row: &Row) -> Result<PinRecord, StoreError> {
        let text = |name: &'static str| row.get::<String>(name).map_err(col(name));
        let opt = |name: &'static str| row.get::<Option<String>>(name).map_err(col(name));
        let approved_hash = text("approved_hash")?;
        Ok(PinRecord {
            namespace: text("namespace")?,
            tool: text("tool")?,
            approved: PinnedDefinition {
                text: self.text_of(&approved_hash).await?,
                hash: approved_hash,
            },
            approved_at: from_millis(row.get::<i64>("approved_at").map_err(col("approved_at"))?)?,
            approved_by: opt("approved_by")?,
            pending: self.definition(opt("pending_hash")?).await?,
            pending_since: row
                .get::<Option<i64>>("pending_since")
                .map_err(col("pending_since"))?
                .map(from_millis)
                .transpose()?,
            rejected: self.definition(opt("rejected_hash")?).await?,
            version: u64::try_from(row.get::<i64>("version").map_err(col("version"))?).unwrap_or(0),
        })
    }

    async fn put_texts(&self, record: &PinRecord) -> Result<(), StoreError> {
        self.put_text(&record.approved).await?;
        for d in record.pending.iter().chain(&record.rejected) {
            self.put_text(d).await?;
        }
        Ok(())
    }
}

/// `text` in parts of at most [`PART_LEN`] bytes, cut at character boundaries.
fn split(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(PART_LEN);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    if parts.is_empty() {
        parts.push("");
    }
    parts
}

fn col(name: &'static str) -> impl Fn(mcp_core::bolt::neo4rs::DeError) -> StoreError {
    move |e| StoreError::backend(format!("unexpected column {name}"), e)
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::backend("bad timestamp", format!("{ms} ms")))
}

fn key(namespace: &str, tool: &str) -> String {
    format!("{namespace}/{tool}")
}

fn version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid("version out of range".into()))
}

#[async_trait]
impl PinStore for Neo4jPinStore {
    async fn get(&self, namespace: &str, tool: &str) -> Result<Option<PinRecord>, StoreError> {
        validate_namespace(namespace)?;
        validate_tool_name(tool)?;
        let query = self
            .client
            .query(&format!("MATCH (p:ToolPin {{key: $key}}) {RETURN_PIN}"))
            .param("key", key(namespace, tool));
        match self.client.read(query).await?.first() {
            Some(row) => Ok(Some(self.decode(row).await?)),
            None => Ok(None),
        }
    }

    async fn list(&self, namespace: Option<&str>) -> Result<Vec<PinRecord>, StoreError> {
        let query = match namespace {
            Some(ns) => {
                validate_namespace(ns)?;
                self.client
                    .query(&format!(
                        "MATCH (p:ToolPin) WHERE p.namespace = $ns {RETURN_PIN}"
                    ))
                    .param("ns", ns)
            }
            None => self
                .client
                .query(&format!("MATCH (p:ToolPin) {RETURN_PIN}")),
        };
        let rows = self.client.read(query).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.decode(row).await?);
        }
        out.sort_by(|a, b| (&a.namespace, &a.tool).cmp(&(&b.namespace, &b.tool)));
        Ok(out)
    }

    async fn insert(&self, record: &PinRecord) -> Result<bool, StoreError> {
        validate_record(record)?;
        self.put_texts(record).await?;
        let query = self
            .client
            .query(
                "OPTIONAL MATCH (old:ToolPin {key: $key}) WITH count(old) AS had WHERE had = 0 \
                 CREATE (p:ToolPin {key: $key}) SET p.namespace = $namespace, p.tool = $tool, \
                 p.approved_hash = $approved_hash, p.approved_at = $approved_at, \
                 p.approved_by = $approved_by, p.pending_hash = $pending_hash, \
                 p.pending_since = $pending_since, p.rejected_hash = $rejected_hash, \
                 p.version = $version RETURN count(p) AS n",
            )
            .param("key", key(&record.namespace, &record.tool))
            .param("namespace", record.namespace.as_str())
            .param("tool", record.tool.as_str())
            .param("approved_hash", record.approved.hash.as_str())
            .param("approved_at", record.approved_at.timestamp_millis())
            .param("approved_by", record.approved_by.clone())
            .param(
                "pending_hash",
                record.pending.as_ref().map(|d| d.hash.clone()),
            )
            .param(
                "pending_since",
                record.pending_since.map(|t| t.timestamp_millis()),
            )
            .param(
                "rejected_hash",
                record.rejected.as_ref().map(|d| d.hash.clone()),
            )
            .param("version", version(record.version)?);
        match self.client.write(query).await {
            Ok(rows) => Ok(rows
                .first()
                .and_then(|r| r.get::<i64>("n").ok())
                .unwrap_or(0)
                == 1),
            // Neo4j's uniqueness constraint refused a concurrent twin.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn update(&self, record: &PinRecord, expected_version: u64) -> Result<bool, StoreError> {
        validate_record(record)?;
        let Ok(expected) = i64::try_from(expected_version) else {
            return Ok(false);
        };
        self.put_texts(record).await?;
        let query = self
            .client
            .query(
                "MATCH (p:ToolPin {key: $key}) WHERE p.version = $expected \
                 SET p.approved_hash = $approved_hash, p.approved_at = $approved_at, \
                 p.approved_by = $approved_by, p.pending_hash = $pending_hash, \
                 p.pending_since = $pending_since, p.rejected_hash = $rejected_hash, \
                 p.version = $version RETURN count(p) AS n",
            )
            .param("key", key(&record.namespace, &record.tool))
            .param("expected", expected)
            .param("approved_hash", record.approved.hash.as_str())
            .param("approved_at", record.approved_at.timestamp_millis())
            .param("approved_by", record.approved_by.clone())
            .param(
                "pending_hash",
                record.pending.as_ref().map(|d| d.hash.clone()),
            )
            .param(
                "pending_since",
                record.pending_since.map(|t| t.timestamp_millis()),
            )
            .param(
                "rejected_hash",
                record.rejected.as_ref().map(|d| d.hash.clone()),
            )
            .param("version", version(record.version)?);
        let rows = self.client.write(query).await?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<i64>("n").ok())
            .unwrap_or(0)
            == 1)
    }

    async fn remove(&self, namespace: &str, tool: &str) -> Result<bool, StoreError> {
        validate_namespace(namespace)?;
        validate_tool_name(tool)?;
        let query = self
            .client
            .query("MATCH (p:ToolPin {key: $key}) DELETE p RETURN count(*) AS n")
            .param("key", key(namespace, tool));
        let rows = self.client.write(query).await?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<i64>("n").ok())
            .unwrap_or(0)
            > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_split_at_character_boundaries_and_rejoin() {
        let text = "é".repeat(PART_LEN);
        let parts = split(&text);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= PART_LEN));
        assert_eq!(parts.concat(), text);
        assert_eq!(split(""), [""]);
    }
}
