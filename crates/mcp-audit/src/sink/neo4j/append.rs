//! The append query and the compact encoding of the events it stores.
//!
//! FalkorDB caps a query, parameters rendered, at [`MAX_QUERY_TEXT`] bytes, and its cost is
//! mostly per query, so the encoding packs as many events into that cap as it can, while
//! the stored nodes keep the layout of earlier versions (every property, same types):
//! - each distinct text of the optional and repeated columns ([`COLUMNS`]: event type,
//!   details, user, address, ...) is sent once per query in the list `$v` (index 0 is
//!   `NULL`), and events refer to it by index;
//! - the event ids and timestamps of one query share a prefix (UUID v7 ids and timestamps of
//!   one batch are close in time), sent once as `$e` and `$t`;
//! - each event is one fixed-width text, read with `substring`: the rest of its id
//!   (`$a` bytes), its hash (64), the rest of its timestamp (`$b`), `1` or `0` for success,
//!   then one `$w`-digit index into `$v` per column.
//!
//! `seq` and `prev_hash` are derived in the query from the part's first `seq` (`$s`) and the
//! hash it links to (`$p`).

use std::collections::HashMap;
use std::fmt::Write;
use std::ops::Range;

use mcp_core::bolt::MAX_QUERY_TEXT;
use mcp_core::bolt::neo4rs::{BoltNull, BoltType};

use crate::chain::ChainHead;
use crate::event::{AuditEvent, timestamp_format};

/// The append query. It stores nothing unless `$s` is 1 or the event `$s - 1` is stored with
/// hash `$p`, and returns how many events it stored (`n`). `MERGE` on `event_id` makes a
/// retried query (after a lost reply) store each event once.
pub(super) const APPEND: &str = "OPTIONAL MATCH (p:AuditEvent {seq:$s-1}) WHERE p.hash=$p \
    WITH count(p) AS l WHERE $s=1 OR l>0 \
    UNWIND range(0,size($r)-1) AS i WITH i,$r[i] AS r,$a+65+$b AS o \
    WITH i,r,o,[k IN range(0,10)|$v[toInteger(substring(r,o+$w*k,$w))]] AS d \
    MERGE (e:AuditEvent {event_id:$e+substring(r,0,$a)}) \
    SET e+={seq:$s+i,prev_hash:CASE i WHEN 0 THEN $p ELSE substring($r[i-1],$a,64) END,\
    hash:substring(r,$a,64),timestamp:$t+substring(r,$a+64,$b),success:substring(r,o-1,1)='1',\
    event_type:d[0],details:d[1],user_id:d[2],ip_address:d[3],user_agent:d[4],resource:d[5],\
    action:d[6],request_id:d[7],session_id:d[8],duration_ms:toInteger(d[9]),error_message:d[10]} \
    RETURN count(e) AS n";

/// Columns sent as indexes into `$v`, in the order of `d` in [`APPEND`]: `event_type`,
/// `details`, `user_id`, `ip_address`, `user_agent`, `resource`, `action`, `request_id`,
/// `session_id`, `duration_ms` (decimal text, converted back with `toInteger`),
/// `error_message`.
pub(super) const COLUMNS: usize = 11;

/// Length of a chain hash (SHA-256 in hex), as [`APPEND`] reads it.
const HASH_LEN: usize = 64;

/// One event as [`APPEND`] stores it.
#[derive(Debug)]
pub(super) struct EventText {
    id: String,
    hash: String,
    timestamp: String,
    success: bool,
    columns: [Option<String>; COLUMNS],
}

impl EventText {
    /// `event` with its chain `hash` and canonical `details`.
    pub(super) fn new(event: &AuditEvent, hash: String, details: String) -> Self {
        debug_assert_eq!(hash.len(), HASH_LEN);
        // `validate` has refused durations above i64::MAX.
        let duration = event
            .duration_ms
            .map(|d| i64::try_from(d).unwrap_or(i64::MAX).to_string());
        Self {
            id: event.event_id.to_string(),
            hash,
            timestamp: timestamp_format::format(&event.timestamp),
            success: event.success,
            columns: [
                Some(event.event_type.as_str().to_owned()),
                Some(details),
                event.user_id.clone(),
                event.ip_address.map(|ip| ip.to_string()),
                event.user_agent.clone(),
                event.resource.clone(),
                event.action.clone(),
                event.request_id.clone(),
                event.session_id.clone(),
                duration,
                event.error_message.clone(),
            ],
        }
    }

