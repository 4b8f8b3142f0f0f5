//! Runs a parsed [`Query`]: clauses as a push pipeline (rows flow from `MATCH` to `RETURN`
//! one at a time; `ORDER BY`, `DISTINCT` and aggregation collect their input first), within
//! the query's deadline, row limit and memory budget.

use super::aggregate::Acc;
use super::ast::{BinOp, Clause, Expr, MapItem, PathPattern, Projection, Query, SingleQuery};
use super::graph::QueryGraph;
use super::pattern::{CompiledMatch, Kind};
use super::val::{Key, Val, order};
use super::{Deadline, Limits};
use crate::model::Value;
use crate::{Error, Result};
use regex::Regex;
use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

pub(crate) type Flow = ControlFlow<()>;

/// Variables visible to an expression: the row's columns, an optional fallback row (the input
/// of a projection, for `ORDER BY` and `WITH … WHERE`), and local variables of comprehensions.
pub(crate) struct Env<'q, 'r> {
    pub names: &'r [String],
    pub row: &'r [Val],
    pub fallback: Option<(&'r [String], &'r [Val])>,
    pub locals: Vec<(&'q str, Val)>,
}

impl<'q, 'r> Env<'q, 'r> {
    pub(crate) fn new(names: &'r [String], row: &'r [Val]) -> Self {
        Env {
            names,
            row,
            fallback: None,
            locals: Vec::new(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Val> {
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| *n == name) {
            return Some(v.clone());
        }
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return self.row.get(i).cloned();
        }
        let (names, row) = self.fallback?;
        let i = names.iter().position(|n| n == name)?;
        row.get(i).cloned()
    }

    pub(crate) fn push(&mut self, name: &'q str, value: Val) {
        self.locals.push((name, value));
    }

    pub(crate) fn pop(&mut self) {
        self.locals.pop();
    }

    /// Every visible variable, innermost first (for patterns inside expressions).
    pub(crate) fn flatten(&self) -> (Vec<String>, Vec<Val>) {
        let mut names = Vec::new();
        let mut vals = Vec::new();
        for (n, v) in self.locals.iter().rev() {
            if !names.iter().any(|x: &String| x == n) {
                names.push((*n).to_owned());
                vals.push(v.clone());
            }
        }
        let mut add = |ns: &[String], vs: &[Val]| {
            for (n, v) in ns.iter().zip(vs) {
                if !names.contains(n) {
                    names.push(n.clone());
                    vals.push(v.clone());
                }
            }
        };
        add(self.names, self.row);
        if let Some((ns, vs)) = self.fallback {
            add(ns, vs);
        }
        (names, vals)
    }
}

/// Per-query state shared by every stage.
pub(crate) struct Ctx<'q, 'g> {
    graph: &'g dyn QueryGraph,
    params: &'g BTreeMap<String, Value>,
    deadline: Deadline,
    limits: Limits,
    used: Cell<usize>,
    ticks: Cell<u32>,
    /// Aggregate results of the group being finished, by the address of their expression.
    aggregates: RefCell<HashMap<usize, Val>>,
    regexes: RefCell<HashMap<String, Arc<Regex>>>,
    seed: Cell<u64>,
    _query: std::marker::PhantomData<&'q Query>,
}

impl<'q, 'g> Ctx<'q, 'g> {
    pub(crate) fn graph(&self) -> &'g dyn QueryGraph {
        self.graph
    }

    /// Checks the deadline (every 64th call, to keep it cheap).
    pub(crate) fn tick(&self) -> Result<()> {
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        if t.is_multiple_of(64) {
            self.deadline.check()?;
        }
        Ok(())
    }

