//! Expression evaluation: operators with Cypher's null and numeric rules.

use super::ast::{BinOp, Expr, MapItem, Quantifier};
use super::exec::{Ctx, Env};
use super::functions;
use super::val::{Val, compare, equals};
use crate::{Error, Result};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The reserved property that reads a node's key (the Neo4j backend stores it under this name).
pub(crate) const KEY_PROPERTY: &str = "__mcp_key";

pub(crate) fn type_error(message: impl Into<String>) -> Error {
    Error::Evaluation {
        message: message.into(),
    }
}

fn overflow() -> Error {
    type_error("integer overflow")
}

/// Reads property `key` of a node, relationship or map (`null` for null or a missing key).
pub(crate) fn property(value: &Val, key: &str) -> Result<Val> {
    match value {
        Val::Null => Ok(Val::Null),
        Val::Node(n) => {
            if key == KEY_PROPERTY {
                return Ok(Val::str(n.key.as_str()));
            }
            Ok(n.props
                .get()?
                .get(key)
                .map_or(Val::Null, |v| Val::from_json(v.as_json())))
        }
        Val::Rel(r) => Ok(r
            .props
            .get()?
            .get(key)
            .map_or(Val::Null, |v| Val::from_json(v.as_json()))),
        Val::Map(m) => Ok(m.get(key).cloned().unwrap_or(Val::Null)),
        other => Err(type_error(format!(
            "cannot read property `{key}` of a {}",
            other.type_name()
        ))),
    }
}

/// `true`, `false` or `null` from a value used as a predicate.
pub(crate) fn truth(v: &Val) -> Result<Option<bool>> {
    match v {
        Val::Bool(b) => Ok(Some(*b)),
        Val::Null => Ok(None),
        other => Err(type_error(format!(
            "expected a boolean, got a {}",
            other.type_name()
        ))),
    }
}

fn tri(v: Option<bool>) -> Val {
    v.map_or(Val::Null, Val::Bool)
}