    /// The chain hash of this event.
    pub(super) fn hash(&self) -> &str {
        &self.hash
    }
}

/// The append query for one event alone, when its compact query is over FalkorDB's cap: `$r`
/// is the event as one positional list ([`one_params`]). Its fixed text is shorter than
/// [`APPEND`]'s, so the longest event FalkorDB takes is what it was before the compact
/// encoding. Same guard, same count, same stored properties.
pub(super) const APPEND_ONE: &str = "OPTIONAL MATCH (p:AuditEvent {seq:$s-1}) WHERE p.hash=$p \
    WITH count(p) AS l WHERE $s=1 OR l>0 WITH $r AS r \
    MERGE (e:AuditEvent {event_id:r[0]}) \
    SET e+={seq:$s,prev_hash:$p,hash:r[1],event_type:r[2],timestamp:r[3],success:r[4],\
    details:r[5],user_id:r[6],ip_address:r[7],user_agent:r[8],resource:r[9],action:r[10],\
    request_id:r[11],session_id:r[12],duration_ms:toInteger(r[13]),error_message:r[14]} \
    RETURN count(e) AS n";

/// The parameters of [`APPEND_ONE`] for `event`, linked after `head`.
pub(super) fn one_params(event: &EventText, head: &ChainHead) -> Vec<(&'static str, BoltType)> {
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map_or(BoltType::Null(BoltNull), BoltType::from)
    };
    let [event_type, details, rest @ ..] = &event.columns;
    let mut row = vec![
        BoltType::from(event.id.as_str()),
        BoltType::from(event.hash.as_str()),
        text(event_type),
        BoltType::from(event.timestamp.as_str()),
        BoltType::from(event.success),
        text(details),
    ];
    row.extend(rest.iter().map(text));
    let first_seq = i64::try_from(head.seq.saturating_add(1)).unwrap_or(i64::MAX);
    vec![
        ("s", BoltType::from(first_seq)),
        ("p", BoltType::from(head.hash.as_str())),
        ("r", BoltType::List(row.into())),
    ]
}

/// Bytes FalkorDB renders for a parameter `name=value ` whose value renders as `value` bytes.
fn param(name: &str, value: usize) -> usize {
    name.len() + 2 + value
}

/// Bytes of an integer in decimal.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Bytes of a list of `items` rendered items totalling `bytes`: brackets and separators.
fn list(items: usize, bytes: usize) -> usize {
    2 + bytes + 2 * items.saturating_sub(1)
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The shape of one part while it is packed: enough to know its exact rendered size.
struct Shape<'a> {
    first: &'a EventText,
    len: usize,
    id_prefix: usize,
    ts_prefix: usize,
    /// Distinct column texts, with their index in `$v` (index 0 is `NULL`).
    dictionary: HashMap<&'a str, usize>,
    /// Rendered bytes of the dictionary's texts.
    dictionary_bytes: usize,
}

impl<'a> Shape<'a> {
    fn new(first: &'a EventText) -> Self {
        let mut shape = Self {
            first,
            len: 0,
            id_prefix: first.id.len(),
            ts_prefix: first.timestamp.len(),
            dictionary: HashMap::new(),
            dictionary_bytes: 0,
        };
        shape.push(first);
        shape
    }

    /// Whether `event` can share this part's layout (same id and timestamp widths).
    fn fits_layout(&self, event: &EventText) -> bool {
        event.id.len() == self.first.id.len() && event.timestamp.len() == self.first.timestamp.len()
    }

