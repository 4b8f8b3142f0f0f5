//! Runs a parsed [`Plan`] against a [`GraphRead`] source.

use super::parser::{Condition, Expr, NodePattern, Op, Operand, Plan};
use super::{Deadline, QueryResult, QueryValue};
use crate::model::{Node, Properties, Relationship, Value};
use crate::store::read::{GraphRead, matches_filter, scan_until};
use crate::{Error, Result};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// One match of the pattern: the start node, and for one-hop patterns the relationship and end node.
struct Row<'a> {
    start: &'a Node,
    hop: Option<(&'a Relationship, &'a Node)>,
}

enum Bound<'a> {
    Node(&'a Node),
    Rel(&'a Relationship),
}

impl Plan {
    fn bind<'a>(&self, var: &str, row: &Row<'a>) -> Option<Bound<'a>> {
        if self.start.var.as_deref() == Some(var) {
            return Some(Bound::Node(row.start));
        }
        let ((rel_pat, end_pat), (rel, end)) = (self.hop.as_ref()?, row.hop?);
        if end_pat.var.as_deref() == Some(var) {
            Some(Bound::Node(end))
        } else if rel_pat.var.as_deref() == Some(var) {
            Some(Bound::Rel(rel))
        } else {
            None
        }
    }
}

fn properties<'a>(bound: &Bound<'a>) -> &'a Properties {
    match bound {
        Bound::Node(n) => &n.properties,
        Bound::Rel(r) => &r.properties,
    }
}

fn resolve(operand: &Operand, params: &BTreeMap<String, Value>) -> Result<Value> {
    match operand {
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Param(name) => params
            .get(name)
            .cloned()
            .ok_or_else(|| Error::MissingParameter { name: name.clone() }),
    }
}

/// A condition with its operand resolved.
struct Check<'p> {
    condition: &'p Condition,
    operand: Option<Value>,
}

impl Check<'_> {
    /// Cypher's three-valued comparison, where "unknown" (null involved) filters the row out.
    fn holds(&self, properties: &Properties) -> bool {
        let actual = properties.get(&self.condition.key);
        match (self.condition.op, actual, &self.operand) {
            (Op::IsNull, actual, _) => actual.is_none(),
            (Op::IsNotNull, actual, _) => actual.is_some(),
            (_, None, _) | (_, _, None) => false,
            (_, _, Some(expected)) if expected.is_null() => false,
            (Op::Eq, Some(actual), Some(expected)) => actual == expected,
            (Op::Ne, Some(actual), Some(expected)) => actual != expected,
            (op, Some(actual), Some(expected)) => match actual.compare(expected) {
                None => false,
                Some(ord) => match op {
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                    _ => false,
                },
            },
        }
    }
}

/// The node pattern's inline properties, or `None` when one of them is null (never matches).
fn inline_filter(
    pattern: &NodePattern,
    params: &BTreeMap<String, Value>,
) -> Result<Option<Properties>> {
    let mut filter = Properties::new();
    for (key, operand) in &pattern.properties {
        let value = resolve(operand, params)?;
        if value.is_null() {
            return Ok(None);
        }
        filter.insert(key.clone(), value);
    }
    Ok(Some(filter))
}