impl<'q> Ctx<'q, '_> {
    pub(crate) fn eval(&self, e: &'q Expr, env: &mut Env<'q, '_>) -> Result<Val> {
        match e {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Param(name) => self.param(name),
            Expr::Var(name) => env
                .get(name)
                .ok_or_else(|| Error::query(0, format!("variable `{name}` not defined"))),
            Expr::Prop(inner, key) => property(&self.eval(inner, env)?, key),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item, env)?);
                }
                Ok(Val::list(out))
            }
            Expr::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    out.insert(k.clone(), self.eval(v, env)?);
                }
                Ok(Val::Map(Arc::new(out)))
            }
            Expr::Index(base, index) => {
                let base = self.eval(base, env)?;
                let index = self.eval(index, env)?;
                self.index(base, index)
            }
            Expr::Slice(base, from, to) => {
                let base = self.eval(base, env)?;
                let from = match from {
                    Some(f) => Some(self.eval(f, env)?),
                    None => None,
                };
                let to = match to {
                    Some(t) => Some(self.eval(t, env)?),
                    None => None,
                };
                slice(base, from, to)
            }
            Expr::Not(inner) => Ok(tri(truth(&self.eval(inner, env)?)?.map(|b| !b))),
            Expr::Neg(inner) => match self.eval(inner, env)? {
                Val::Null => Ok(Val::Null),
                Val::Int(i) => i.checked_neg().map(Val::Int).ok_or_else(overflow),
                Val::Float(f) => Ok(Val::Float(-f)),
                other => Err(type_error(format!("cannot negate a {}", other.type_name()))),
            },
            Expr::Bin(op, a, b) => self.binary(*op, a, b, env),
            Expr::IsNull(inner, negated) => {
                let null = self.eval(inner, env)?.is_null();
                Ok(Val::Bool(null != *negated))
            }
            Expr::HasLabels(inner, labels) => match self.eval(inner, env)? {
                Val::Null => Ok(Val::Null),
                Val::Node(n) => Ok(Val::Bool(labels.iter().all(|l| l == n.label.as_str()))),
                other => Err(type_error(format!(
                    "cannot check labels of a {}",
                    other.type_name()
                ))),
            },
            Expr::Call {
                name,
                distinct: _,
                args,
            } => {
                if e.is_aggregate() {
                    return self.aggregate_result(e);
                }
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg, env)?);
                }
                functions::call(self, name, values)
            }
            Expr::CountStar => self.aggregate_result(e),
            Expr::Case {
                subject,
                whens,
                otherwise,
            } => {
                let subject = match subject {
                    Some(s) => Some(self.eval(s, env)?),
                    None => None,
                };
                for (when, then) in whens {
                    let w = self.eval(when, env)?;
                    let hit = match &subject {
                        Some(s) => equals(s, &w) == Some(true),
                        None => matches!(w, Val::Bool(true)),
                    };
                    if hit {
                        return self.eval(then, env);
                    }
                }
                match otherwise {
                    Some(o) => self.eval(o, env),
                    None => Ok(Val::Null),
                }
            }
            Expr::ListComp {
                var,
                list,
                filter,
                map,
            } => {
                let items = match self.eval(list, env)? {
                    Val::Null => return Ok(Val::Null),
                    Val::List(items) => items,
                    other => {
                        return Err(type_error(format!(
                            "expected a list after IN, got a {}",
                            other.type_name()
                        )));
                    }
                };
                let mut out = Vec::new();
                for item in items.iter() {
                    self.tick()?;
                    env.push(var, item.clone());
                    let keep = match filter {
                        Some(f) => truth(&self.eval(f, env)?).map(|t| t == Some(true)),
                        None => Ok(true),
                    };
                    let value = match (&keep, map) {
                        (Ok(true), Some(m)) => self.eval(m, env).map(Some),
                        (Ok(true), None) => Ok(Some(item.clone())),
                        _ => Ok(None),
                    };
                    env.pop();
                    keep?;
                    if let Some(v) = value? {
                        self.charge(v.weight())?;
                        out.push(v);
                    }
                }
                Ok(Val::list(out))
            }
            Expr::Quant {
                kind,
                var,
                list,
                filter,
            } => {
                let items = match self.eval(list, env)? {
                    Val::Null => return Ok(Val::Null),
                    Val::List(items) => items,
                    other => {
                        return Err(type_error(format!(
                            "expected a list after IN, got a {}",
                            other.type_name()
                        )));
                    }
                };
                let (mut trues, mut falses, mut nulls) = (0usize, 0usize, 0usize);
                for item in items.iter() {
                    self.tick()?;
                    env.push(var, item.clone());
                    let t = self.eval(filter, env).and_then(|v| truth(&v));
                    env.pop();
                    match t? {
                        Some(true) => trues += 1,
                        Some(false) => falses += 1,
                        None => nulls += 1,
                    }
                }
                Ok(match kind {
                    Quantifier::All if falses > 0 => Val::Bool(false),
                    Quantifier::Any if trues > 0 => Val::Bool(true),
                    Quantifier::None if trues > 0 => Val::Bool(false),
                    Quantifier::Single if trues > 1 => Val::Bool(false),
                    _ if nulls > 0 => Val::Null,
                    Quantifier::All | Quantifier::None => Val::Bool(true),
                    Quantifier::Any => Val::Bool(false),
                    Quantifier::Single => Val::Bool(trues == 1),
                })
            }
            Expr::Reduce {
                acc,
                init,
                var,
                list,
                expr,
            } => {
                let mut value = self.eval(init, env)?;
                let items = match self.eval(list, env)? {
                    Val::Null => return Ok(Val::Null),
                    Val::List(items) => items,
                    other => {
                        return Err(type_error(format!(
                            "expected a list after IN, got a {}",
                            other.type_name()
                        )));
                    }
                };
                for item in items.iter() {
                    self.tick()?;
                    env.push(acc, value);
                    env.push(var, item.clone());
                    let next = self.eval(expr, env);
                    env.pop();
                    env.pop();
                    value = next?;
                    self.charge(value.weight() / 8)?;
                }
                Ok(value)
            }
            Expr::Exists(pattern, filter) => {
                let mut found = false;
                self.match_in_expression(pattern, filter.as_deref(), env, &mut |_, _| {
                    found = true;
                    Ok(std::ops::ControlFlow::Break(()))
                })?;
                Ok(Val::Bool(found))
            }
            Expr::PatternComp {
                pattern,
                filter,
                map,
            } => {
                let mut out = Vec::new();
                self.match_in_expression(pattern, filter.as_deref(), env, &mut |ctx, env| {
                    let v = ctx.eval(map, env)?;
                    ctx.charge(v.weight())?;
                    out.push(v);
                    Ok(std::ops::ControlFlow::Continue(()))
                })?;
                Ok(Val::list(out))
            }
            Expr::MapProjection(var, items) => {
                let base = env
                    .get(var)
                    .ok_or_else(|| Error::query(0, format!("variable `{var}` not defined")))?;
                if base.is_null() {
                    return Ok(Val::Null);
                }
                let mut out = BTreeMap::new();
                for item in items {
                    match item {
                        MapItem::Property(k) => {
                            out.insert(k.clone(), property(&base, k)?);
                        }
                        MapItem::AllProperties => {
                            if let Val::Map(m) = functions::properties(&base)? {
                                out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                            }
                        }
                        MapItem::Entry(k, e) => {
                            out.insert(k.clone(), self.eval(e, env)?);
                        }
                        MapItem::Variable(v) => {
                            let value = env.get(v).ok_or_else(|| {
                                Error::query(0, format!("variable `{v}` not defined"))
                            })?;
                            out.insert(v.clone(), value);
                        }
                    }
                }
                Ok(Val::Map(Arc::new(out)))
            }
        }
    }

    fn index(&self, base: Val, index: Val) -> Result<Val> {
        match (&base, &index) {
            (Val::Null, _) | (_, Val::Null) => Ok(Val::Null),
            (Val::List(items), Val::Int(i)) => {
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                Ok(if at < 0 || at >= len {
                    Val::Null
                } else {
                    items[at as usize].clone()
                })
            }
            (Val::List(_), other) => Err(type_error(format!(
                "a list index must be an integer, got a {}",
                other.type_name()
            ))),
            (Val::Map(_) | Val::Node(_) | Val::Rel(_), Val::Str(key)) => property(&base, key),
            (Val::Map(_) | Val::Node(_) | Val::Rel(_), other) => Err(type_error(format!(
                "a map key must be a string, got a {}",
                other.type_name()
            ))),
            (other, _) => Err(type_error(format!("cannot index a {}", other.type_name()))),
        }
    }

    fn binary(&self, op: BinOp, a: &'q Expr, b: &'q Expr, env: &mut Env<'q, '_>) -> Result<Val> {
        match op {
            BinOp::And => {
                let l = truth(&self.eval(a, env)?)?;
                if l == Some(false) {
                    return Ok(Val::Bool(false));
                }
                let r = truth(&self.eval(b, env)?)?;
                Ok(match (l, r) {
                    (_, Some(false)) => Val::Bool(false),
                    (Some(true), Some(true)) => Val::Bool(true),
                    _ => Val::Null,
                })
            }
            BinOp::Or => {
                let l = truth(&self.eval(a, env)?)?;
                if l == Some(true) {
                    return Ok(Val::Bool(true));
                }
                let r = truth(&self.eval(b, env)?)?;
                Ok(match (l, r) {
                    (_, Some(true)) => Val::Bool(true),
                    (Some(false), Some(false)) => Val::Bool(false),
                    _ => Val::Null,
                })
            }
            BinOp::Xor => {
                let l = truth(&self.eval(a, env)?)?;
                let r = truth(&self.eval(b, env)?)?;
                Ok(match (l, r) {
                    (Some(x), Some(y)) => Val::Bool(x != y),
                    _ => Val::Null,
                })
            }
            _ => {
                let l = self.eval(a, env)?;
                let r = self.eval(b, env)?;
                self.apply(op, l, r)
            }
        }
    }

    pub(crate) fn apply(&self, op: BinOp, l: Val, r: Val) -> Result<Val> {
        match op {
            BinOp::Eq => Ok(tri(equals(&l, &r))),
            BinOp::Ne => Ok(tri(equals(&l, &r).map(|b| !b))),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge if is_nan(&l) || is_nan(&r) => Ok(
                if matches!(l, Val::Int(_) | Val::Float(_))
                    && matches!(r, Val::Int(_) | Val::Float(_))
                {
                    Val::Bool(false)
                } else {
                    Val::Null
                },
            ),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Ok(match compare(&l, &r) {
                None => Val::Null,
                Some(ord) => Val::Bool(match op {
                    BinOp::Lt => ord == Ordering::Less,
                    BinOp::Le => ord != Ordering::Greater,
                    BinOp::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                }),
            }),
            BinOp::Add => self.add(l, r),
            BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow => arithmetic(op, l, r),
            BinOp::In => match r {
                Val::Null => Ok(Val::Null),
                Val::List(items) => {
                    let mut unknown = false;
                    for item in items.iter() {
                        match equals(&l, item) {
                            Some(true) => return Ok(Val::Bool(true)),
                            None => unknown = true,
                            Some(false) => {}
                        }
                    }
                    Ok(if unknown { Val::Null } else { Val::Bool(false) })
                }
                other => Err(type_error(format!(
                    "IN expects a list on its right, got a {}",
                    other.type_name()
                ))),
            },
            BinOp::StartsWith | BinOp::EndsWith | BinOp::Contains => match (&l, &r) {
                (Val::Str(a), Val::Str(b)) => Ok(Val::Bool(match op {
                    BinOp::StartsWith => a.starts_with(&**b),
                    BinOp::EndsWith => a.ends_with(&**b),
                    _ => a.contains(&**b),
                })),
                _ => Ok(Val::Null),
            },
            BinOp::Regex => match (&l, &r) {
                (Val::Str(text), Val::Str(pattern)) => {
                    Ok(Val::Bool(self.regex(pattern)?.is_match(text)))
                }
                _ => Ok(Val::Null),
            },
            BinOp::And | BinOp::Or | BinOp::Xor => {
                let (x, y) = (truth(&l)?, truth(&r)?);
                Ok(match (op, x, y) {
                    (BinOp::And, Some(false), _) | (BinOp::And, _, Some(false)) => Val::Bool(false),
                    (BinOp::And, Some(true), Some(true)) => Val::Bool(true),
                    (BinOp::Or, Some(true), _) | (BinOp::Or, _, Some(true)) => Val::Bool(true),
                    (BinOp::Or, Some(false), Some(false)) => Val::Bool(false),
                    (BinOp::Xor, Some(a), Some(b)) => Val::Bool(a != b),
                    _ => Val::Null,
                })
            }
        }
    }

    fn add(&self, l: Val, r: Val) -> Result<Val> {
        let out = match (l, r) {
            (Val::Null, _) | (_, Val::Null) => Val::Null,
            (Val::List(a), Val::List(b)) => {
                let mut items = Vec::with_capacity(a.len() + b.len());
                items.extend(a.iter().cloned());
                items.extend(b.iter().cloned());
                Val::list(items)
            }
            (Val::List(a), x) => {
                let mut items = a.as_ref().clone();
                items.push(x);
                Val::list(items)
            }
            (x, Val::List(b)) => {
                let mut items = Vec::with_capacity(b.len() + 1);
                items.push(x);
                items.extend(b.iter().cloned());
                Val::list(items)
            }
            (Val::Str(a), Val::Str(b)) => Val::str(format!("{a}{b}")),
            (Val::Str(a), b @ (Val::Int(_) | Val::Float(_) | Val::Bool(_))) => {
                Val::str(format!("{a}{}", functions::display_scalar(&b)))
            }
            (a @ (Val::Int(_) | Val::Float(_) | Val::Bool(_)), Val::Str(b)) => {
                Val::str(format!("{}{b}", functions::display_scalar(&a)))
            }
            (l, r) => return arithmetic(BinOp::Add, l, r),
        };
        if let Val::List(items) = &out {
            self.check_list_len(items.len())?;
        }
        self.charge(match &out {
            Val::Str(s) => s.len(),
            Val::List(items) => 32 * items.len(),
            _ => 0,
        })?;
        Ok(out)
    }
}

