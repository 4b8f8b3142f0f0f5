//! Parameter encoding for FalkorDB's Bolt endpoint.
//!
//! FalkorDB 4.16 does not bind Bolt parameters: it splices them into the query text as
//! `CYPHER name='value' ...` without escaping (measured: `RETURN $s` with `s = "a'b"` is a
//! syntax error, and a crafted value can append Cypher). Map keys are spliced bare, and a NUL
//! byte hangs the connection. So, for FalkorDB only, string values (also inside lists and
//! maps) are escaped the way its Cypher parser unescapes them (`\` → `\\`, `'` → `\'`), map
//! keys and parameter names must be plain identifiers, and NUL bytes are refused.
//!
//! The spliced text must also stay short: FalkorDB 4.16.3 crashes (SIGSEGV, the whole server)
//! once query plus rendered parameters reach about 4,096 bytes (measured: a 4,050-byte string
//! passes, 4,070 or two of 2,500 crash it). Larger queries are refused with
//! [`StoreError::Invalid`] before they are sent ([`MAX_QUERY_TEXT`]).

/// Longest query text (query plus rendered parameters) sent to FalkorDB, in bytes.
pub const MAX_QUERY_TEXT: usize = 4_000;

use neo4rs::{BoltMap, BoltType, Query};

use super::client::check_identifier;
use crate::StoreError;

/// Rebuilds `params` with every string escaped; refuses what cannot be sent safely.
pub(crate) fn escape_params(params: &BoltMap) -> Result<BoltMap, StoreError> {
    let mut out = BoltMap::with_capacity(params.len());
    for (name, value) in &params.value {
        check_identifier(&name.value).map_err(|_| {
            StoreError::Invalid(format!(
                "parameter name {:?} is not an identifier",
                name.value
            ))
        })?;
        out.put(name.clone(), escape_value(value)?);
    }
    Ok(out)
}

fn escape_value(value: &BoltType) -> Result<BoltType, StoreError> {
    Ok(match value {
        BoltType::String(s) => BoltType::String(escape_str(&s.value)?.into()),
        BoltType::List(list) => BoltType::List(
            list.value
                .iter()
                .map(escape_value)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        BoltType::Map(map) => {
            let mut out = BoltMap::with_capacity(map.len());
            for (key, v) in &map.value {
                check_identifier(&key.value).map_err(|_| {
                    StoreError::Invalid(format!(
                        "map key {:?} cannot be sent to FalkorDB (keys must be identifiers)",
                        key.value
                    ))
                })?;
                out.put(key.clone(), escape_value(v)?);
            }
            BoltType::Map(out)
        }
        other => other.clone(),
    })
}

fn escape_str(s: &str) -> Result<String, StoreError> {
    if s.contains('\0') {
        return Err(StoreError::Invalid(
            "strings with NUL bytes cannot be sent to FalkorDB".into(),
        ));
    }
    Ok(s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// About how many bytes `value` takes once escaped and spliced into a FalkorDB query (an
/// upper estimate; `usize::MAX` for a value that cannot be sent): what a caller packing
/// several values into one query counts against [`MAX_QUERY_TEXT`].
pub fn rendered_text_len(value: &BoltType) -> usize {
    escape_value(value).map_or(usize::MAX, |v| rendered_len(&v))
}

/// About how many bytes FalkorDB's rendering of `value` takes (an upper estimate).
fn rendered_len(value: &BoltType) -> usize {
    match value {
        BoltType::String(s) => s.value.len() + 2,
        BoltType::Boolean(_) | BoltType::Null(_) => 5,
        BoltType::Integer(_) => 20,
        BoltType::Float(_) => 32,
        BoltType::List(list) => {
            2 + list
                .value
                .iter()
                .map(|v| rendered_len(v) + 2)
                .sum::<usize>()
        }
        BoltType::Map(map) => {
            2 + map
                .value
                .iter()
                .map(|(k, v)| k.value.len() + 2 + rendered_len(v) + 2)
                .sum::<usize>()
        }
        _ => 64,
    }
}

/// `query` with its parameters escaped, aimed at `graph`.
pub(crate) fn prepare(query: &Query, graph: Option<&str>) -> Result<Query, StoreError> {
    let params = escape_params(query.get_params())?;
    let text = "CYPHER ".len()
        + query.query().len()
        + params
            .value
            .iter()
            .map(|(k, v)| k.value.len() + 2 + rendered_len(v))
            .sum::<usize>();
    if text > MAX_QUERY_TEXT {
        return Err(StoreError::Invalid(format!(
            "query with parameters is about {text} bytes; FalkorDB's Bolt endpoint crashes at \
             about 4 KiB, so at most {MAX_QUERY_TEXT} are sent (use Neo4j for larger values)"
        )));
    }
    let out = neo4rs::query(query.query()).with_params(params);
    Ok(match graph {
        Some(graph) => out.extra(graph, graph),
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_length_counts_the_escapes() {
        assert_eq!(rendered_text_len(&BoltType::from("ab")), 4);
        assert_eq!(rendered_text_len(&BoltType::from(r"a'\")), 7);
        assert_eq!(rendered_text_len(&BoltType::from("a\0b")), usize::MAX);
        let list = BoltType::List(vec![BoltType::from("x"), BoltType::from(1i64)].into());
        assert_eq!(rendered_text_len(&list), 2 + (3 + 2) + (20 + 2));
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(escape_str(r"a'b\c").unwrap(), r"a\'b\\c");
        assert_eq!(escape_str("plain ü").unwrap(), "plain ü");
    }

    #[test]
    fn nul_bytes_and_odd_map_keys_are_refused() {
        assert!(escape_str("a\0b").is_err());
        let mut map = BoltMap::new();
        map.put("a b".into(), BoltType::from(1i64));
        let mut params = BoltMap::new();
        params.put("m".into(), BoltType::Map(map));
        assert!(matches!(
            escape_params(&params),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn queries_near_falkordbs_crash_size_are_refused() {
        let small = neo4rs::query("RETURN $s").param("s", "x".repeat(3_000));
        assert!(prepare(&small, None).is_ok());
        let big = neo4rs::query("RETURN $s").param("s", "x".repeat(4_000));
        assert!(matches!(prepare(&big, None), Err(StoreError::Invalid(_))));
        let two = neo4rs::query("RETURN $a, $b")
            .param("a", "x".repeat(2_500))
            .param("b", "y".repeat(2_500));
        assert!(matches!(prepare(&two, None), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn strings_inside_lists_are_escaped() {
        let mut params = BoltMap::new();
        params.put("l".into(), BoltType::from(vec!["x'y".to_owned()]));
        let out = escape_params(&params).unwrap();
        let BoltType::List(list) = out.value.values().next().unwrap() else {
            panic!()
        };
        assert_eq!(list.value[0], BoltType::String(r"x\'y".into()));
    }
}
