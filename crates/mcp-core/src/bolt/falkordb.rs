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

/// How many bytes `value` takes once escaped and spliced into a FalkorDB query (`usize::MAX`
/// for a value that cannot be sent): what a caller packing several values into one query
/// counts against [`MAX_QUERY_TEXT`]. Exact for strings, integers, floats, booleans, nulls,
/// lists and maps (FalkorDB 4.16.3 renders them as Cypher literals: integers in decimal,
/// floats with six decimals, `NULL`, `[a, b]`, `{k: v}`); 64 for other kinds.
pub fn rendered_text_len(value: &BoltType) -> usize {
    escape_value(value).map_or(usize::MAX, |v| rendered_len(&v))
}

/// The length of the text FalkorDB renders for `query` (`CYPHER name=value ... ` before the
/// query): what [`MAX_QUERY_TEXT`] limits. `usize::MAX` when a parameter cannot be sent.
pub fn query_text_len(query: &Query) -> usize {
    escape_params(query.get_params()).map_or(usize::MAX, |params| text_len(query, &params))
}

fn text_len(query: &Query, escaped: &BoltMap) -> usize {
    // `CYPHER `, then `name=value ` per parameter, then the query.
    "CYPHER ".len()
        + escaped
            .value
            .iter()
            .map(|(k, v)| (k.value.len() + 2).saturating_add(rendered_len(v)))
            .fold(0usize, usize::saturating_add)
        + query.query().len()
}

/// How many bytes FalkorDB's rendering of the (escaped) `value` takes.
fn rendered_len(value: &BoltType) -> usize {
    /// `[a, b]` and `{k: v, l: w}`: brackets, and `, ` between items.
    fn joined(items: impl ExactSizeIterator<Item = usize>) -> usize {
        let separators = 2 * items.len().saturating_sub(1);
        items.fold(2 + separators, usize::saturating_add)
    }
    match value {
        BoltType::String(s) => s.value.len() + 2,
        BoltType::Boolean(b) => {
            if b.value {
                "true".len()
            } else {
                "false".len()
            }
        }
        BoltType::Null(_) => "NULL".len(),
        BoltType::Integer(i) => decimal_len(i.value),
        // `%f`: every integer digit and six decimals; `-inf` or `nan` (which FalkorDB's
        // parser then refuses) when not finite.
        BoltType::Float(f) if f.value.is_finite() => format!("{:.6}", f.value).len(),
        BoltType::Float(_) => "-inf".len(),
        BoltType::List(list) => joined(list.value.iter().map(rendered_len)),
        BoltType::Map(map) => joined(
            map.value
                .iter()
                .map(|(k, v)| (k.value.len() + 2).saturating_add(rendered_len(v))),
        ),
        _ => 64,
    }
}

/// Characters of `i` in decimal, with its sign.
fn decimal_len(i: i64) -> usize {
    let digits = i
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1);
    digits + usize::from(i < 0)
}

/// `query` with its parameters escaped, aimed at `graph`.
pub(crate) fn prepare(query: &Query, graph: Option<&str>) -> Result<Query, StoreError> {
    let params = escape_params(query.get_params())?;
    let text = text_len(query, &params);
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
        assert_eq!(rendered_text_len(&list), "['x', 1]".len());
    }

    #[test]
    fn integers_and_floats_count_as_falkordb_prints_them() {
        let cases: [(i64, &str); 8] = [
            (0, "0"),
            (9, "9"),
            (10, "10"),
            (-1, "-1"),
            (-10, "-10"),
            (999_999, "999999"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ];
        for (i, text) in cases {
            assert_eq!(rendered_text_len(&BoltType::from(i)), text.len(), "{i}");
        }
        let floats: [(f64, &str); 5] = [
            (1.5, "1.500000"),
            (-1.5, "-1.500000"),
            (-0.0, "-0.000000"),
            (1e-300, "0.000000"),
            (123_456_789.123_456_79, "123456789.123457"),
        ];
        for (f, text) in floats {
            assert_eq!(rendered_text_len(&BoltType::from(f)), text.len(), "{f}");
        }
        // 1e300 prints all of its 301 integer digits.
        assert_eq!(rendered_text_len(&BoltType::from(1e300)), 301 + 7);
        assert_eq!(rendered_text_len(&BoltType::from(f64::NEG_INFINITY)), 4);
    }

    /// Parameters rendered the way FalkorDB 4.16.3 rendered them (read back from `GRAPH.SLOWLOG`).
    #[test]
    fn the_query_length_is_the_length_of_falkordbs_rendered_text() {
        let query = neo4rs::query("RETURN $a, $b, $c, $d, $e, $f, $g, $h, $i")
            .param(
                "a",
                BoltType::List(
                    vec![
                        BoltType::from(1i64),
                        BoltType::from(-2i64),
                        BoltType::from("x"),
                        BoltType::List(Vec::<BoltType>::new().into()),
                    ]
                    .into(),
                ),
            )
            .param("b", -9_223_372_036_854_775_807i64)
            .param("c", 1.5f64)
            .param("d", true)
            .param("e", BoltType::Null(neo4rs::BoltNull))
            .param("f", 0i64)
            .param("g", i64::MIN)
            .param("h", -1.5f64)
            .param(
                "i",
                BoltType::List(
                    vec![
                        BoltType::from(true),
                        BoltType::from(false),
                        BoltType::Null(neo4rs::BoltNull),
                    ]
                    .into(),
                ),
            );
        let rendered = "CYPHER a=[1, -2, 'x', []] b=-9223372036854775807 c=1.500000 d=true \
            e=NULL f=0 g=-9223372036854775808 h=-1.500000 i=[true, false, NULL] \
            RETURN $a, $b, $c, $d, $e, $f, $g, $h, $i";
        assert_eq!(query_text_len(&query), rendered.len());

        let mut inner = BoltMap::new();
        inner.put("k".into(), BoltType::from("v"));
        inner.put(
            "n".into(),
            BoltType::List(vec![BoltType::from(1i64), BoltType::from(2i64)].into()),
        );
        inner.put("m".into(), BoltType::Map(BoltMap::new()));
        let query = neo4rs::query("RETURN $a").param("a", BoltType::Map(inner));
        assert_eq!(
            query_text_len(&query),
            "CYPHER a={k: 'v', n: [1, 2], m: {}} RETURN $a".len()
        );
        let quoted = neo4rs::query("RETURN $s").param("s", r"it's \ ok");
        assert_eq!(
            query_text_len(&quoted),
            r"CYPHER s='it\'s \\ ok' RETURN $s".len()
        );
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
