//! Scalar, list, string and math functions.

use super::exec::Ctx;
use super::expr::type_error;
use super::val::Val;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Formats a number or boolean the way Cypher's `toString` does (floats always show a
/// fraction or an exponent: `1.0`, `1.0E20`).
pub(crate) fn display_scalar(v: &Val) -> String {
    match v {
        Val::Int(i) => i.to_string(),
        Val::Float(f) => format_float(*f),
        Val::Bool(b) => b.to_string(),
        Val::Str(s) => s.to_string(),
        _ => String::new(),
    }
}

/// Java's `Double.toString`: plain between 1e-3 and 1e7, scientific (`1.0E-4`) outside.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let abs = f.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

fn arity(name: &str, args: &[Val], min: usize, max: usize) -> Result<()> {
    if args.len() < min || args.len() > max {
        let wanted = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(Error::query(
            0,
            format!("{name}() takes {wanted} argument(s), got {}", args.len()),
        ));
    }
    Ok(())
}

fn number(name: &str, v: &Val) -> Result<Option<f64>> {
    match v {
        Val::Null => Ok(None),
        Val::Int(i) => Ok(Some(*i as f64)),
        Val::Float(f) => Ok(Some(*f)),
        other => Err(type_error(format!(
            "{name}() expects a number, got a {}",
            other.type_name()
        ))),
    }
}

fn string<'v>(name: &str, v: &'v Val) -> Result<Option<&'v str>> {
    match v {
        Val::Null => Ok(None),
        Val::Str(s) => Ok(Some(s)),
        other => Err(type_error(format!(
            "{name}() expects a string, got a {}",
            other.type_name()
        ))),
    }
}

fn integer(name: &str, v: &Val) -> Result<Option<i64>> {
    match v {
        Val::Null => Ok(None),
        Val::Int(i) => Ok(Some(*i)),
        Val::Float(f) if f.fract() == 0.0 => Ok(Some(*f as i64)),
        other => Err(type_error(format!(
            "{name}() expects an integer, got a {}",
            other.type_name()
        ))),
    }
}

fn float_fn(name: &str, args: &[Val], f: fn(f64) -> f64) -> Result<Val> {
    arity(name, args, 1, 1)?;
    Ok(number(name, &args[0])?.map_or(Val::Null, |x| Val::Float(f(x))))
}

/// `properties(x)`: the properties of a node or relationship, or the map itself.
pub(crate) fn properties(v: &Val) -> Result<Val> {
    let props = match v {
        Val::Null => return Ok(Val::Null),
        Val::Map(_) => return Ok(v.clone()),
        Val::Node(n) => n.props.get()?,
        Val::Rel(r) => r.props.get()?,
        other => {
            return Err(type_error(format!(
                "properties() expects a node, relationship or map, got a {}",
                other.type_name()
            )));
        }
    };
    Ok(Val::Map(Arc::new(
        props
            .iter()
            .map(|(k, v)| (k.to_string(), Val::from_json(v.as_json())))
            .collect::<BTreeMap<_, _>>(),
    )))
}

fn to_integer(v: &Val) -> Option<i64> {
    match v {
        Val::Int(i) => Some(*i),
        Val::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Some(f.trunc() as i64),
        Val::Bool(b) => Some(i64::from(*b)),
        Val::Str(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                    .map(|f| f.trunc() as i64)
            })
        }
        _ => None,
    }
}

