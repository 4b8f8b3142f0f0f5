//! Runtime values of the query engine, with Cypher's equality, comparison, ordering and
//! equivalence (used by `DISTINCT` and grouping).

use super::graph::{NodeData, RelData};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A path: `nodes.len() == rels.len() + 1`.
#[derive(Debug)]
pub(crate) struct PathVal {
    pub nodes: Vec<Arc<NodeData>>,
    pub rels: Vec<Arc<RelData>>,
}

#[derive(Clone, Debug)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    List(Arc<Vec<Val>>),
    Map(Arc<BTreeMap<String, Val>>),
    Node(Arc<NodeData>),
    Rel(Arc<RelData>),
    Path(Arc<PathVal>),
}

impl PartialEq for Val {
    /// Structural equality (used for comparing syntax trees), not Cypher's `=`.
    fn eq(&self, other: &Self) -> bool {
        equivalent(self, other)
    }
}

impl Val {
    pub(crate) fn str(s: impl Into<Arc<str>>) -> Self {
        Val::Str(s.into())
    }

    pub(crate) fn list(items: Vec<Val>) -> Self {
        Val::List(Arc::new(items))
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The type name used in error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "NULL",
            Val::Bool(_) => "BOOLEAN",
            Val::Int(_) => "INTEGER",
            Val::Float(_) => "FLOAT",
            Val::Str(_) => "STRING",
            Val::List(_) => "LIST",
            Val::Map(_) => "MAP",
            Val::Node(_) => "NODE",
            Val::Rel(_) => "RELATIONSHIP",
            Val::Path(_) => "PATH",
        }
    }

    /// A rough size in bytes, for the query's memory budget.
    pub(crate) fn weight(&self) -> usize {
        32 + match self {
            Val::Str(s) => s.len(),
            Val::List(items) => items.iter().map(Val::weight).sum(),
            Val::Map(map) => map.iter().map(|(k, v)| k.len() + v.weight()).sum(),
            Val::Path(p) => 16 * (p.nodes.len() + p.rels.len()),
            _ => 0,
        }
    }

    pub(crate) fn from_json(json: &serde_json::Value) -> Val {
        use serde_json::Value as J;
        match json {
            J::Null => Val::Null,
            J::Bool(b) => Val::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Val::str(s.as_str()),
            J::Array(items) => Val::list(items.iter().map(Val::from_json).collect()),
            J::Object(map) => Val::Map(Arc::new(
                map.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect(),
            )),
        }
    }
}

/// Compares two numbers exactly (an `i64` and an `f64` without rounding the integer).
fn cmp_numbers(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Float(y)) => cmp_int_float(*x, *y),
        (Val::Float(x), Val::Int(y)) => cmp_int_float(*y, *x).map(Ordering::reverse),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Exact below 2^53; beyond that compare as i128 against the float's integer part.
    if i.unsigned_abs() < (1 << 53) {
        return (i as f64).partial_cmp(&f);
    }
    if f >= 9.3e18 {
        return Some(Ordering::Less);
    }
    if f <= -9.3e18 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    match (i as i128).cmp(&(t as i128)) {
        Ordering::Equal if f > t => Some(Ordering::Less),
        Ordering::Equal if f < t => Some(Ordering::Greater),
        other => Some(other),
    }
}

/// Cypher's `=`: `None` when the answer is unknown (a null is involved).
pub(crate) fn equals(a: &Val, b: &Val) -> Option<bool> {
    match (a, b) {
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            Some(cmp_numbers(a, b) == Some(Ordering::Equal))
        }
        (Val::Bool(x), Val::Bool(y)) => Some(x == y),
        (Val::Str(x), Val::Str(y)) => Some(x == y),
        (Val::List(x), Val::List(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            all_equal(x.iter().zip(y.iter()))
        }
        (Val::Map(x), Val::Map(y)) => {
            if x.len() != y.len() || x.keys().zip(y.keys()).any(|(a, b)| a != b) {
                return Some(false);
            }
            all_equal(x.values().zip(y.values()))
        }
        (Val::Node(x), Val::Node(y)) => Some(x.id == y.id),
        (Val::Rel(x), Val::Rel(y)) => Some(x.id == y.id),
        (Val::Path(x), Val::Path(y)) => Some(
            x.nodes.len() == y.nodes.len()
                && x.nodes.iter().zip(&y.nodes).all(|(a, b)| a.id == b.id)
                && x.rels.iter().zip(&y.rels).all(|(a, b)| a.id == b.id),
        ),
        _ => Some(false),
    }
}