    /// The texts of `event` not yet in the dictionary, and their rendered bytes.
    fn new_texts<'e>(&self, event: &'e EventText) -> (Vec<&'e str>, usize) {
        let mut texts: Vec<&str> = Vec::new();
        let mut bytes = 0;
        for text in event.columns.iter().flatten() {
            if !self.dictionary.contains_key(text.as_str()) && !texts.contains(&text.as_str()) {
                texts.push(text);
                bytes += mcp_core::bolt::rendered_text_len(&BoltType::from(text.as_str()));
            }
        }
        (texts, bytes)
    }

    fn push(&mut self, event: &'a EventText) {
        let (texts, bytes) = self.new_texts(event);
        for text in texts {
            let index = self.dictionary.len() + 1;
            self.dictionary.insert(text, index);
        }
        self.dictionary_bytes = self.dictionary_bytes.saturating_add(bytes);
        self.id_prefix = self.id_prefix.min(common_prefix(&self.first.id, &event.id));
        self.ts_prefix = self
            .ts_prefix
            .min(common_prefix(&self.first.timestamp, &event.timestamp));
        self.len += 1;
    }

    /// The rendered size of the part's query with `event` added.
    fn size_with(&self, event: &EventText, head: &ChainHead) -> usize {
        let (texts, bytes) = self.new_texts(event);
        let id_prefix = self.id_prefix.min(common_prefix(&self.first.id, &event.id));
        let ts_prefix = self
            .ts_prefix
            .min(common_prefix(&self.first.timestamp, &event.timestamp));
        size(
            head,
            self.len + 1,
            self.first.id.len() - id_prefix,
            self.first.timestamp.len() - ts_prefix,
            id_prefix,
            ts_prefix,
            self.dictionary.len() + texts.len() + 1,
            self.dictionary_bytes.saturating_add(bytes),
        )
    }
}

/// Width of the indexes into a dictionary of `entries` texts (`NULL` included).
fn index_width(entries: usize) -> usize {
    digits(entries.saturating_sub(1))
}

/// The exact rendered size of an append query (see `mcp_core::bolt::query_text_len`).
#[allow(clippy::too_many_arguments)]
fn size(
    head: &ChainHead,
    events: usize,
    id_rest: usize,
    ts_rest: usize,
    id_prefix: usize,
    ts_prefix: usize,
    entries: usize,
    entries_bytes: usize,
) -> usize {
    let width = index_width(entries);
    // Texts of hex digits, `-`, digits, `T:.Z`: nothing to escape, two quotes.
    let row = id_rest + HASH_LEN + ts_rest + 1 + COLUMNS * width + 2;
    let first_seq = i64::try_from(head.seq.saturating_add(1)).unwrap_or(i64::MAX);
    "CYPHER ".len()
        + APPEND.len()
        + param("s", mcp_core::bolt::rendered_text_len(&first_seq.into()))
        + param(
            "p",
            mcp_core::bolt::rendered_text_len(&head.hash.as_str().into()),
        )
        + param("a", digits(id_rest))
        + param("b", digits(ts_rest))
        + param("w", digits(width))
        + param("e", id_prefix + 2)
        + param("t", ts_prefix + 2)
        + param("v", list(entries, entries_bytes.saturating_add(4)))
        + param("r", list(events, row.saturating_mul(events)))
}

/// Splits `events` into consecutive ranges, in chain order, each of whose append query
/// renders to at most `budget` bytes (an event too large for a query alone gets a range of
/// its own, which the client then refuses). `heads[i]` is the chain head before `events[i]`.
pub(super) fn pack(events: &[EventText], heads: &[ChainHead], budget: usize) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let Some(first) = events.first() else {
        return parts;
    };
    let mut start = 0;
    let mut shape = Shape::new(first);
    for (i, event) in events.iter().enumerate().skip(1) {
        if shape.fits_layout(event) && shape.size_with(event, &heads[start]) <= budget {
            shape.push(event);
        } else {
            parts.push(start..i);
            start = i;
            shape = Shape::new(event);
        }
    }
    parts.push(start..events.len());
    parts
}

/// The parameters of the append query for `events` (one part), linked after `head`.
pub(super) fn params(events: &[EventText], head: &ChainHead) -> Vec<(&'static str, BoltType)> {
    let Some(first) = events.first() else {
        return Vec::new();
    };
    let mut shape = Shape::new(first);
    for event in &events[1..] {
        shape.push(event);
    }
    let width = index_width(shape.dictionary.len() + 1);
    let mut dictionary = vec![BoltType::Null(BoltNull); shape.dictionary.len() + 1];
    for (text, index) in &shape.dictionary {
        dictionary[*index] = BoltType::from(*text);
    }
    let rows: Vec<String> = events
        .iter()
        .map(|event| {
            let mut row = String::with_capacity(160);
            row.push_str(&event.id[shape.id_prefix..]);
            row.push_str(&event.hash);
            row.push_str(&event.timestamp[shape.ts_prefix..]);
            row.push(if event.success { '1' } else { '0' });
            for column in &event.columns {
                let index = column
                    .as_deref()
                    .and_then(|text| shape.dictionary.get(text))
                    .copied()
                    .unwrap_or(0);
                // Writing to a String cannot fail.
                let _ = write!(row, "{index:0width$}");
            }
            row
        })
        .collect();
    let first_seq = i64::try_from(head.seq.saturating_add(1)).unwrap_or(i64::MAX);
    let int = |n: usize| BoltType::from(i64::try_from(n).unwrap_or(i64::MAX));
    vec![
        ("s", BoltType::from(first_seq)),
        ("p", BoltType::from(head.hash.as_str())),
        ("a", int(first.id.len() - shape.id_prefix)),
        ("b", int(first.timestamp.len() - shape.ts_prefix)),
        ("w", int(width)),
        ("e", BoltType::from(&first.id[..shape.id_prefix])),
        ("t", BoltType::from(&first.timestamp[..shape.ts_prefix])),
        ("v", BoltType::List(dictionary.into())),
        ("r", BoltType::from(rows)),
    ]
}