    /// Counts `bytes` against the query's memory budget.
    pub(crate) fn charge(&self, bytes: usize) -> Result<()> {
        let used = self.used.get().saturating_add(bytes);
        self.used.set(used);
        if used > self.limits.memory {
            return Err(Error::LimitExceeded {
                limit: format!(
                    "the query holds more than {} MiB of intermediate results",
                    self.limits.memory >> 20
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn check_list_len(&self, len: usize) -> Result<()> {
        if len > self.limits.list_len {
            return Err(Error::LimitExceeded {
                limit: format!(
                    "a list would have more than {} elements",
                    self.limits.list_len
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn param(&self, name: &str) -> Result<Val> {
        self.params
            .get(name)
            .map(|v| Val::from_json(v.as_json()))
            .ok_or_else(|| Error::MissingParameter {
                name: name.to_owned(),
            })
    }

    pub(crate) fn regex(&self, pattern: &str) -> Result<Arc<Regex>> {
        if let Some(r) = self.regexes.borrow().get(pattern) {
            return Ok(Arc::clone(r));
        }
        let compiled = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map_err(|e| Error::Evaluation {
                message: format!("invalid regular expression: {e}"),
            })?;
        let compiled = Arc::new(compiled);
        self.regexes
            .borrow_mut()
            .insert(pattern.to_owned(), Arc::clone(&compiled));
        Ok(compiled)
    }

    /// A pseudo-random number in `[0, 1)` (xorshift seeded from the clock).
    pub(crate) fn random(&self) -> f64 {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn aggregate_result(&self, e: &Expr) -> Result<Val> {
        self.aggregates
            .borrow()
            .get(&(e as *const Expr as usize))
            .cloned()
            .ok_or_else(|| {
                Error::query(
                    0,
                    "aggregate functions are only allowed in WITH and RETURN (and their ORDER BY)",
                )
            })
    }

    /// Runs `pattern` (with an optional filter) from inside an expression, with every visible
    /// variable bound; `each` is called per match with the extended environment.
    pub(crate) fn match_in_expression(
        &self,
        pattern: &'q PathPattern,
        filter: Option<&'q Expr>,
        env: &Env<'q, '_>,
        each: &mut dyn FnMut(&Self, &mut Env<'q, '_>) -> Result<Flow>,
    ) -> Result<()> {
        let (names, vals) = env.flatten();
        let compiled =
            CompiledMatch::compile(std::slice::from_ref(pattern), &names, &[], filter, false)?;
        let _ = compiled.run(self, &vals, &mut |_, names, row| {
            let mut inner = Env::new(names, row);
            each(self, &mut inner)
        })?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------- stages

enum Stage<'q> {
    Match(CompiledMatch<'q>),
    /// `MATCH (n[:Label])` feeding only `count(*)` / `count(n)` grouped by `labels(n)`:
    /// answered from the label index, one weighted row per label.
    LabelCounts {
        label: Option<crate::model::Label>,
        impossible: bool,
    },
    Unwind {
        expr: &'q Expr,
        names: Vec<String>,
    },
    Project(Box<ProjectStage<'q>>),
}

struct ProjectStage<'q> {
    proj: &'q Projection,
    in_names: Vec<String>,
    out_names: Vec<String>,
    /// Expressions of the output columns (`*` expands to variables).
    exprs: Vec<ProjExpr<'q>>,
    aggregating: bool,
    blocking: bool,
    /// Aggregate calls of the items and of `ORDER BY`, in a fixed order.
    agg_calls: Vec<&'q Expr>,
    /// Buffered output rows with their input row (blocking, not aggregating).
    buffer: Vec<(Vec<Val>, Vec<Val>)>,
    groups: HashMap<Vec<Key>, usize>,
    group_rows: Vec<Group>,
    skip: usize,
    limit: Option<usize>,
    passed: usize,
    emitted: usize,
}

enum ProjExpr<'q> {
    Var(usize),
    Expr(&'q Expr),
}

struct Group {
    keys: Vec<Val>,
    input: Vec<Val>,
    accs: Vec<Acc>,
}

/// Where the last `RETURN` sends its rows.
pub(crate) struct Sink {
    pub rows: Vec<Vec<Val>>,
    pub stop_at: usize,
    pub seen: Option<HashSet<Vec<Key>>>,
}

impl Sink {
    fn push(&mut self, ctx: &Ctx<'_, '_>, row: Vec<Val>) -> Result<Flow> {
        if let Some(seen) = &mut self.seen
            && !seen.insert(row.iter().map(Key::of).collect())
        {
            return Ok(Flow::Continue(()));
        }
        ctx.charge(row.iter().map(Val::weight).sum())?;
        self.rows.push(row);
        Ok(if self.rows.len() >= self.stop_at {
            Flow::Break(())
        } else {
            Flow::Continue(())
        })
    }
}

/// Runs `query`; returns the column names and up to `stop_at` rows.
pub(crate) fn run(
    query: &Query,
    graph: &dyn QueryGraph,
    params: &BTreeMap<String, Value>,
    deadline: Deadline,
    limits: Limits,
    stop_at: usize,
) -> Result<(Vec<String>, Vec<Vec<Val>>)> {
    check_params(query, params)?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        | 1;
    let ctx = Ctx {
        graph,
        params,
        deadline,
        limits,
        used: Cell::new(0),
        ticks: Cell::new(0),
        aggregates: RefCell::new(HashMap::new()),
        regexes: RefCell::new(HashMap::new()),
        seed: Cell::new(seed),
        _query: std::marker::PhantomData,
    };
    let distinct_union = query.union_all.iter().any(|all| !all);
    let mut sink = Sink {
        rows: Vec::new(),
        stop_at,
        seen: distinct_union.then(HashSet::new),
    };
    let mut columns: Option<Vec<String>> = None;
    for part in &query.parts {
        let (mut stages, part_columns) = compile(part)?;
        if let Some(first) = &columns
            && *first != part_columns
        {
            return Err(Error::query(
                0,
                "all parts of a UNION must return the same column names",
            ));
        }
        columns = Some(part_columns);
        if stop_at == 0 {
            continue;
        }
        deadline.check()?;
        execute(&ctx, &mut stages, &mut sink)?;
        if sink.rows.len() >= sink.stop_at {
            break;
        }
    }
    Ok((columns.unwrap_or_default(), sink.rows))
}

fn check_params(query: &Query, params: &BTreeMap<String, Value>) -> Result<()> {
    let mut missing: Option<String> = None;
    let mut check = |e: &Expr| {
        if let Expr::Param(p) = e
            && !params.contains_key(p)
            && missing.is_none()
        {
            missing = Some(p.clone());
        }
    };
    for part in &query.parts {
        for clause in &part.clauses {
            visit_clause_exprs(clause, &mut check);
        }
    }
    match missing {
        Some(name) => Err(Error::MissingParameter { name }),
        None => Ok(()),
    }
}

fn visit_pattern_exprs<'a>(p: &'a PathPattern, f: &mut dyn FnMut(&'a Expr)) {
    if let Some(e) = &p.start.props {
        e.walk(f);
    }
    for (rel, node) in &p.steps {
        if let Some(e) = &rel.props {
            e.walk(f);
        }
        if let Some(e) = &node.props {
            e.walk(f);
        }
    }
}

fn visit_expr_deep<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    e.walk(&mut |x| {
        f(x);
        if let Expr::Exists(p, _) | Expr::PatternComp { pattern: p, .. } = x {
            visit_pattern_exprs(p, &mut |y| visit_expr_deep(y, f));
        }
    });
}

fn visit_clause_exprs<'a>(clause: &'a Clause, f: &mut dyn FnMut(&'a Expr)) {
    match clause {
        Clause::Match {
            patterns, filter, ..
        } => {
            for p in patterns {
                visit_pattern_exprs(p, &mut |e| visit_expr_deep(e, f));
            }
            if let Some(e) = filter {
                visit_expr_deep(e, f);
            }
        }
        Clause::Unwind { expr, .. } => visit_expr_deep(expr, f),
        Clause::With(p) | Clause::Return(p) => {
            for item in &p.items {
                visit_expr_deep(&item.expr, f);
            }
            for (e, _) in &p.order {
                visit_expr_deep(e, f);
            }
            for e in [&p.skip, &p.limit, &p.filter].into_iter().flatten() {
                visit_expr_deep(e, f);
            }
        }
    }
}

/// Names that an expression may use without them being in scope: variables it declares itself
/// (comprehensions, quantifiers, `reduce`, patterns inside expressions).
fn local_names(e: &Expr, out: &mut HashSet<String>) {
    e.walk(&mut |x| match x {
        Expr::ListComp { var, .. } | Expr::Quant { var, .. } => {
            out.insert(var.clone());
        }
        Expr::Reduce { acc, var, .. } => {
            out.insert(acc.clone());
            out.insert(var.clone());
        }
        Expr::Exists(p, _) | Expr::PatternComp { pattern: p, .. } => {
            pattern_vars(p, &mut |v| {
                out.insert(v.to_owned());
            });
            visit_pattern_exprs(p, &mut |y| local_names(y, out));
        }
        _ => {}
    });
}

fn pattern_vars(p: &PathPattern, f: &mut dyn FnMut(&str)) {
    if let Some(v) = &p.var {
        f(v);
    }
    if let Some(v) = &p.start.var {
        f(v);
    }
    for (rel, node) in &p.steps {
        if let Some(v) = &rel.var {
            f(v);
        }
        if let Some(v) = &node.var {
            f(v);
        }
    }
}

/// Refuses references to variables that are not in scope.
fn check_scope(e: &Expr, scope: &[String]) -> Result<()> {
    let mut locals = HashSet::new();
    local_names(e, &mut locals);
    let mut bad: Option<String> = None;
    let mut problem: Option<String> = None;
    visit_expr_deep(e, &mut |x| {
        if problem.is_some() {
            return;
        }
        let not_boolean = |o: &Expr| match o {
            Expr::Lit(v) => !matches!(v, Val::Bool(_) | Val::Null),
            Expr::List(_) | Expr::Map(_) => true,
            _ => false,
        };
        match x {
            Expr::Bin(BinOp::And | BinOp::Or | BinOp::Xor, a, b)
                if not_boolean(a) || not_boolean(b) =>
            {
                problem = Some("AND, OR and XOR take booleans".into());
            }
            Expr::Not(a) if not_boolean(a) => {
                problem = Some("NOT takes a boolean".into());
            }
            Expr::Exists(p, None) => {
                pattern_vars(p, &mut |v| {
                    if !scope.iter().any(|s| s == v) && problem.is_none() {
                        problem = Some(format!(
                            "a pattern used as a predicate cannot introduce the new variable `{v}` (use EXISTS {{ … }})"
                        ));
                    }
                });
            }
            _ => {}
        }
        let name = match x {
            Expr::Var(v) | Expr::MapProjection(v, _) => v,
            _ => return,
        };
        if bad.is_none() && !scope.contains(name) && !locals.contains(name) {
            bad = Some(name.clone());
        }
        if let Expr::MapProjection(_, items) = x {
            for item in items {
                if let MapItem::Variable(v) = item
                    && bad.is_none()
                    && !scope.contains(v)
                    && !locals.contains(v)
                {
                    bad = Some(v.clone());
                }
            }
        }
    });
    if let Some(p) = problem {
        return Err(Error::query(0, p));
    }
    match bad {
        Some(name) => Err(Error::query(0, format!("variable `{name}` not defined"))),
        None => Ok(()),
    }
}

/// What a projected expression is known to hold.
fn kind_of(e: &Expr, scope: &[String], kinds: &[Kind]) -> Kind {
    match e {
        Expr::Var(v) => scope
            .iter()
            .position(|n| n == v)
            .map_or(Kind::Unknown, |i| kinds[i]),
        Expr::Lit(Val::Null) | Expr::Param(_) => Kind::Unknown,
        Expr::Lit(_)
        | Expr::Map(_)
        | Expr::Prop(..)
        | Expr::Bin(..)
        | Expr::Not(_)
        | Expr::Neg(_)
        | Expr::IsNull(..)
        | Expr::HasLabels(..)
        | Expr::CountStar
        | Expr::Exists(..)
        | Expr::MapProjection(..) => Kind::Value,
        _ => Kind::Unknown,
    }
}

fn compile(part: &SingleQuery) -> Result<(Vec<Stage<'_>>, Vec<String>)> {
    let mut scope: Vec<String> = Vec::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut stages = Vec::new();
    let mut columns = Vec::new();
    let mut clauses: &[Clause] = &part.clauses;
    if let Some((label, impossible, var)) = label_count_shortcut(clauses) {
        stages.push(Stage::LabelCounts { label, impossible });
        if let Some(v) = var {
            scope.push(v);
            kinds.push(Kind::Node);
        }
        clauses = &clauses[1..];
    }
    for clause in clauses {
        match clause {
            Clause::Match {
                optional,
                patterns,
                filter,
            } => {
                let compiled =
                    CompiledMatch::compile(patterns, &scope, &kinds, filter.as_ref(), *optional)?;
                for p in patterns {
                    let mut result = Ok(());
                    visit_pattern_exprs(p, &mut |e| {
                        if result.is_ok() {
                            result = check_scope(e, compiled.out_names());
                        }
                    });
                    result?;
                }
                if let Some(f) = filter {
                    check_scope(f, compiled.out_names())?;
                    if f.contains_aggregate() {
                        return Err(Error::query(
                            0,
                            "aggregate functions are not allowed in WHERE",
                        ));
                    }
                }
                scope = compiled.out_names().to_vec();
                kinds = compiled.out_kinds().to_vec();
                stages.push(Stage::Match(compiled));
            }
            Clause::Unwind { expr, var } => {
                check_scope(expr, &scope)?;
                if scope.contains(var) {
                    return Err(Error::query(
                        0,
                        format!("variable `{var}` already declared"),
                    ));
                }
                scope.push(var.clone());
                kinds.push(Kind::Unknown);
                stages.push(Stage::Unwind {
                    expr,
                    names: scope.clone(),
                });
            }
            Clause::With(proj) | Clause::Return(proj) => {
                let stage = ProjectStage::compile(proj, &scope)?;
                let mut out_kinds = Vec::new();
                if proj.star {
                    let mut vars: Vec<(&String, Kind)> =
                        scope.iter().zip(kinds.iter().copied()).collect();
                    vars.sort_by(|a, b| a.0.cmp(b.0));
                    out_kinds.extend(vars.into_iter().map(|(_, k)| k));
                }
                for item in &proj.items {
                    out_kinds.push(kind_of(&item.expr, &scope, &kinds));
                }
                kinds = out_kinds;
                scope = stage.out_names.clone();
                if matches!(clause, Clause::Return(_)) {
                    columns = stage.out_names.clone();
                }
                stages.push(Stage::Project(Box::new(stage)));
            }
        }
    }
    Ok((stages, columns))
}

impl<'q> ProjectStage<'q> {
    fn compile(proj: &'q Projection, scope: &[String]) -> Result<Self> {
        let mut out_names = Vec::new();
        let mut exprs = Vec::new();
        if proj.star {
            let mut vars: Vec<(usize, &String)> = scope.iter().enumerate().collect();
            vars.sort_by(|a, b| a.1.cmp(b.1));
            for (i, name) in vars {
                out_names.push(name.clone());
                exprs.push(ProjExpr::Var(i));
            }
            if out_names.is_empty() && proj.items.is_empty() {
                return Err(Error::query(
                    0,
                    "RETURN * is not allowed when there are no variables in scope",
                ));
            }
        }
        for item in &proj.items {
            check_scope(&item.expr, scope)?;
            if out_names.contains(&item.name) {
                return Err(Error::query(
                    0,
                    format!("multiple result columns with the same name `{}`", item.name),
                ));
            }
            out_names.push(item.name.clone());
            exprs.push(ProjExpr::Expr(&item.expr));
        }
        let aggregating = proj.items.iter().any(|i| i.expr.contains_aggregate());
        let mut agg_calls: Vec<&'q Expr> = Vec::new();
        let mut collect_aggs = |e: &'q Expr| {
            e.walk(&mut |x| {
                if x.is_aggregate() {
                    agg_calls.push(x);
                }
            })
        };
        for item in &proj.items {
            collect_aggs(&item.expr);
        }
        if aggregating {
            let keys: Vec<&Expr> = proj
                .items
                .iter()
                .filter(|i| !i.expr.contains_aggregate())
                .map(|i| &i.expr)
                .collect();
            for item in proj.items.iter().filter(|i| i.expr.contains_aggregate()) {
                check_implicit_grouping(&item.expr, &keys, &[])?;
            }
            for (e, _) in &proj.order {
                if e.contains_aggregate() {
                    let mut keys = keys.clone();
                    let aliases: Vec<Expr> =
                        out_names.iter().map(|n| Expr::Var(n.clone())).collect();
                    keys.extend(aliases.iter());
                    check_implicit_grouping(e, &keys, &[])?;
                }
            }
        }
        let mut fallback_scope: Vec<String> = out_names.clone();
        fallback_scope.extend(scope.iter().cloned());
        for (e, _) in &proj.order {
            check_scope(e, &fallback_scope)?;
            if aggregating && !proj.items.iter().any(|i| i.expr == *e) {
                collect_aggs(e);
            } else if !aggregating && e.contains_aggregate() {
                return Err(Error::query(
                    0,
                    "ORDER BY may use an aggregate only when the projection aggregates",
                ));
            }
        }
        if let Some(f) = &proj.filter {
            check_scope(f, &fallback_scope)?;
            if f.contains_aggregate() {
                return Err(Error::query(
                    0,
                    "aggregate functions are not allowed in WHERE",
                ));
            }
        }
        for e in [&proj.skip, &proj.limit].into_iter().flatten() {
            check_scope(e, &[])?;
        }
        let blocking = aggregating || proj.distinct || !proj.order.is_empty();
        Ok(ProjectStage {
            proj,
            in_names: scope.to_vec(),
            out_names,
            exprs,
            aggregating,
            blocking,
            agg_calls,
            buffer: Vec::new(),
            groups: HashMap::new(),
            group_rows: Vec::new(),
            skip: 0,
            limit: None,
            passed: 0,
            emitted: 0,
        })
    }

    fn count_arg(
        ctx: &Ctx<'q, '_>,
        proj: &'q Projection,
        e: Option<&'q Expr>,
    ) -> Result<Option<usize>> {
        let Some(e) = e else { return Ok(None) };
        let _ = proj;
        match ctx.eval(e, &mut Env::new(&[], &[]))? {
            Val::Int(i) if i >= 0 => Ok(Some(i as usize)),
            other => Err(Error::Evaluation {
                message: format!(
                    "SKIP and LIMIT take a non-negative integer, got {}",
                    match other {
                        Val::Int(i) => i.to_string(),
                        v => format!("a {}", v.type_name()),
                    }
                ),
            }),
        }
    }

    fn prepare(&mut self, ctx: &Ctx<'q, '_>) -> Result<()> {
        self.skip = Self::count_arg(ctx, self.proj, self.proj.skip.as_ref())?.unwrap_or(0);
        self.limit = Self::count_arg(ctx, self.proj, self.proj.limit.as_ref())?;
        Ok(())
    }

    fn project(&self, ctx: &Ctx<'q, '_>, row: &[Val]) -> Result<Vec<Val>> {
        let mut out = Vec::with_capacity(self.exprs.len());
        let mut env = Env::new(&self.in_names, row);
        for e in &self.exprs {
            out.push(match e {
                ProjExpr::Var(i) => row[*i].clone(),
                ProjExpr::Expr(e) => ctx.eval(e, &mut env)?,
            });
        }
        Ok(out)
    }

    /// Takes `rows` identical input rows at once (the label-count shortcut: only counts).
    fn accept_rows(&mut self, ctx: &Ctx<'q, '_>, row: Vec<Val>, rows: u64) -> Result<()> {
        self.accept_weighted(ctx, row, Some(rows)).map(|_| ())
    }

    /// Takes one input row.
    fn accept(&mut self, ctx: &Ctx<'q, '_>, row: Vec<Val>) -> Result<Option<Vec<Val>>> {
        self.accept_weighted(ctx, row, None)
    }

    fn accept_weighted(
        &mut self,
        ctx: &Ctx<'q, '_>,
        row: Vec<Val>,
        rows: Option<u64>,
    ) -> Result<Option<Vec<Val>>> {
        if !self.aggregating {
            let out = self.project(ctx, &row)?;
            if !self.blocking {
                return Ok(Some(out));
            }
            ctx.charge(out.iter().chain(&row).map(Val::weight).sum())?;
            self.buffer.push((out, row));
            return Ok(None);
        }
        let mut env = Env::new(&self.in_names, &row);
        let mut keys = Vec::new();
        let mut key_vals = Vec::new();
        for e in &self.exprs {
            match e {
                ProjExpr::Var(i) => {
                    keys.push(Key::of(&row[*i]));
                    key_vals.push(row[*i].clone());
                }
                ProjExpr::Expr(e) if !e.contains_aggregate() => {
                    let v = ctx.eval(e, &mut env)?;
                    keys.push(Key::of(&v));
                    key_vals.push(v);
                }
                ProjExpr::Expr(_) => {}
            }
        }
        let index = match self.groups.get(&keys) {
            Some(i) => *i,
            None => {
                ctx.charge(key_vals.iter().chain(&row).map(Val::weight).sum::<usize>() + 64)?;
                let accs = self.agg_calls.iter().map(|e| Acc::new(e)).collect();
                self.group_rows.push(Group {
                    keys: key_vals,
                    input: row.clone(),
                    accs,
                });
                self.groups.insert(keys, self.group_rows.len() - 1);
                self.group_rows.len() - 1
            }
        };
        for (call, acc) in self.agg_calls.iter().zip(&mut self.group_rows[index].accs) {
            if let Some(n) = rows {
                acc.add_rows(n);
                continue;
            }
            let (value, extra) = match call {
                Expr::CountStar => (None, None),
                Expr::Call { args, name, .. } => {
                    if args.is_empty() || (args.len() > 1 && !name.starts_with("percentile")) {
                        return Err(Error::query(0, format!("{name}() takes one argument")));
                    }
                    if args.iter().any(Expr::contains_aggregate) {
                        return Err(Error::query(0, "aggregate functions cannot be nested"));
                    }
                    let v = ctx.eval(&args[0], &mut env)?;
                    let extra = match args.get(1) {
                        Some(e) => Some(ctx.eval(e, &mut env)?),
                        None => None,
                    };
                    (Some(v), extra)
                }
                _ => (None, None),
            };
            let held = acc.add(value, extra)?;
            ctx.charge(held)?;
        }
        Ok(None)
    }

    /// After the last input row: the output rows with their sort keys applied, skipped and
    /// limited.
    fn finish(&mut self, ctx: &Ctx<'q, '_>) -> Result<Vec<(Vec<Val>, Vec<Val>)>> {
        let mut rows: Vec<(Vec<Val>, Vec<Val>)> = Vec::new();
        if self.aggregating {
            if self.group_rows.is_empty()
                && self
                    .exprs
                    .iter()
                    .all(|e| matches!(e, ProjExpr::Expr(x) if x.contains_aggregate()))
            {
                self.group_rows.push(Group {
                    keys: Vec::new(),
                    input: vec![Val::Null; self.in_names.len()],
                    accs: self.agg_calls.iter().map(|e| Acc::new(e)).collect(),
                });
            }
            let groups = std::mem::take(&mut self.group_rows);
            let mut order_keys: Vec<Vec<Val>> = Vec::new();
            for group in groups {
                ctx.tick()?;
                let mut results = HashMap::new();
                for (call, acc) in self.agg_calls.iter().zip(group.accs) {
                    results.insert(*call as *const Expr as usize, acc.finish());
                }
                *ctx.aggregates.borrow_mut() = results;
                let mut out = Vec::with_capacity(self.exprs.len());
                let mut keys = group.keys.into_iter();
                let mut env = Env::new(&self.in_names, &group.input);
                for e in &self.exprs {
                    out.push(match e {
                        ProjExpr::Var(_) => keys.next().unwrap_or(Val::Null),
                        ProjExpr::Expr(x) if !x.contains_aggregate() => {
                            keys.next().unwrap_or(Val::Null)
                        }
                        ProjExpr::Expr(x) => ctx.eval(x, &mut env)?,
                    });
                }
                let sort = self.sort_keys(ctx, &out, &group.input)?;
                ctx.aggregates.borrow_mut().clear();
                order_keys.push(sort);
                rows.push((out, group.input));
            }
            let mut indexed: Vec<usize> = (0..rows.len()).collect();
            self.sort_indexes(&mut indexed, &order_keys);
            let mut taken: Vec<Option<(Vec<Val>, Vec<Val>)>> = rows.into_iter().map(Some).collect();
            rows = indexed
                .into_iter()
                .filter_map(|i| taken[i].take())
                .collect();
        } else {
            let buffer = std::mem::take(&mut self.buffer);
            let mut order_keys = Vec::with_capacity(buffer.len());
            for (out, input) in &buffer {
                ctx.tick()?;
                order_keys.push(self.sort_keys(ctx, out, input)?);
            }
            let mut indexed: Vec<usize> = (0..buffer.len()).collect();
            self.sort_indexes(&mut indexed, &order_keys);
            let mut taken: Vec<Option<(Vec<Val>, Vec<Val>)>> =
                buffer.into_iter().map(Some).collect();
            rows = indexed
                .into_iter()
                .filter_map(|i| taken[i].take())
                .collect();
        }
        if self.proj.distinct {
            let mut seen = HashSet::new();
            rows.retain(|(out, _)| seen.insert(out.iter().map(Key::of).collect::<Vec<_>>()));
        }
        let rows = rows.into_iter().skip(self.skip);
        Ok(match self.limit {
            Some(l) => rows.take(l).collect(),
            None => rows.collect(),
        })
    }

    fn sort_keys(&self, ctx: &Ctx<'q, '_>, out: &[Val], input: &[Val]) -> Result<Vec<Val>> {
        let mut keys = Vec::with_capacity(self.proj.order.len());
        for (e, _) in &self.proj.order {
            if let Some(i) = self.proj.items.iter().position(|item| item.expr == *e) {
                let offset = self.exprs.len() - self.proj.items.len();
                keys.push(out[offset + i].clone());
                continue;
            }
            let mut env = Env::new(&self.out_names, out);
            env.fallback = Some((&self.in_names, input));
            keys.push(ctx.eval(e, &mut env)?);
        }
        Ok(keys)
    }

    fn sort_indexes(&self, indexes: &mut [usize], keys: &[Vec<Val>]) {
        if self.proj.order.is_empty() {
            return;
        }
        indexes.sort_by(|&a, &b| {
            for (i, (_, desc)) in self.proj.order.iter().enumerate() {
                let o = order(&keys[a][i], &keys[b][i]);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }

    /// Applies `WITH … WHERE`.
    fn keep(&self, ctx: &Ctx<'q, '_>, out: &[Val], input: &[Val]) -> Result<bool> {
        let Some(filter) = &self.proj.filter else {
            return Ok(true);
        };
        let mut env = Env::new(&self.out_names, out);
        env.fallback = Some((&self.in_names, input));
        Ok(matches!(ctx.eval(filter, &mut env)?, Val::Bool(true)))
    }
}

/// Runs one single query's stages into `sink`.
fn execute<'q>(ctx: &Ctx<'q, '_>, stages: &mut [Stage<'q>], sink: &mut Sink) -> Result<()> {
    for stage in stages.iter_mut() {
        if let Stage::Project(p) = stage {
            p.prepare(ctx)?;
        }
    }
    if let [
        Stage::LabelCounts { label, impossible },
        Stage::Project(p),
        ..,
    ] = &mut stages[..]
    {
        if !*impossible {
            for (count, node) in ctx.graph().label_counts(label.as_ref())? {
                ctx.tick()?;
                let row = if p.in_names.is_empty() {
                    Vec::new()
                } else {
                    vec![Val::Node(node)]
                };
                p.accept_rows(ctx, row, count)?;
            }
        }
    } else {
        let _ = push(ctx, stages, sink, Vec::new())?;
    }
    for i in 0..stages.len() {
        let (head, tail) = stages.split_at_mut(i + 1);
        let Stage::Project(p) = &mut head[i] else {
            continue;
        };
        if !p.blocking {
            continue;
        }
        for (out, input) in p.finish(ctx)? {
            if !p.keep(ctx, &out, &input)? {
                continue;
            }
            if push(ctx, tail, sink, out)?.is_break() {
                break;
            }
        }
    }
    Ok(())
}

/// Sends one row into `stages[0]` (the sink when there are no stages left).
fn push<'q>(
    ctx: &Ctx<'q, '_>,
    stages: &mut [Stage<'q>],
    sink: &mut Sink,
    row: Vec<Val>,
) -> Result<Flow> {
    ctx.tick()?;
    let Some((head, tail)) = stages.split_first_mut() else {
        return sink.push(ctx, row);
    };
    match head {
        Stage::LabelCounts { .. } => Ok(Flow::Continue(())),
        Stage::Match(m) => m.run(ctx, &row, &mut |ctx, _, out| {
            push(ctx, tail, sink, out.to_vec())
        }),
        Stage::Unwind { expr, names } => {
            if let Expr::Call { name, args, .. } = expr
                && name == "range"
            {
                return unwind_range(ctx, args, names, tail, sink, row);
            }
            let value = {
                let mut env = Env::new(&names[..names.len() - 1], &row);
                ctx.eval(expr, &mut env)?
            };
            let items: Vec<Val> = match value {
                Val::Null => Vec::new(),
                Val::List(items) => items.as_ref().clone(),
                other => vec![other],
            };
            for item in items {
                let mut next = row.clone();
                next.push(item);
                if push(ctx, tail, sink, next)?.is_break() {
                    return Ok(Flow::Break(()));
                }
            }
            Ok(Flow::Continue(()))
        }
        Stage::Project(p) => {
            if p.blocking {
                p.accept(ctx, row)?;
                return Ok(Flow::Continue(()));
            }
            if p.limit.is_some_and(|l| p.emitted >= l) {
                return Ok(Flow::Break(()));
            }
            let Some(out) = p.accept(ctx, row.clone())? else {
                return Ok(Flow::Continue(()));
            };
            p.passed += 1;
            if p.passed <= p.skip {
                return Ok(Flow::Continue(()));
            }
            p.emitted += 1;
            let at_limit = p.limit.is_some_and(|l| p.emitted >= l);
            let flow = if p.keep(ctx, &out, &row)? {
                push(ctx, tail, sink, out)?
            } else {
                Flow::Continue(())
            };
            Ok(if at_limit { Flow::Break(()) } else { flow })
        }
    }
}

/// `UNWIND range(…) AS x` without building the list.
fn unwind_range<'q>(
    ctx: &Ctx<'q, '_>,
    args: &'q [Expr],
    names: &[String],
    tail: &mut [Stage<'q>],
    sink: &mut Sink,
    row: Vec<Val>,
) -> Result<Flow> {
    let mut values = Vec::with_capacity(args.len());
    {
        let mut env = Env::new(&names[..names.len() - 1], &row);
        for a in args {
            values.push(ctx.eval(a, &mut env)?);
        }
    }
    let int = |v: &Val| match v {
        Val::Int(i) => Ok(*i),
        other => Err(Error::Evaluation {
            message: format!("range() takes integers, got a {}", other.type_name()),
        }),
    };
    if !(2..=3).contains(&values.len()) {
        return Err(Error::query(0, "range() takes 2 or 3 arguments"));
    }
    let (start, end) = (int(&values[0])?, int(&values[1])?);
    let step = match values.get(2) {
        Some(v) => int(v)?,
        None => 1,
    };
    if step == 0 {
        return Err(Error::Evaluation {
            message: "range() step must not be zero".into(),
        });
    }
    let mut x = i128::from(start);
    while (step > 0 && x <= i128::from(end)) || (step < 0 && x >= i128::from(end)) {
        let mut next = row.clone();
        next.push(Val::Int(x as i64));
        if push(ctx, tail, sink, next)?.is_break() {
            return Ok(Flow::Break(()));
        }
        x += i128::from(step);
    }
    Ok(Flow::Continue(()))
}

/// Refuses an aggregating expression that uses a variable outside its aggregates without
/// that variable (or expression) being a grouping key: `RETURN count(q) * 100 / total`
/// where `total` is not returned (openCypher's rule on implicit grouping keys).
fn check_implicit_grouping(e: &Expr, keys: &[&Expr], locals: &[&str]) -> Result<()> {
    if e.is_aggregate() || keys.contains(&e) {
        return Ok(());
    }
    match e {
        Expr::Var(v) if !locals.contains(&v.as_str()) => Err(Error::query(
            0,
            format!(
                "`{v}` is used next to an aggregate but is not a grouping key: return it, or use it inside the aggregate"
            ),
        )),
        Expr::ListComp {
            var,
            list,
            filter,
            map,
        } => {
            check_implicit_grouping(list, keys, locals)?;
            let mut inner = locals.to_vec();
            inner.push(var);
            for x in [filter, map].into_iter().flatten() {
                check_implicit_grouping(x, keys, &inner)?;
            }
            Ok(())
        }
        Expr::Quant {
            var, list, filter, ..
        } => {
            check_implicit_grouping(list, keys, locals)?;
            let mut inner = locals.to_vec();
            inner.push(var);
            check_implicit_grouping(filter, keys, &inner)
        }
        Expr::Reduce {
            acc,
            init,
            var,
            list,
            expr,
        } => {
            check_implicit_grouping(init, keys, locals)?;
            check_implicit_grouping(list, keys, locals)?;
            let mut inner = locals.to_vec();
            inner.push(acc);
            inner.push(var);
            check_implicit_grouping(expr, keys, &inner)
        }
        Expr::Exists(..) | Expr::PatternComp { .. } | Expr::MapProjection(..) => Ok(()),
        other => {
            let mut result = Ok(());
            for child in children(other) {
                if result.is_ok() {
                    result = check_implicit_grouping(child, keys, locals);
                }
            }
            result
        }
    }
}

/// The direct sub-expressions of `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Prop(a, _)
        | Expr::Not(a)
        | Expr::Neg(a)
        | Expr::IsNull(a, _)
        | Expr::HasLabels(a, _) => {
            vec![a]
        }
        Expr::List(items) => items.iter().collect(),
        Expr::Map(items) => items.iter().map(|(_, e)| e).collect(),
        Expr::Index(a, b) | Expr::Bin(_, a, b) => vec![a, b],
        Expr::Slice(a, b, c) => {
            let mut v: Vec<&Expr> = vec![a];
            v.extend(b.as_deref());
            v.extend(c.as_deref());
            v
        }
        Expr::Call { args, .. } => args.iter().collect(),
        Expr::Case {
            subject,
            whens,
            otherwise,
        } => {
            let mut v: Vec<&Expr> = subject.as_deref().into_iter().collect();
            for (w, t) in whens {
                v.push(w);
                v.push(t);
            }
            v.extend(otherwise.as_deref());
            v
        }
        _ => Vec::new(),
    }
}

/// Whether a query starts with `MATCH (n[:Label])` (no properties, no `WHERE`) followed by an
/// aggregating projection that uses `n` only in `count(n)`, `count(*)` and `labels(n)`: then
/// the label index answers it (Neo4j's count store does the same). Returns the label, whether
/// the label can never match, and the node variable.
fn label_count_shortcut(
    clauses: &[Clause],
) -> Option<(Option<crate::model::Label>, bool, Option<String>)> {
    let [
        Clause::Match {
            optional: false,
            patterns,
            filter: None,
        },
        Clause::With(proj) | Clause::Return(proj),
        ..,
    ] = clauses
    else {
        return None;
    };
    let [pattern] = patterns.as_slice() else {
        return None;
    };
    if pattern.var.is_some()
        || pattern.shortest.is_some()
        || !pattern.steps.is_empty()
        || pattern.start.props.is_some()
        || pattern.start.labels.len() > 1
        || proj.star
        || !proj.items.iter().any(|i| i.expr.contains_aggregate())
    {
        return None;
    }
    let var = pattern.start.var.clone();
    let is_var = |e: &Expr| matches!((e, &var), (Expr::Var(a), Some(b)) if a == b);
    let mut ok = true;
    let mut uses = 0usize;
    let mut allowed = 0usize;
    let exprs = proj
        .items
        .iter()
        .map(|i| &i.expr)
        .chain(proj.order.iter().map(|(e, _)| e));
    for e in exprs {
        e.walk(&mut |x| match x {
            Expr::Var(_) => uses += 1,
            Expr::CountStar => {}
            Expr::Call {
                name,
                distinct,
                args,
            } if name == "count" => {
                if *distinct || !matches!(args.as_slice(), [a] if is_var(a)) {
                    ok = false;
                }
                allowed += 1;
            }
            Expr::Call { name, args, .. }
                if name == "labels" && matches!(args.as_slice(), [a] if is_var(a)) =>
            {
                allowed += 1;
            }
            e if e.is_aggregate() => ok = false,
            Expr::Exists(..) | Expr::PatternComp { .. } | Expr::MapProjection(..) => ok = false,
            _ => {}
        });
    }
    if !ok || uses != allowed {
        return None;
    }
    let (label, impossible) = match pattern.start.labels.first() {
        None => (None, false),
        Some(l) => match crate::model::Label::new(l.as_str()) {
            Ok(l) => (Some(l), false),
            Err(_) => (None, true),
        },
    };
    Some((label, impossible, var))
}