pub(crate) fn execute(
    plan: &Plan,
    params: &BTreeMap<String, Value>,
    source: &dyn GraphRead,
    max_rows: usize,
    deadline: Deadline,
) -> Result<QueryResult> {
    let columns = plan.returns.iter().map(|r| r.column.clone()).collect();
    let checks = plan
        .conditions
        .iter()
        .map(|condition| {
            let operand = condition
                .operand
                .as_ref()
                .map(|o| resolve(o, params))
                .transpose()?;
            Ok(Check { condition, operand })
        })
        .collect::<Result<Vec<_>>>()?;
    let start_filter = inline_filter(&plan.start, params)?;
    let end_filter = match &plan.hop {
        Some((_, end)) => inline_filter(end, params)?,
        None => Some(Properties::new()),
    };
    let (Some(start_filter), Some(end_filter)) = (start_filter, end_filter) else {
        return Ok(QueryResult {
            columns,
            rows: Vec::new(),
            truncated: false,
        });
    };
    let Some(label) = &plan.start.label else {
        return Err(Error::unsupported("a first node pattern without a label"));
    };

    // Stop after the query's own LIMIT, or one row past the request's limit to detect truncation.
    let (wanted, stop_at) = match plan.limit {
        Some(limit) if limit <= max_rows => (limit, limit),
        _ => (max_rows, max_rows.saturating_add(1)),
    };
    let mut rows: Vec<Vec<QueryValue>> = Vec::new();
    if stop_at == 0 {
        return Ok(QueryResult {
            columns,
            rows,
            truncated: false,
        });
    }

    let checks_for = |var: Option<&str>| -> Vec<&Check<'_>> {
        checks
            .iter()
            .filter(|c| Some(c.condition.var.as_str()) == var)
            .collect()
    };
    let start_checks = checks_for(plan.start.var.as_deref());
    let (end_checks, rel_checks) = match &plan.hop {
        Some((rel, end)) => (
            checks_for(end.var.as_deref()),
            checks_for(rel.var.as_deref()),
        ),
        None => (Vec::new(), Vec::new()),
    };

    let mut emit = |row: Row<'_>| -> ControlFlow<()> {
        let values = plan
            .returns
            .iter()
            .map(|item| match &item.expr {
                Expr::Var(var) => match plan.bind(var, &row) {
                    Some(Bound::Node(n)) => QueryValue::Node(n.clone()),
                    Some(Bound::Rel(r)) => QueryValue::Relationship(r.clone()),
                    None => QueryValue::Value(serde_json::Value::Null),
                },
                Expr::Property(var, key) => QueryValue::Value(
                    plan.bind(var, &row)
                        .and_then(|b| properties(&b).get(key).cloned())
                        .map_or(serde_json::Value::Null, Value::into_json),
                ),
            })
            .collect();
        rows.push(values);
        if rows.len() >= stop_at {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };

    scan_until(source, label, &start_filter, deadline, &mut |start| {
        if !start_checks.iter().all(|c| c.holds(&start.properties)) {
            return Ok(ControlFlow::Continue(()));
        }
        let Some((rel_pat, end_pat)) = &plan.hop else {
            return Ok(emit(Row {
                start: &start,
                hop: None,
            }));
        };
        let start_ref = start.to_ref();
        for rel in source.relationships(&start_ref, rel_pat.rel_type.as_ref(), rel_pat.direction)? {
            deadline.check()?;
            if !rel_checks.iter().all(|c| c.holds(&rel.properties)) {
                continue;
            }
            let other = if rel.from == start_ref {
                &rel.to
            } else {
                &rel.from
            };
            if end_pat.label.as_ref().is_some_and(|l| *l != other.label) {
                continue;
            }
            let Some(end) = source.node(other)? else {
                continue;
            };
            if !matches_filter(&end.properties, &end_filter)
                || !end_checks.iter().all(|c| c.holds(&end.properties))
            {
                continue;
            }
            if emit(Row {
                start: &start,
                hop: Some((&rel, &end)),
            })
            .is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;

    let truncated = rows.len() > wanted;
    rows.truncate(wanted);
    Ok(QueryResult {
        columns,
        rows,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use crate::{
        Error, GraphStore, MemoryGraphStore, NodeRef, QueryValue, ReadQuery, RelType,
        properties_from_json,
    };
    use serde_json::json;

    async fn store() -> MemoryGraphStore {
        let store = MemoryGraphStore::new();
        for (k, props) in [
            ("a", json!({"x": 1, "s": "1"})),
            ("b", json!({"x": 2.5, "tags": ["t"]})),
        ] {
            let r = NodeRef::parse("N", k).unwrap();
            store
                .upsert_node(&r.label, &r.key, properties_from_json(props).unwrap())
                .await
                .unwrap();
        }
        let (a, b) = (
            NodeRef::parse("N", "a").unwrap(),
            NodeRef::parse("N", "b").unwrap(),
        );
        let props = properties_from_json(json!({"w": 3})).unwrap();
        store
            .upsert_relationship(&a, &RelType::new("R").unwrap(), &b, props)
            .await
            .unwrap();
        store
    }

    async fn count(store: &MemoryGraphStore, cypher: &str) -> usize {
        store
            .query(&ReadQuery::new(cypher).param("nothing", crate::Value::null()))
            .await
            .unwrap_or_else(|e| panic!("{cypher}: {e}"))
            .rows
            .len()
    }

    #[tokio::test]
    async fn null_never_matches_and_mismatched_types_never_compare() {
        let s = store().await;
        assert_eq!(count(&s, "MATCH (n:N {x: null}) RETURN n").await, 0);
        assert_eq!(count(&s, "MATCH (n:N {x: $nothing}) RETURN n").await, 0);
        assert_eq!(
            count(&s, "MATCH (n:N) WHERE n.x = $nothing RETURN n").await,
            0
        );
        assert_eq!(count(&s, "MATCH (n:N) WHERE n.x <> null RETURN n").await, 0);
        assert_eq!(count(&s, "MATCH (n:N) WHERE n.s > 0 RETURN n").await, 0);
        assert_eq!(count(&s, "MATCH (n:N) WHERE n.x = '1' RETURN n").await, 0);
        assert_eq!(count(&s, "MATCH (n:N) WHERE n.x < 3 RETURN n").await, 2);
        assert_eq!(count(&s, "MATCH (n:N) WHERE n.x <= 1.0 RETURN n").await, 1);
        assert_eq!(
            count(&s, "MATCH (n:N) WHERE n.tags = ['t'] RETURN n").await,
            1
        );
        assert_eq!(
            count(&s, "MATCH (n:N) WHERE n.missing IS NULL RETURN n").await,
            2
        );
    }

    #[tokio::test]
    async fn relationship_variables_return_the_relationship_and_filter_on_it() {
        let s = store().await;
        let result = s
            .query(&ReadQuery::new(
                "MATCH (a:N)-[r:R]->(b:N) WHERE r.w >= 3 RETURN r, r.w AS weight",
            ))
            .await
            .unwrap();
        assert_eq!(result.columns, ["r", "weight"]);
        let QueryValue::Relationship(rel) = &result.rows[0][0] else {
            panic!("{:?}", result.rows)
        };
        assert_eq!(rel.from.key.as_str(), "a");
        assert_eq!(rel.to.key.as_str(), "b");
        assert_eq!(result.rows[0][1], QueryValue::Value(json!(3)));
        assert_eq!(
            count(&s, "MATCH (a:N)-[r:R]->(b:N) WHERE r.w > 3 RETURN r").await,
            0
        );
        assert_eq!(count(&s, "MATCH (a:N)-[:R]->(b:M) RETURN b").await, 0);
    }

    #[tokio::test]
    async fn a_limit_of_zero_returns_no_rows() {
        let s = store().await;
        assert_eq!(count(&s, "MATCH (n:N) RETURN n LIMIT 0").await, 0);
        let none = s
            .query(&ReadQuery::new("MATCH (n:N) RETURN n").limit(0))
            .await
            .unwrap();
        assert!(none.rows.is_empty() && none.truncated);
    }

    #[tokio::test]
    async fn parse_errors_surface_through_the_store() {
        let s = store().await;
        let err = s
            .query(&ReadQuery::new("MATCH (n:N RETURN n"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidQuery { .. }), "{err:?}");
    }
}