fn all_equal<'a>(pairs: impl Iterator<Item = (&'a Val, &'a Val)>) -> Option<bool> {
    let mut unknown = false;
    for (a, b) in pairs {
        match equals(a, b) {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    if unknown { None } else { Some(true) }
}

/// Cypher's `<` family: `None` when the values are not comparable (or a null is involved).
pub(crate) fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => cmp_numbers(a, b),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::List(x), Val::List(y)) => {
            for (a, b) in x.iter().zip(y.iter()) {
                match compare(a, b)? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

fn order_rank(v: &Val) -> u8 {
    match v {
        Val::Map(_) => 0,
        Val::Node(_) => 1,
        Val::Rel(_) => 2,
        Val::List(_) => 3,
        Val::Path(_) => 4,
        Val::Str(_) => 5,
        Val::Bool(_) => 6,
        Val::Int(_) | Val::Float(_) => 7,
        Val::Null => 8,
    }
}

/// The total order of `ORDER BY`: maps, nodes, relationships, lists, paths, strings, booleans,
/// numbers (NaN last), then null.
pub(crate) fn order(a: &Val, b: &Val) -> Ordering {
    let (ra, rb) = (order_rank(a), order_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let nan_a = matches!(a, Val::Float(f) if f.is_nan());
            let nan_b = matches!(b, Val::Float(f) if f.is_nan());
            match (nan_a, nan_b) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => cmp_numbers(a, b).unwrap_or(Ordering::Equal),
            }
        }
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        (Val::List(x), Val::List(y)) => {
            for (a, b) in x.iter().zip(y.iter()) {
                match order(a, b) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
            x.len().cmp(&y.len())
        }
        (Val::Map(x), Val::Map(y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y.iter()) {
                match ka.cmp(kb).then_with(|| order(va, vb)) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
            x.len().cmp(&y.len())
        }
        (Val::Node(x), Val::Node(y)) => x.id.cmp(&y.id),
        (Val::Rel(x), Val::Rel(y)) => x.id.cmp(&y.id),
        (Val::Path(x), Val::Path(y)) => {
            let ids = |p: &PathVal| -> Vec<u64> {
                p.nodes
                    .iter()
                    .map(|n| n.id)
                    .chain(p.rels.iter().map(|r| r.id))
                    .collect()
            };
            ids(x).cmp(&ids(y))
        }
        _ => Ordering::Equal,
    }
}

/// Equivalence: like `=`, but null is equivalent to null and NaN to NaN (`DISTINCT`, grouping).
pub(crate) fn equivalent(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Float(x), Val::Float(y)) if x.is_nan() && y.is_nan() => true,
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| equivalent(a, b))
        }
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && equivalent(va, vb))
        }
        _ => equals(a, b) == Some(true),
    }
}

/// A hashable stand-in with the same equivalence as [`equivalent`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(Arc<str>),
    List(Vec<Key>),
    Map(Vec<(String, Key)>),
    Node(u64),
    Rel(u64),
    Path(Vec<u64>),
}

impl Key {
    pub(crate) fn of(v: &Val) -> Key {
        match v {
            Val::Null => Key::Null,
            Val::Bool(b) => Key::Bool(*b),
            Val::Int(i) => Key::Int(*i),
            Val::Float(f) => {
                if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 {
                    Key::Int(*f as i64)
                } else if f.is_nan() {
                    Key::Float(f64::NAN.to_bits())
                } else {
                    Key::Float(f.to_bits())
                }
            }
            Val::Str(s) => Key::Str(s.clone()),
            Val::List(items) => Key::List(items.iter().map(Key::of).collect()),
            Val::Map(map) => Key::Map(map.iter().map(|(k, v)| (k.clone(), Key::of(v))).collect()),
            Val::Node(n) => Key::Node(n.id),
            Val::Rel(r) => Key::Rel(r.id),
            Val::Path(p) => Key::Path(
                p.nodes
                    .iter()
                    .map(|n| n.id)
                    .chain(p.rels.iter().map(|r| r.id))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_three_valued_and_numbers_compare_by_value() {
        assert_eq!(equals(&Val::Int(1), &Val::Float(1.0)), Some(true));
        assert_eq!(equals(&Val::Null, &Val::Null), None);
        assert_eq!(equals(&Val::Int(1), &Val::str("1")), Some(false));
        let a = Val::list(vec![Val::Int(1), Val::Null]);
        assert_eq!(equals(&a, &a), None);
        let b = Val::list(vec![Val::Int(2), Val::Null]);
        assert_eq!(equals(&a, &b), Some(false));
        assert_eq!(
            equals(&Val::Float(f64::NAN), &Val::Float(f64::NAN)),
            Some(false)
        );
    }

    #[test]
    fn large_integers_compare_exactly_with_floats() {
        let big = Val::Int(9_007_199_254_740_993);
        assert_eq!(
            compare(&big, &Val::Float(9_007_199_254_740_992.0)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&Val::Int(i64::MAX), &Val::Float(1e19)),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn ordering_groups_types_and_puts_null_last() {
        let mut vals = [
            Val::Null,
            Val::Int(3),
            Val::str("a"),
            Val::Bool(true),
            Val::Float(f64::NAN),
            Val::Float(1.5),
            Val::list(vec![]),
        ];
        vals.sort_by(order);
        let names: Vec<_> = vals.iter().map(Val::type_name).collect();
        assert_eq!(
            names,
            [
                "LIST", "STRING", "BOOLEAN", "FLOAT", "INTEGER", "FLOAT", "NULL"
            ]
        );
        assert!(matches!(vals[5], Val::Float(f) if f.is_nan()));
    }

    #[test]
    fn equivalence_groups_nulls_and_equal_numbers() {
        assert!(equivalent(&Val::Null, &Val::Null));
        assert_eq!(Key::of(&Val::Int(1)), Key::of(&Val::Float(1.0)));
        assert_ne!(Key::of(&Val::Int(1)), Key::of(&Val::str("1")));
    }
}