/// The budget for one FalkorDB append query.
pub(super) const FALKORDB_BUDGET: usize = MAX_QUERY_TEXT;

/// Finds a stored event among the ids `$e + substring($r, i * $a, $a)`: the ids' common
/// prefix, then the rest of each, `$a` bytes each.
pub(super) const DUPLICATE_CHECK: &str = "UNWIND range(0, size($r) / $a - 1) AS i \
    MATCH (e:AuditEvent {event_id: $e + substring($r, i * $a, $a)}) \
    RETURN e.event_id AS id LIMIT 1";

/// Groups of the sorted, distinct `ids` whose duplicate check fits `budget`, with their
/// parameters.
pub(super) fn duplicate_checks(
    ids: &[String],
    budget: usize,
) -> Vec<Vec<(&'static str, BoltType)>> {
    let size = |first: &str, last: &str, n: usize| {
        let prefix = common_prefix(first, last).min(first.len().saturating_sub(1));
        let rest = first.len() - prefix;
        "CYPHER ".len()
            + DUPLICATE_CHECK.len()
            + param("e", prefix + 2)
            + param("a", digits(rest))
            + param("r", rest * n + 2)
    };
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=ids.len() {
        let close = i == ids.len()
            || ids[i].len() != ids[start].len()
            || size(&ids[start], &ids[i], i + 1 - start) > budget;
        if close {
            let group = &ids[start..i];
            // Sorted: the group's common prefix is that of its first and last id (at least
            // one byte of each id stays in `$r`, so `$a` is never 0).
            let prefix = common_prefix(&group[0], &group[group.len() - 1])
                .min(group[0].len().saturating_sub(1));
            let rest: String = group.iter().map(|id| &id[prefix..]).collect();
            groups.push(vec![
                ("e", BoltType::from(&group[0][..prefix])),
                (
                    "a",
                    BoltType::from(i64::try_from(group[0].len() - prefix).unwrap_or(0)),
                ),
                ("r", BoltType::from(rest)),
            ]);
            start = i;
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;
    use mcp_core::bolt::query_text_len;

    fn query(events: &[EventText], head: &ChainHead) -> mcp_core::bolt::neo4rs::Query {
        let mut query = mcp_core::bolt::neo4rs::query(APPEND);
        for (name, value) in params(events, head) {
            query = query.param(name, value);
        }
        query
    }

    /// Events of several shapes: a burst (ids and timestamps close), spread over days, random
    /// ids, texts to escape, repeated and unique texts.
    fn events(n: usize) -> (Vec<EventText>, Vec<ChainHead>) {
        let mut heads = vec![ChainHead {
            seq: 98,
            hash: "a".repeat(64),
        }];
        let mut out = Vec::new();
        for i in 0..n {
            let mut event = AuditEvent::new(EventType::DataRead)
                .with_user(format!("user-{}", i % 3))
                .with_resource("graph:node/7")
                .with_request_id(format!("req-{i}"))
                .with_detail("i", i);
            if i % 7 == 0 {
                event = event
                    .with_event_id(uuid::Uuid::new_v4())
                    .with_timestamp(chrono::Utc::now() - chrono::Duration::days(i as i64))
                    .with_user_agent("it's \\ odd ü")
                    .with_duration_ms(u64::try_from(i64::MAX).unwrap())
                    .with_success(false);
            }
            if i % 50 == 0 {
                event = event.with_detail("long", "x".repeat(600 + i));
            }
            let hash = format!("{:064x}", i + 1);
            let details = crate::canonical::map(&event.details);
            out.push(EventText::new(&event, hash.clone(), details));
            heads.push(ChainHead {
                seq: heads[heads.len() - 1].seq + 1,
                hash,
            });
        }
        (out, heads)
    }

    #[test]
    fn parts_keep_the_chain_order_and_are_as_full_as_the_cap_allows() {
        let (events, heads) = events(400);
        let parts = pack(&events, &heads, FALKORDB_BUDGET);
        let covered: Vec<usize> = parts.iter().flat_map(Clone::clone).collect();
        assert_eq!(covered, (0..events.len()).collect::<Vec<_>>());
        for part in &parts {
            let size = query_text_len(&query(&events[part.clone()], &heads[part.start]));
            assert!(size <= FALKORDB_BUDGET, "{part:?}: {size} bytes");
            // Full: with the next event, the query would be over the cap.
            if part.end < events.len() {
                let more = query_text_len(&query(
                    &events[part.start..part.end + 1],
                    &heads[part.start],
                ));
                assert!(more > FALKORDB_BUDGET, "{part:?} could take one more");
            }
        }
        // Bursts of small events fill a query with well over a dozen.
        assert!(parts.iter().any(|p| p.len() >= 16), "{parts:?}");
    }

    #[test]
    fn an_event_too_large_for_a_query_goes_alone() {
        let (mut events, heads) = events(3);
        let big = AuditEvent::new(EventType::DataRead).with_detail("x", "y".repeat(5_000));
        let details = crate::canonical::map(&big.details);
        events[1] = EventText::new(&big, "b".repeat(64), details);
        let parts = pack(&events, &heads, FALKORDB_BUDGET);
        assert_eq!(parts, vec![0..1, 1..2, 2..3]);
        assert!(pack(&[], &heads, FALKORDB_BUDGET).is_empty());
    }

    #[test]
    fn duplicate_checks_cover_every_id_within_the_cap() {
        let mut ids: Vec<String> = (0..1500)
            .map(|i| {
                if i % 3 == 0 {
                    uuid::Uuid::new_v4()
                } else {
                    uuid::Uuid::now_v7()
                }
                .to_string()
            })
            .collect();
        ids.sort_unstable();
        let groups = duplicate_checks(&ids, FALKORDB_BUDGET);
        let mut seen = Vec::new();
        for group in &groups {
            let mut query = mcp_core::bolt::neo4rs::query(DUPLICATE_CHECK);
            for (name, value) in group.clone() {
                query = query.param(name, value);
            }
            assert!(query_text_len(&query) <= FALKORDB_BUDGET);
            let text = |name: &str| match &group.iter().find(|(n, _)| *n == name).unwrap().1 {
                BoltType::String(s) => s.value.clone(),
                BoltType::Integer(i) => i.value.to_string(),
                other => panic!("{other:?}"),
            };
            let (prefix, rest, width) = (text("e"), text("r"), text("a").parse::<usize>().unwrap());
            assert!(width > 0);
            for chunk in rest.as_bytes().chunks(width) {
                seen.push(format!("{prefix}{}", std::str::from_utf8(chunk).unwrap()));
            }
        }
        assert_eq!(seen, ids);
        assert!(groups.len() < 1500 / 90, "{} checks", groups.len());
        // One id alone still leaves one byte in `$r`.
        assert_eq!(duplicate_checks(&ids[..1], FALKORDB_BUDGET).len(), 1);
    }

    #[test]
    fn an_event_over_the_compact_cap_still_fits_the_single_event_query() {
        // The longest details an otherwise small event could carry before the compact
        // encoding (3c99c64): 3,134 characters.
        let event = AuditEvent::new(EventType::DataWrite)
            .with_user("u")
            .with_detail("t", "x".repeat(3_134));
        let text = EventText::new(
            &event,
            "a".repeat(64),
            crate::canonical::map(&event.details),
        );
        let head = ChainHead::genesis();
        assert!(query_text_len(&query(std::slice::from_ref(&text), &head)) > FALKORDB_BUDGET);
        let mut one = mcp_core::bolt::neo4rs::query(APPEND_ONE);
        for (name, value) in one_params(&text, &head) {
            one = one.param(name, value);
        }
        assert!(query_text_len(&one) <= FALKORDB_BUDGET);
    }
}