fn arithmetic(op: BinOp, l: Val, r: Val) -> Result<Val> {
    match (&l, &r) {
        (Val::Null, _) | (_, Val::Null) => Ok(Val::Null),
        (Val::Int(a), Val::Int(b)) => {
            let (a, b) = (*a, *b);
            match op {
                BinOp::Add => a.checked_add(b).map(Val::Int).ok_or_else(overflow),
                BinOp::Sub => a.checked_sub(b).map(Val::Int).ok_or_else(overflow),
                BinOp::Mul => a.checked_mul(b).map(Val::Int).ok_or_else(overflow),
                BinOp::Div if b == 0 => Err(type_error("/ by zero")),
                BinOp::Div => a.checked_div(b).map(Val::Int).ok_or_else(overflow),
                BinOp::Mod if b == 0 => Err(type_error("/ by zero")),
                BinOp::Mod => Ok(Val::Int(a.wrapping_rem(b))),
                _ => Ok(Val::Float((a as f64).powf(b as f64))),
            }
        }
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let to_f = |v: &Val| match v {
                Val::Int(i) => *i as f64,
                Val::Float(f) => *f,
                _ => f64::NAN,
            };
            let (a, b) = (to_f(&l), to_f(&r));
            Ok(Val::Float(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::Mod => a % b,
                _ => a.powf(b),
            }))
        }
        _ => Err(type_error(format!(
            "cannot apply {} to a {} and a {}",
            op_symbol(op),
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn op_symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::Pow => "^",
        _ => "an operator",
    }
}

fn slice(base: Val, from: Option<Val>, to: Option<Val>) -> Result<Val> {
    let items = match base {
        Val::Null => return Ok(Val::Null),
        Val::List(items) => items,
        other => return Err(type_error(format!("cannot slice a {}", other.type_name()))),
    };
    let len = items.len() as i64;
    let bound = |v: Option<Val>, default: i64| -> Result<Option<i64>> {
        match v {
            None => Ok(Some(default)),
            Some(Val::Null) => Ok(None),
            Some(Val::Int(i)) => Ok(Some(if i < 0 { (len + i).max(0) } else { i.min(len) })),
            Some(other) => Err(type_error(format!(
                "a list slice bound must be an integer, got a {}",
                other.type_name()
            ))),
        }
    };
    let (Some(a), Some(b)) = (bound(from, 0)?, bound(to, len)?) else {
        return Ok(Val::Null);
    };
    if a >= b {
        return Ok(Val::list(Vec::new()));
    }
    Ok(Val::list(items[a as usize..b as usize].to_vec()))
}

fn is_nan(v: &Val) -> bool {
    matches!(v, Val::Float(f) if f.is_nan())
}