fn to_float(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        Val::Str(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

fn to_boolean(v: &Val) -> Option<bool> {
    match v {
        Val::Bool(b) => Some(*b),
        Val::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Val::Int(i) => Some(*i != 0),
        _ => None,
    }
}

fn chars_of(s: &str) -> Vec<char> {
    s.chars().collect()
}

pub(crate) fn call(ctx: &Ctx<'_, '_>, name: &str, args: Vec<Val>) -> Result<Val> {
    let a = &args;
    let null_in = |i: usize| a.get(i).is_some_and(Val::is_null);
    Ok(match name {
        "id" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Node(n) => Val::Int(n.id as i64),
                Val::Rel(r) => Val::Int(r.id as i64),
                other => return Err(type_error(format!("id() of a {}", other.type_name()))),
            }
        }
        "elementid" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Node(n) => Val::str(format!("{}:{}", n.label, n.key)),
                Val::Rel(r) => Val::str(format!("{}:{}:{}", r.from, r.rel_type, r.to)),
                other => {
                    return Err(type_error(format!(
                        "elementId() of a {}",
                        other.type_name()
                    )));
                }
            }
        }
        "labels" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Node(n) => Val::list(vec![Val::str(n.label.as_str())]),
                other => return Err(type_error(format!("labels() of a {}", other.type_name()))),
            }
        }
        "type" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Rel(r) => Val::str(r.rel_type.as_str()),
                other => return Err(type_error(format!("type() of a {}", other.type_name()))),
            }
        }
        "keys" => {
            arity(name, a, 1, 1)?;
            match properties(&a[0])? {
                Val::Map(m) => Val::list(m.keys().map(|k| Val::str(k.as_str())).collect()),
                _ => Val::Null,
            }
        }
        "properties" => {
            arity(name, a, 1, 1)?;
            properties(&a[0])?
        }
        "coalesce" => a
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Val::Null),
        "head" | "last" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::List(items) => {
                    let item = if name == "head" {
                        items.first()
                    } else {
                        items.last()
                    };
                    item.cloned().unwrap_or(Val::Null)
                }
                other => return Err(type_error(format!("{name}() of a {}", other.type_name()))),
            }
        }
        "tail" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::List(items) => Val::list(items.iter().skip(1).cloned().collect()),
                other => return Err(type_error(format!("tail() of a {}", other.type_name()))),
            }
        }
        "size" | "length" | "char_length" | "character_length" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::List(items) => Val::Int(items.len() as i64),
                Val::Str(s) => Val::Int(s.chars().count() as i64),
                Val::Path(p) => Val::Int(p.rels.len() as i64),
                other => return Err(type_error(format!("{name}() of a {}", other.type_name()))),
            }
        }
        "isempty" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::List(items) => Val::Bool(items.is_empty()),
                Val::Str(s) => Val::Bool(s.is_empty()),
                Val::Map(m) => Val::Bool(m.is_empty()),
                other => return Err(type_error(format!("isEmpty() of a {}", other.type_name()))),
            }
        }
        "nodes" | "relationships" | "rels" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Path(p) if name == "nodes" => {
                    Val::list(p.nodes.iter().cloned().map(Val::Node).collect())
                }
                Val::Path(p) => Val::list(p.rels.iter().cloned().map(Val::Rel).collect()),
                other => return Err(type_error(format!("{name}() of a {}", other.type_name()))),
            }
        }
        "startnode" | "endnode" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Rel(r) => {
                    let id = if name == "startnode" { r.from } else { r.to };
                    ctx.graph().node(id)?.map_or(Val::Null, Val::Node)
                }
                other => return Err(type_error(format!("{name}() of a {}", other.type_name()))),
            }
        }
        "exists" => {
            arity(name, a, 1, 1)?;
            Val::Bool(!a[0].is_null())
        }
        "tointeger" | "toint" | "tointegerornull" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                v @ (Val::Int(_) | Val::Float(_) | Val::Bool(_) | Val::Str(_)) => {
                    to_integer(v).map_or(Val::Null, Val::Int)
                }
                _ if name == "tointegerornull" => Val::Null,
                other => {
                    return Err(type_error(format!(
                        "toInteger() of a {}",
                        other.type_name()
                    )));
                }
            }
        }
        "tofloat" | "tofloatornull" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                v @ (Val::Int(_) | Val::Float(_) | Val::Str(_)) => {
                    to_float(v).map_or(Val::Null, Val::Float)
                }
                _ if name == "tofloatornull" => Val::Null,
                other => return Err(type_error(format!("toFloat() of a {}", other.type_name()))),
            }
        }
        "toboolean" | "tobooleanornull" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                v @ (Val::Bool(_) | Val::Str(_) | Val::Int(_)) => {
                    to_boolean(v).map_or(Val::Null, Val::Bool)
                }
                _ if name == "tobooleanornull" => Val::Null,
                other => {
                    return Err(type_error(format!(
                        "toBoolean() of a {}",
                        other.type_name()
                    )));
                }
            }
        }
        "tostring" | "tostringornull" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                v @ (Val::Int(_) | Val::Float(_) | Val::Bool(_) | Val::Str(_)) => {
                    Val::str(display_scalar(v))
                }
                _ if name == "tostringornull" => Val::Null,
                other => {
                    return Err(type_error(format!("toString() of a {}", other.type_name())));
                }
            }
        }
        "abs" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Int(i) => i
                    .checked_abs()
                    .map(Val::Int)
                    .ok_or_else(|| type_error("integer overflow"))?,
                v => number(name, v)?.map_or(Val::Null, |f| Val::Float(f.abs())),
            }
        }
        "sign" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Int(i) => Val::Int(i.signum()),
                v => number(name, v)?.map_or(Val::Null, |f| {
                    Val::Int(if f > 0.0 {
                        1
                    } else if f < 0.0 {
                        -1
                    } else {
                        0
                    })
                }),
            }
        }
        "ceil" => float_fn(name, a, f64::ceil)?,
        "floor" => float_fn(name, a, f64::floor)?,
        "round" => {
            arity(name, a, 1, 3)?;
            let Some(x) = number(name, &a[0])? else {
                return Ok(Val::Null);
            };
            if a.len() == 1 {
                // Half up, as Java's Math.round: 2.5 -> 3, -2.5 -> -2.
                Val::Float((x + 0.5).floor())
            } else {
                let Some(p) = integer(name, &a[1])? else {
                    return Ok(Val::Null);
                };
                let scale = 10f64.powi(p.clamp(-300, 300) as i32);
                Val::Float((x * scale).round() / scale)
            }
        }
        "sqrt" => float_fn(name, a, f64::sqrt)?,
        "exp" => float_fn(name, a, f64::exp)?,
        "log" => float_fn(name, a, f64::ln)?,
        "log10" => float_fn(name, a, f64::log10)?,
        "sin" => float_fn(name, a, f64::sin)?,
        "cos" => float_fn(name, a, f64::cos)?,
        "tan" => float_fn(name, a, f64::tan)?,
        "asin" => float_fn(name, a, f64::asin)?,
        "acos" => float_fn(name, a, f64::acos)?,
        "atan" => float_fn(name, a, f64::atan)?,
        "cot" => float_fn(name, a, |x| 1.0 / x.tan())?,
        "degrees" => float_fn(name, a, f64::to_degrees)?,
        "radians" => float_fn(name, a, f64::to_radians)?,
        "haversin" => float_fn(name, a, |x| (1.0 - x.cos()) / 2.0)?,
        "atan2" => {
            arity(name, a, 2, 2)?;
            match (number(name, &a[0])?, number(name, &a[1])?) {
                (Some(y), Some(x)) => Val::Float(y.atan2(x)),
                _ => Val::Null,
            }
        }
        "pi" => {
            arity(name, a, 0, 0)?;
            Val::Float(std::f64::consts::PI)
        }
        "e" => {
            arity(name, a, 0, 0)?;
            Val::Float(std::f64::consts::E)
        }
        "rand" => {
            arity(name, a, 0, 0)?;
            Val::Float(ctx.random())
        }
        "range" => {
            arity(name, a, 2, 3)?;
            let strict = |v: &Val| match v {
                Val::Int(i) => Ok(Some(*i)),
                Val::Null => Ok(None),
                other => Err(type_error(format!(
                    "range() takes integers, got a {}",
                    other.type_name()
                ))),
            };
            let start = strict(&a[0])?;
            let end = strict(&a[1])?;
            let step = match a.get(2) {
                Some(v) => strict(v)?,
                None => Some(1),
            };
            let (Some(start), Some(end), Some(step)) = (start, end, step) else {
                return Err(type_error("range() arguments must not be null"));
            };
            if step == 0 {
                return Err(type_error("range() step must not be zero"));
            }
            let count = if (step > 0 && start > end) || (step < 0 && start < end) {
                0
            } else {
                ((end as i128 - start as i128) / step as i128 + 1) as u128
            };
            ctx.check_list_len(usize::try_from(count).unwrap_or(usize::MAX))?;
            ctx.charge(count as usize * 32)?;
            let mut out = Vec::with_capacity(count as usize);
            let mut x = start as i128;
            for _ in 0..count {
                out.push(Val::Int(x as i64));
                x += step as i128;
            }
            Val::list(out)
        }
        "reverse" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Val::Null => Val::Null,
                Val::Str(s) => Val::str(s.chars().rev().collect::<String>()),
                Val::List(items) => Val::list(items.iter().rev().cloned().collect()),
                other => return Err(type_error(format!("reverse() of a {}", other.type_name()))),
            }
        }
        "tolower" | "lower" => {
            arity(name, a, 1, 1)?;
            string(name, &a[0])?.map_or(Val::Null, |s| Val::str(s.to_lowercase()))
        }
        "toupper" | "upper" => {
            arity(name, a, 1, 1)?;
            string(name, &a[0])?.map_or(Val::Null, |s| Val::str(s.to_uppercase()))
        }
        "trim" | "btrim" => {
            arity(name, a, 1, 1)?;
            string(name, &a[0])?.map_or(Val::Null, |s| Val::str(s.trim()))
        }
        "ltrim" => {
            arity(name, a, 1, 1)?;
            string(name, &a[0])?.map_or(Val::Null, |s| Val::str(s.trim_start()))
        }
        "rtrim" => {
            arity(name, a, 1, 1)?;
            string(name, &a[0])?.map_or(Val::Null, |s| Val::str(s.trim_end()))
        }
        "replace" => {
            arity(name, a, 3, 3)?;
            if (0..3).any(null_in) {
                return Ok(Val::Null);
            }
            let (s, from, to) = (
                string(name, &a[0])?.unwrap_or_default(),
                string(name, &a[1])?.unwrap_or_default(),
                string(name, &a[2])?.unwrap_or_default(),
            );
            let out = if from.is_empty() {
                // Java inserts the replacement between every character.
                let mut out = String::from(to);
                for c in s.chars() {
                    out.push(c);
                    out.push_str(to);
                }
                out
            } else {
                s.replace(from, to)
            };
            ctx.charge(out.len())?;
            Val::str(out)
        }
        "split" => {
            arity(name, a, 2, 2)?;
            if null_in(0) || null_in(1) {
                return Ok(Val::Null);
            }
            let s = string(name, &a[0])?.unwrap_or_default();
            let parts: Vec<Val> = match &a[1] {
                Val::Str(d) if d.is_empty() => s.chars().map(|c| Val::str(c.to_string())).collect(),
                Val::Str(d) => s.split(&**d).map(Val::str).collect(),
                other => {
                    return Err(type_error(format!(
                        "split() expects a string delimiter, got a {}",
                        other.type_name()
                    )));
                }
            };
            ctx.charge(32 * parts.len() + s.len())?;
            Val::list(parts)
        }
        "substring" => {
            arity(name, a, 2, 3)?;
            let Some(s) = string(name, &a[0])? else {
                return Ok(Val::Null);
            };
            let chars = chars_of(s);
            let start =
                integer(name, &a[1])?.ok_or_else(|| type_error("substring() start is null"))?;
            if start < 0 {
                return Err(type_error("substring() start must not be negative"));
            }
            let start = (start as usize).min(chars.len());
            let len = match a.get(2) {
                Some(v) => {
                    let l = integer(name, v)?
                        .ok_or_else(|| type_error("substring() length is null"))?;
                    if l < 0 {
                        return Err(type_error("substring() length must not be negative"));
                    }
                    l as usize
                }
                None => chars.len(),
            };
            let end = start.saturating_add(len).min(chars.len());
            Val::str(chars[start..end].iter().collect::<String>())
        }
        "left" | "right" => {
            arity(name, a, 2, 2)?;
            let Some(s) = string(name, &a[0])? else {
                return Ok(Val::Null);
            };
            let n = integer(name, &a[1])?
                .ok_or_else(|| type_error(format!("{name}() length is null")))?;
            if n < 0 {
                return Err(type_error(format!("{name}() length must not be negative")));
            }
            let chars = chars_of(s);
            let n = (n as usize).min(chars.len());
            let out: String = if name == "left" {
                chars[..n].iter().collect()
            } else {
                chars[chars.len() - n..].iter().collect()
            };
            Val::str(out)
        }
        "timestamp" | "date" | "datetime" | "localdatetime" | "localtime" | "time" | "duration" => {
            return Err(Error::unsupported(format!(
                "temporal values ({name}()): store times as strings or integers"
            )));
        }
        "point" | "distance" | "randomuuid" => {
            return Err(Error::unsupported(format!("the function {name}()")));
        }
        other => return Err(Error::unsupported(format!("the function {other}()"))),
    })
}

