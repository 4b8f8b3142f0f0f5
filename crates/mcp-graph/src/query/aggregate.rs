//! Aggregating functions: `count`, `sum`, `avg`, `min`, `max`, `collect`, `stDev`, `stDevP`,
//! `percentileCont`, `percentileDisc`, each with `DISTINCT`.

use super::ast::Expr;
use super::expr::type_error;
use super::val::{Key, Val, order};
use crate::Result;
use std::cmp::Ordering;
use std::collections::HashSet;

#[derive(Debug)]
enum State {
    Count(i64),
    Sum {
        int: i64,
        float: f64,
        is_float: bool,
    },
    Avg {
        sum: f64,
        n: u64,
    },
    Min(Option<Val>),
    Max(Option<Val>),
    Collect(Vec<Val>),
    Numbers(Vec<f64>),
    Percentile {
        values: Vec<Val>,
        p: Option<f64>,
    },
}

/// One aggregate's running state for one group.
#[derive(Debug)]
pub(crate) struct Acc {
    name: &'static str,
    state: State,
    seen: Option<HashSet<Key>>,
}

impl Acc {
    pub(crate) fn new(expr: &Expr) -> Acc {
        let (name, distinct): (&str, bool) = match expr {
            Expr::Call { name, distinct, .. } => (name.as_str(), *distinct),
            _ => ("count", false),
        };
        let (name, state) = match name {
            "count" => ("count", State::Count(0)),
            "sum" => (
                "sum",
                State::Sum {
                    int: 0,
                    float: 0.0,
                    is_float: false,
                },
            ),
            "avg" => ("avg", State::Avg { sum: 0.0, n: 0 }),
            "min" => ("min", State::Min(None)),
            "max" => ("max", State::Max(None)),
            "collect" => ("collect", State::Collect(Vec::new())),
            "stdev" => ("stdev", State::Numbers(Vec::new())),
            "stdevp" => ("stdevp", State::Numbers(Vec::new())),
            "percentilecont" => (
                "percentilecont",
                State::Percentile {
                    values: Vec::new(),
                    p: None,
                },
            ),
            _ => (
                "percentiledisc",
                State::Percentile {
                    values: Vec::new(),
                    p: None,
                },
            ),
        };
        Acc {
            name,
            state,
            seen: distinct.then(HashSet::new),
        }
    }

    /// Adds `n` rows to a count (the label-count shortcut; only counts are fed this way).
    pub(crate) fn add_rows(&mut self, n: u64) {
        if let State::Count(c) = &mut self.state {
            *c = c.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Adds one row's argument (`None` for `count(*)`) and, for percentiles, the percentile.
    /// Returns the bytes newly held.
    pub(crate) fn add(&mut self, value: Option<Val>, extra: Option<Val>) -> Result<usize> {
        let Some(value) = value else {
            if let State::Count(n) = &mut self.state {
                *n += 1;
            }
            return Ok(0);
        };
        if value.is_null() {
            return Ok(0);
        }
        if let Some(seen) = &mut self.seen
            && !seen.insert(Key::of(&value))
        {
            return Ok(0);
        }
        let weight = if self.seen.is_some() {
            value.weight()
        } else {
            0
        };
        let number = |v: &Val| -> Result<f64> {
            match v {
                Val::Int(i) => Ok(*i as f64),
                Val::Float(f) => Ok(*f),
                other => Err(type_error(format!(
                    "{}() expects numbers, got a {}",
                    self.name,
                    other.type_name()
                ))),
            }
        };
        let held = match &mut self.state {
            State::Count(n) => {
                *n += 1;
                0
            }
            State::Sum {
                int,
                float,
                is_float,
            } => {
                match value {
                    Val::Int(i) if !*is_float => {
                        *int = int
                            .checked_add(i)
                            .ok_or_else(|| type_error("integer overflow in sum()"))?;
                    }
                    Val::Int(i) => *float += i as f64,
                    Val::Float(f) => {
                        if !*is_float {
                            *is_float = true;
                            *float = *int as f64;
                        }
                        *float += f;
                    }
                    other => {
                        return Err(type_error(format!(
                            "sum() expects numbers, got a {}",
                            other.type_name()
                        )));
                    }
                }
                0
            }
            State::Avg { sum, n } => {
                *sum += number(&value)?;
                *n += 1;
                0
            }
            State::Min(best) => {
                if best
                    .as_ref()
                    .is_none_or(|b| order(&value, b) == Ordering::Less)
                {
                    *best = Some(value);
                }
                0
            }
            State::Max(best) => {
                if best
                    .as_ref()
                    .is_none_or(|b| order(&value, b) == Ordering::Greater)
                {
                    *best = Some(value);
                }
                0
            }
            State::Collect(items) => {
                let w = value.weight();
                items.push(value);
                w
            }
            State::Numbers(items) => {
                items.push(number(&value)?);
                16
            }
            State::Percentile { values, p } => {
                number(&value)?;
                if p.is_none() {
                    let given = match extra {
                        Some(Val::Int(i)) => i as f64,
                        Some(Val::Float(f)) => f,
                        _ => return Err(type_error("the percentile must be a number")),
                    };
                    if !(0.0..=1.0).contains(&given) {
                        return Err(type_error(
                            "the percentile must be a number between 0.0 and 1.0",
                        ));
                    }
                    *p = Some(given);
                }
                let w = value.weight();
                values.push(value);
                w
            }
        };
        Ok(held + weight)
    }

    pub(crate) fn finish(self) -> Val {
        match self.state {
            State::Count(n) => Val::Int(n),
            State::Sum {
                int,
                float,
                is_float,
            } => {
                if is_float {
                    Val::Float(float)
                } else {
                    Val::Int(int)
                }
            }
            State::Avg { sum, n } => {
                if n == 0 {
                    Val::Null
                } else {
                    Val::Float(sum / n as f64)
                }
            }
            State::Min(v) | State::Max(v) => v.unwrap_or(Val::Null),
            State::Collect(items) => Val::list(items),
            State::Numbers(items) => {
                let population = self.name == "stdevp";
                let n = items.len() as f64;
                if items.len() < if population { 1 } else { 2 } {
                    return Val::Float(0.0);
                }
                let mean = items.iter().sum::<f64>() / n;
                let squares: f64 = items.iter().map(|x| (x - mean) * (x - mean)).sum();
                let divisor = if population { n } else { n - 1.0 };
                Val::Float((squares / divisor).sqrt())
            }
            State::Percentile { mut values, p } => {
                let Some(p) = p else {
                    return Val::Null;
                };
                values.sort_by(order);
                let count = values.len();
                if self.name == "percentiledisc" {
                    let index = if p == 1.0 || count == 1 {
                        count - 1
                    } else {
                        let float_index = p * count as f64;
                        let truncated = float_index as usize;
                        if float_index != truncated as f64 || truncated == 0 {
                            truncated
                        } else {
                            truncated - 1
                        }
                    };
                    values[index.min(count - 1)].clone()
                } else {
                    let to_f = |v: &Val| match v {
                        Val::Int(i) => *i as f64,
                        Val::Float(f) => *f,
                        _ => f64::NAN,
                    };
                    if count == 1 {
                        return Val::Float(to_f(&values[0]));
                    }
                    let float_index = p * (count - 1) as f64;
                    let (lo, hi) = (float_index.floor(), float_index.ceil());
                    if lo == hi {
                        Val::Float(to_f(&values[lo as usize]))
                    } else {
                        Val::Float(
                            to_f(&values[lo as usize]) * (hi - float_index)
                                + to_f(&values[hi as usize]) * (float_index - lo),
                        )
                    }
                }
            }
        }
    }
}
