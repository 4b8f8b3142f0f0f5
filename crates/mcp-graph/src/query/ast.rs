//! The syntax tree of the read-only Cypher the embedded engine runs.

use super::val::Val;
use crate::model::Direction;

/// A whole query: one or more single queries joined by `UNION [ALL]`.
#[derive(Debug, PartialEq)]
pub(crate) struct Query {
    pub parts: Vec<SingleQuery>,
    /// `true` for `UNION ALL` (keeps duplicates), `false` for `UNION`; one per join.
    pub union_all: Vec<bool>,
}

/// Clauses up to and including one `RETURN`.
#[derive(Debug, PartialEq)]
pub(crate) struct SingleQuery {
    pub clauses: Vec<Clause>,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Clause {
    Match {
        optional: bool,
        patterns: Vec<PathPattern>,
        filter: Option<Expr>,
    },
    Unwind {
        expr: Expr,
        var: String,
    },
    With(Projection),
    Return(Projection),
}

/// The body of `WITH` or `RETURN`.
#[derive(Debug, PartialEq)]
pub(crate) struct Projection {
    pub distinct: bool,
    /// `*`: every variable in scope, then `items`.
    pub star: bool,
    pub items: Vec<Item>,
    pub order: Vec<(Expr, bool)>,
    pub skip: Option<Expr>,
    pub limit: Option<Expr>,
    /// `WITH … WHERE`.
    pub filter: Option<Expr>,
}

/// A projected expression and its column name (alias, or the text as written).
#[derive(Debug, PartialEq)]
pub(crate) struct Item {
    pub expr: Expr,
    pub name: String,
    /// Whether the name came from `AS`.
    pub aliased: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shortest {
    One,
    All,
}

/// `[p =] (a)-[r]->(b)…`, or `shortestPath(…)`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PathPattern {
    pub var: Option<String>,
    pub shortest: Option<Shortest>,
    pub start: NodePat,
    pub steps: Vec<(RelPat, NodePat)>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodePat {
    pub var: Option<String>,
    pub labels: Vec<String>,
    /// A map literal or a parameter.
    pub props: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RelPat {
    pub var: Option<String>,
    pub types: Vec<String>,
    pub direction: Direction,
    pub props: Option<Expr>,
    /// `*min..max` (`None` max: unbounded).
    pub range: Option<(u32, Option<u32>)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum BinOp {
    Or,
    Xor,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    In,
    StartsWith,
    EndsWith,
    Contains,
    Regex,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Quantifier {
    All,
    Any,
    None,
    Single,
}

/// One entry of a map projection `n {.name, .*, key: expr, var}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum MapItem {
    Property(String),
    AllProperties,
    Entry(String, Expr),
    Variable(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Lit(Val),
    Param(String),
    Var(String),
    Prop(Box<Expr>, String),
    List(Vec<Expr>),
    Map(Vec<(String, Expr)>),
    Index(Box<Expr>, Box<Expr>),
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    HasLabels(Box<Expr>, Vec<String>),
    Call {
        name: String,
        distinct: bool,
        args: Vec<Expr>,
    },
    CountStar,
    Case {
        subject: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    ListComp {
        var: String,
        list: Box<Expr>,
        filter: Option<Box<Expr>>,
        map: Option<Box<Expr>>,
    },
    Quant {
        kind: Quantifier,
        var: String,
        list: Box<Expr>,
        filter: Box<Expr>,
    },
    Reduce {
        acc: String,
        init: Box<Expr>,
        var: String,
        list: Box<Expr>,
        expr: Box<Expr>,
    },
    /// A pattern used as a predicate: true when it has at least one match.
    Exists(Box<PathPattern>, Option<Box<Expr>>),
    /// `[pattern WHERE filter | map]`
    PatternComp {
        pattern: Box<PathPattern>,
        filter: Option<Box<Expr>>,
        map: Box<Expr>,
    },
    MapProjection(String, Vec<MapItem>),
}

/// Aggregating functions (lower-case names).
pub(crate) const AGGREGATES: [&str; 10] = [
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "collect",
    "stdev",
    "stdevp",
    "percentilecont",
    "percentiledisc",
];

impl Expr {
    /// Whether this is an aggregate call (`count(*)`, `sum(x)`, …).
    pub(crate) fn is_aggregate(&self) -> bool {
        match self {
            Expr::CountStar => true,
            Expr::Call { name, .. } => AGGREGATES.contains(&name.as_str()),
            _ => false,
        }
    }

    /// Calls `f` on this expression and every sub-expression, outermost first. Does not enter
    /// patterns.
    pub(crate) fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Param(_) | Expr::Var(_) | Expr::CountStar => {}
            Expr::Prop(e, _) | Expr::Not(e) | Expr::Neg(e) | Expr::IsNull(e, _) => e.walk(f),
            Expr::HasLabels(e, _) => e.walk(f),
            Expr::List(items) => items.iter().for_each(|e| e.walk(f)),
            Expr::Map(items) => items.iter().for_each(|(_, e)| e.walk(f)),
            Expr::Index(a, b) | Expr::Bin(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Slice(a, b, c) => {
                a.walk(f);
                if let Some(b) = b {
                    b.walk(f);
                }
                if let Some(c) = c {
                    c.walk(f);
                }
            }
            Expr::Call { args, .. } => args.iter().for_each(|e| e.walk(f)),
            Expr::Case {
                subject,
                whens,
                otherwise,
            } => {
                if let Some(s) = subject {
                    s.walk(f);
                }
                for (w, t) in whens {
                    w.walk(f);
                    t.walk(f);
                }
                if let Some(o) = otherwise {
                    o.walk(f);
                }
            }
            Expr::ListComp {
                list, filter, map, ..
            } => {
                list.walk(f);
                if let Some(x) = filter {
                    x.walk(f);
                }
                if let Some(x) = map {
                    x.walk(f);
                }
            }
            Expr::Quant { list, filter, .. } => {
                list.walk(f);
                filter.walk(f);
            }
            Expr::Reduce {
                init, list, expr, ..
            } => {
                init.walk(f);
                list.walk(f);
                expr.walk(f);
            }
            Expr::Exists(_, filter) => {
                if let Some(x) = filter {
                    x.walk(f);
                }
            }
            Expr::PatternComp { filter, map, .. } => {
                if let Some(x) = filter {
                    x.walk(f);
                }
                map.walk(f);
            }
            Expr::MapProjection(_, items) => {
                for item in items {
                    if let MapItem::Entry(_, e) = item {
                        e.walk(f);
                    }
                }
            }
        }
    }

    /// Whether an aggregate call appears anywhere in this expression.
    pub(crate) fn contains_aggregate(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| found |= e.is_aggregate());
        found
    }
}