/// Scalar functions this engine runs (lower case).
const KNOWN: &[&str] = &[
    "id",
    "elementid",
    "labels",
    "type",
    "keys",
    "properties",
    "coalesce",
    "head",
    "last",
    "tail",
    "size",
    "length",
    "char_length",
    "character_length",
    "isempty",
    "nodes",
    "relationships",
    "rels",
    "startnode",
    "endnode",
    "exists",
    "tointeger",
    "toint",
    "tointegerornull",
    "tofloat",
    "tofloatornull",
    "toboolean",
    "tobooleanornull",
    "tostring",
    "tostringornull",
    "abs",
    "sign",
    "ceil",
    "floor",
    "round",
    "sqrt",
    "exp",
    "log",
    "log10",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "cot",
    "degrees",
    "radians",
    "haversin",
    "atan2",
    "pi",
    "e",
    "rand",
    "range",
    "reverse",
    "tolower",
    "lower",
    "toupper",
    "upper",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "replace",
    "split",
    "substring",
    "left",
    "right",
];

/// Refuses, before running, a call of a function this engine does not have.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if KNOWN.contains(&name) || super::ast::AGGREGATES.contains(&name) {
        return Ok(());
    }
    Err(Error::unsupported(match name {
        "timestamp" | "date" | "datetime" | "localdatetime" | "localtime" | "time" | "duration" => {
            format!("temporal values ({name}()): store times as strings or integers")
        }
        other => format!("the function {other}()"),
    }))
}
