//! Pattern matching: `MATCH` and `OPTIONAL MATCH`, and patterns inside expressions.
//!
//! Each path is matched from its most selective end (a bound variable, then a key lookup,
//! then a label scan, then all nodes). Relationships are matched at most once per `MATCH`
//! (Cypher's relationship isomorphism), which also bounds variable-length expansion.

use super::ast::{Expr, NodePat, PathPattern, RelPat, Shortest};
use super::exec::{Ctx, Env, Flow};
use super::expr::{KEY_PROPERTY, property, truth, type_error};
use super::graph::{NodeData, RelData};
use super::val::{PathVal, Val, equals};
use crate::model::{Direction, Label, NodeKey, RelType};
use crate::{Error, Result};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What a variable is known to hold, for the checks made before running.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Node,
    Rel,
    RelList,
    Path,
    /// Definitely not a node, relationship or path (a literal, arithmetic, a property).
    Value,
    Unknown,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Node => "a node",
            Kind::Rel => "a relationship",
            Kind::RelList => "a list of relationships",
            Kind::Path => "a path",
            Kind::Value => "a value",
            Kind::Unknown => "unknown",
        }
    }
}

struct CNode<'q> {
    slot: Option<usize>,
    /// `None` when the pattern names a label no node can have.
    labels: Option<Vec<Label>>,
    props: Option<&'q Expr>,
}

struct CRel<'q> {
    slot: Option<usize>,
    /// `None` when every named type is one no relationship can have.
    types: Option<Vec<RelType>>,
    direction: Direction,
    props: Option<&'q Expr>,
    range: Option<(u32, Option<u32>)>,
}

struct CPath<'q> {
    slot: Option<usize>,
    shortest: Option<Shortest>,
    nodes: Vec<CNode<'q>>,
    rels: Vec<CRel<'q>>,
}

/// A compiled `MATCH` clause (or a pattern inside an expression).
pub(crate) struct CompiledMatch<'q> {
    paths: Vec<CPath<'q>>,
    out: Vec<String>,
    kinds: Vec<Kind>,
    filter: Option<&'q Expr>,
    optional: bool,
}

struct State {
    row: Vec<Val>,
    bound: Vec<bool>,
    used: Vec<u64>,
}

/// The relationships and nodes walked so far: `(relationship, node reached)`.
type Trail = Vec<(Arc<RelData>, Arc<NodeData>)>;

/// Breadth-first search state: node id → (depth, parents).
type Parents = HashMap<u64, (u32, Trail)>;

/// Called with each candidate start node.
type EachStart<'e, 'q> = &'e mut dyn FnMut(&Ctx<'q, '_>, &mut State, Arc<NodeData>) -> Result<Flow>;

type Emit<'e, 'q> = &'e mut dyn FnMut(&Ctx<'q, '_>, &[String], &[Val]) -> Result<Flow>;

/// Variables of a `MATCH` being compiled: names, what each holds, and which ones this clause
/// declared.
struct Vars {
    out: Vec<String>,
    kinds: Vec<Kind>,
    declared_here: Vec<bool>,
}

impl Vars {
    /// The slot of `var`, declared as `kind` (a conflict with what it already is is an error).
    fn slot(&mut self, var: &Option<String>, kind: Kind) -> Result<Option<usize>> {
        let Some(var) = var else { return Ok(None) };
        if let Some(i) = self.out.iter().position(|n| n == var) {
            let known = self.kinds[i];
            let reuse_ok = match kind {
                Kind::Node => matches!(known, Kind::Node | Kind::Unknown),
                Kind::Rel | Kind::RelList => {
                    !self.declared_here[i] && (known == kind || known == Kind::Unknown)
                }
                _ => false,
            };
            if !reuse_ok {
                let what = if self.declared_here[i] && known == kind {
                    "used elsewhere in this pattern"
                } else {
                    known.name()
                };
                return Err(Error::query(
                    0,
                    format!(
                        "variable `{var}` is already {what} and cannot also be {}",
                        kind.name()
                    ),
                ));
            }
            if known == Kind::Unknown {
                self.kinds[i] = kind;
            }
            return Ok(Some(i));
        }
        self.out.push(var.clone());
        self.kinds.push(kind);
        self.declared_here.push(true);
        Ok(Some(self.out.len() - 1))
    }
}

fn compile_node<'q>(vars: &mut Vars, n: &'q NodePat) -> Result<CNode<'q>> {
    let labels: Option<Vec<Label>> = n
        .labels
        .iter()
        .map(|l| Label::new(l.as_str()).ok())
        .collect();
    Ok(CNode {
        slot: vars.slot(&n.var, Kind::Node)?,
        labels,
        props: n.props.as_ref(),
    })
}

fn compile_rel<'q>(vars: &mut Vars, r: &'q RelPat) -> Result<CRel<'q>> {
    let valid: Vec<RelType> = r
        .types
        .iter()
        .filter_map(|t| RelType::new(t.as_str()).ok())
        .collect();
    let kind = if r.range.is_some() {
        Kind::RelList
    } else {
        Kind::Rel
    };
    Ok(CRel {
        slot: vars.slot(&r.var, kind)?,
        types: if r.types.is_empty() || !valid.is_empty() {
            Some(valid)
        } else {
            None
        },
        direction: r.direction,
        props: r.props.as_ref(),
        range: r.range,
    })
}

impl<'q> CompiledMatch<'q> {
    pub(crate) fn compile(
        patterns: &'q [PathPattern],
        in_names: &[String],
        in_kinds: &[Kind],
        filter: Option<&'q Expr>,
        optional: bool,
    ) -> Result<Self> {
        let mut vars = Vars {
            out: in_names.to_vec(),
            kinds: in_kinds.to_vec(),
            declared_here: vec![false; in_names.len()],
        };
        vars.kinds.resize(in_names.len(), Kind::Unknown);
        let mut paths = Vec::new();
        for p in patterns {
            let mut nodes = vec![compile_node(&mut vars, &p.start)?];
            let mut rels = Vec::new();
            for (r, n) in &p.steps {
                rels.push(compile_rel(&mut vars, r)?);
                nodes.push(compile_node(&mut vars, n)?);
            }
            let slot = vars.slot(&p.var, Kind::Path)?;
            paths.push(CPath {
                slot,
                shortest: p.shortest,
                nodes,
                rels,
            });
        }
        Ok(CompiledMatch {
            paths,
            out: vars.out,
            kinds: vars.kinds,
            filter,
            optional,
        })
    }

    pub(crate) fn out_kinds(&self) -> &[Kind] {
        &self.kinds
    }

    pub(crate) fn out_names(&self) -> &[String] {
        &self.out
    }

    /// Calls `emit` with every match extending `input` (and, for `OPTIONAL MATCH` without a
    /// match, once with the new variables null).
    pub(crate) fn run(&self, ctx: &Ctx<'q, '_>, input: &[Val], emit: Emit<'_, 'q>) -> Result<Flow> {
        let mut st = State {
            row: input.to_vec(),
            bound: vec![true; input.len()],
            used: Vec::new(),
        };
        st.row.resize(self.out.len(), Val::Null);
        st.bound.resize(self.out.len(), false);
        let mut matched = false;
        let flow = self.paths_from(ctx, 0, &mut st, &mut |ctx, st| {
            if let Some(filter) = self.filter {
                let mut env = Env::new(&self.out, &st.row);
                if truth(&ctx.eval(filter, &mut env)?)? != Some(true) {
                    return Ok(Flow::Continue(()));
                }
            }
            matched = true;
            emit(ctx, &self.out, &st.row)
        })?;
        if self.optional && !matched {
            let mut row = input.to_vec();
            row.resize(self.out.len(), Val::Null);
            return emit(ctx, &self.out, &row);
        }
        Ok(flow)
    }

    fn paths_from(
        &self,
        ctx: &Ctx<'q, '_>,
        index: usize,
        st: &mut State,
        k: &mut dyn FnMut(&Ctx<'q, '_>, &mut State) -> Result<Flow>,
    ) -> Result<Flow> {
        let Some(path) = self.paths.get(index) else {
            return k(ctx, st);
        };
        self.match_path(ctx, path, st, &mut |ctx, st| {
            self.paths_from(ctx, index + 1, st, k)
        })
    }

    fn is_bound(&self, st: &State, slot: Option<usize>) -> bool {
        slot.is_some_and(|s| st.bound[s])
    }

    /// How cheap it is to start from this node pattern (higher is cheaper).
    fn start_score(&self, st: &State, n: &CNode<'q>) -> u8 {
        if self.is_bound(st, n.slot) {
            return 4;
        }
        let keyed = matches!(n.props, Some(Expr::Map(entries)) if entries.iter().any(|(k, _)| k == KEY_PROPERTY));
        match &n.labels {
            None => 5,
            Some(l) if !l.is_empty() && keyed => 3,
            Some(l) if !l.is_empty() => 2,
            _ if n.props.is_some() => 1,
            _ => 0,
        }
    }

    fn match_path(
        &self,
        ctx: &Ctx<'q, '_>,
        path: &CPath<'q>,
        st: &mut State,
        k: &mut dyn FnMut(&Ctx<'q, '_>, &mut State) -> Result<Flow>,
    ) -> Result<Flow> {
        let last = path.nodes.len() - 1;
        let reversed = last > 0
            && self.start_score(st, &path.nodes[last]) > self.start_score(st, &path.nodes[0]);
        let first = if reversed {
            &path.nodes[last]
        } else {
            &path.nodes[0]
        };
        let mut trail: Vec<(Arc<RelData>, Arc<NodeData>)> = Vec::new();
        let mut each_start =
            |ctx: &Ctx<'q, '_>, st: &mut State, node: Arc<NodeData>| -> Result<Flow> {
                ctx.tick()?;
                let Some(undo) = self.bind_node(ctx, st, first, &node)? else {
                    return Ok(Flow::Continue(()));
                };
                let flow = if let Some(mode) = path.shortest {
                    self.shortest(ctx, path, reversed, node, mode, st, k)
                } else {
                    self.step(
                        ctx,
                        path,
                        reversed,
                        0,
                        node.clone(),
                        &node,
                        &mut trail,
                        st,
                        k,
                    )
                };
                self.unbind(st, undo);
                flow
            };
        self.start_nodes(ctx, st, first, &mut each_start)
    }

    /// Enumerates candidates for the first node of a path.
    fn start_nodes(
        &self,
        ctx: &Ctx<'q, '_>,
        st: &mut State,
        n: &CNode<'q>,
        each: EachStart<'_, 'q>,
    ) -> Result<Flow> {
        let Some(labels) = &n.labels else {
            return Ok(Flow::Continue(()));
        };
        if let Some(slot) = n.slot
            && st.bound[slot]
        {
            return match st.row[slot].clone() {
                Val::Null => Ok(Flow::Continue(())),
                Val::Node(node) => each(ctx, st, node),
                other => Err(type_error(format!(
                    "variable `{}` is a {}, not a node",
                    self.out[slot],
                    other.type_name()
                ))),
            };
        }
        if let (Some(label), Some(Expr::Map(entries))) = (labels.first(), n.props)
            && let Some((_, key_expr)) = entries.iter().find(|(k, _)| k == KEY_PROPERTY)
        {
            let key = {
                let mut env = Env::new(&self.out, &st.row);
                ctx.eval(key_expr, &mut env)?
            };
            let Val::Str(key) = key else {
                return Ok(Flow::Continue(()));
            };
            let Ok(key) = NodeKey::new(&*key) else {
                return Ok(Flow::Continue(()));
            };
            return match ctx.graph().lookup(label, &key)? {
                Some(node) => each(ctx, st, node),
                None => Ok(Flow::Continue(())),
            };
        }
        let mut flow = Flow::Continue(());
        ctx.graph().scan(labels.first(), &mut |node| {
            flow = each(ctx, st, node)?;
            Ok(flow)
        })?;
        Ok(flow)
    }

    /// Checks `node` against a node pattern and binds its variable. `None`: no match;
    /// `Some(true)`: the variable was newly bound (unbind afterwards).
    fn bind_node(
        &self,
        ctx: &Ctx<'q, '_>,
        st: &mut State,
        n: &CNode<'q>,
        node: &Arc<NodeData>,
    ) -> Result<Option<Option<usize>>> {
        let Some(labels) = &n.labels else {
            return Ok(None);
        };
        if labels.iter().any(|l| *l != node.label) {
            return Ok(None);
        }
        if let Some(slot) = n.slot
            && st.bound[slot]
        {
            return Ok(match &st.row[slot] {
                Val::Node(b) if b.id == node.id => Some(None),
                _ => None,
            });
        }
        if let Some(props) = n.props
            && !self.props_match(ctx, st, props, &Val::Node(Arc::clone(node)))?
        {
            return Ok(None);
        }
        Ok(Some(n.slot.inspect(|&slot| {
            st.row[slot] = Val::Node(Arc::clone(node));
            st.bound[slot] = true;
        })))
    }

    fn unbind(&self, st: &mut State, undo: Option<usize>) {
        if let Some(slot) = undo {
            st.bound[slot] = false;
            st.row[slot] = Val::Null;
        }
    }

    /// Whether every entry of a pattern's property map equals the element's property.
    fn props_match(
        &self,
        ctx: &Ctx<'q, '_>,
        st: &State,
        props: &'q Expr,
        element: &Val,
    ) -> Result<bool> {
        let mut env = Env::new(&self.out, &st.row);
        match props {
            Expr::Map(entries) => {
                for (key, e) in entries {
                    let wanted = ctx.eval(e, &mut env)?;
                    if equals(&property(element, key)?, &wanted) != Some(true) {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            other => match ctx.eval(other, &mut env)? {
                Val::Map(m) => {
                    for (key, wanted) in m.iter() {
                        if equals(&property(element, key)?, wanted) != Some(true) {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
                Val::Null => Ok(false),
                v => Err(type_error(format!(
                    "a pattern's properties must be a map, got a {}",
                    v.type_name()
                ))),
            },
        }
    }

    fn rel_matches(
        &self,
        ctx: &Ctx<'q, '_>,
        st: &State,
        r: &CRel<'q>,
        rel: &Arc<RelData>,
    ) -> Result<bool> {
        if st.used.contains(&rel.id) {
            return Ok(false);
        }
        match r.props {
            Some(props) => self.props_match(ctx, st, props, &Val::Rel(Arc::clone(rel))),
            None => Ok(true),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        ctx: &Ctx<'q, '_>,
        path: &CPath<'q>,
        reversed: bool,
        i: usize,
        cur: Arc<NodeData>,
        start: &Arc<NodeData>,
        trail: &mut Vec<(Arc<RelData>, Arc<NodeData>)>,
        st: &mut State,
        k: &mut dyn FnMut(&Ctx<'q, '_>, &mut State) -> Result<Flow>,
    ) -> Result<Flow> {
        let n = path.rels.len();
        if i == n {
            let Some(slot) = path.slot else {
                return k(ctx, st);
            };
            st.row[slot] = Val::Path(Arc::new(build_path(start, trail, reversed)));
            st.bound[slot] = true;
            let flow = k(ctx, st);
            st.bound[slot] = false;
            st.row[slot] = Val::Null;
            return flow;
        }
        let (ri, ni) = if reversed {
            (n - 1 - i, n - 1 - i)
        } else {
            (i, i + 1)
        };
        let rel = &path.rels[ri];
        let next = &path.nodes[ni];
        let Some(types) = &rel.types else {
            return Ok(Flow::Continue(()));
        };
        let direction = if reversed {
            flip(rel.direction)
        } else {
            rel.direction
        };
        let Some((min, max)) = rel.range else {
            let mut hops = Vec::new();
            ctx.graph().expand(cur.id, direction, types, &mut |hop| {
                hops.push(hop);
                Ok(Flow::Continue(()))
            })?;
            ctx.charge(hops.len() * 48)?;
            for (r, other) in hops {
                ctx.tick()?;
                if !self.rel_matches(ctx, st, rel, &r)? {
                    continue;
                }
                let rel_undo = match rel.slot {
                    Some(slot) if st.bound[slot] => {
                        if !matches!(&st.row[slot], Val::Rel(b) if b.id == r.id) {
                            continue;
                        }
                        None
                    }
                    Some(slot) => {
                        st.row[slot] = Val::Rel(Arc::clone(&r));
                        st.bound[slot] = true;
                        Some(slot)
                    }
                    None => None,
                };
                let Some(undo) = self.bind_node(ctx, st, next, &other)? else {
                    self.unbind(st, rel_undo);
                    continue;
                };
                st.used.push(r.id);
                trail.push((r, Arc::clone(&other)));
                let flow = self.step(ctx, path, reversed, i + 1, other, start, trail, st, k);
                trail.pop();
                st.used.pop();
                self.unbind(st, undo);
                self.unbind(st, rel_undo);
                if flow?.is_break() {
                    return Ok(Flow::Break(()));
                }
            }
            return Ok(Flow::Continue(()));
        };
        let base = trail.len();
        self.var_length(
            ctx, path, reversed, i, rel, types, direction, next, min, max, 0, cur, start, base,
            trail, st, k,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn var_length(
        &self,
        ctx: &Ctx<'q, '_>,
        path: &CPath<'q>,
        reversed: bool,
        i: usize,
        rel: &CRel<'q>,
        types: &[RelType],
        direction: Direction,
        next: &CNode<'q>,
        min: u32,
        max: Option<u32>,
        depth: u32,
        cur: Arc<NodeData>,
        start: &Arc<NodeData>,
        base: usize,
        trail: &mut Vec<(Arc<RelData>, Arc<NodeData>)>,
        st: &mut State,
        k: &mut dyn FnMut(&Ctx<'q, '_>, &mut State) -> Result<Flow>,
    ) -> Result<Flow> {
        ctx.tick()?;
        if depth >= min {
            let mut rels: Vec<Val> = trail[base..]
                .iter()
                .map(|(r, _)| Val::Rel(Arc::clone(r)))
                .collect();
            if reversed {
                rels.reverse();
            }
            let list = Val::list(rels);
            let rel_undo = match rel.slot {
                Some(slot) if st.bound[slot] => {
                    if equals(&st.row[slot], &list) != Some(true) {
                        return Ok(Flow::Continue(()));
                    }
                    None
                }
                Some(slot) => {
                    st.row[slot] = list;
                    st.bound[slot] = true;
                    Some(slot)
                }
                None => None,
            };
            if let Some(undo) = self.bind_node(ctx, st, next, &cur)? {
                let flow = self.step(
                    ctx,
                    path,
                    reversed,
                    i + 1,
                    Arc::clone(&cur),
                    start,
                    trail,
                    st,
                    k,
                );
                self.unbind(st, undo);
                if flow?.is_break() {
                    self.unbind(st, rel_undo);
                    return Ok(Flow::Break(()));
                }
            }
            self.unbind(st, rel_undo);
        }
        if max.is_some_and(|m| depth >= m) {
            return Ok(Flow::Continue(()));
        }
        let mut hops = Vec::new();
        ctx.graph().expand(cur.id, direction, types, &mut |hop| {
            hops.push(hop);
            Ok(Flow::Continue(()))
        })?;
        ctx.charge(hops.len() * 48)?;
        for (r, other) in hops {
            if !self.rel_matches(ctx, st, rel, &r)? {
                continue;
            }
            st.used.push(r.id);
            trail.push((r, Arc::clone(&other)));
            let flow = self.var_length(
                ctx,
                path,
                reversed,
                i,
                rel,
                types,
                direction,
                next,
                min,
                max,
                depth + 1,
                other,
                start,
                base,
                trail,
                st,
                k,
            );
            trail.pop();
            st.used.pop();
            if flow?.is_break() {
                return Ok(Flow::Break(()));
            }
        }
        Ok(Flow::Continue(()))
    }

    /// `shortestPath` / `allShortestPaths`: breadth-first from the start node to every node
    /// matching the other end, keeping the paths of minimal length.
    #[allow(clippy::too_many_arguments)]
    fn shortest(
        &self,
        ctx: &Ctx<'q, '_>,
        path: &CPath<'q>,
        reversed: bool,
        start: Arc<NodeData>,
        mode: Shortest,
        st: &mut State,
        k: &mut dyn FnMut(&Ctx<'q, '_>, &mut State) -> Result<Flow>,
    ) -> Result<Flow> {
        let rel = &path.rels[0];
        let end = if reversed {
            &path.nodes[0]
        } else {
            &path.nodes[1]
        };
        let Some(types) = &rel.types else {
            return Ok(Flow::Continue(()));
        };
        let direction = if reversed {
            flip(rel.direction)
        } else {
            rel.direction
        };
        let (min, max) = rel.range.unwrap_or((1, Some(1)));
        if min > 1 {
            return Err(Error::unsupported(
                "shortestPath with a minimum length above 1",
            ));
        }
        // node id -> (depth, parents (rel, parent node))
        let mut seen: Parents = HashMap::new();
        let mut nodes: HashMap<u64, Arc<NodeData>> = HashMap::new();
        seen.insert(start.id, (0, Vec::new()));
        nodes.insert(start.id, Arc::clone(&start));
        let mut frontier = VecDeque::from([Arc::clone(&start)]);
        let mut found_at: Option<u32> = None;
        let mut targets: Vec<Arc<NodeData>> = Vec::new();
        if min == 0
            && self
                .bind_node(ctx, st, end, &start)?
                .map(|u| self.unbind(st, u))
                .is_some()
        {
            targets.push(Arc::clone(&start));
            found_at = Some(0);
        }
        while let Some(node) = frontier.pop_front() {
            ctx.tick()?;
            let depth = seen[&node.id].0;
            if found_at.is_some_and(|f| depth >= f) || max.is_some_and(|m| depth >= m) {
                continue;
            }
            let mut hops = Vec::new();
            ctx.graph().expand(node.id, direction, types, &mut |hop| {
                hops.push(hop);
                Ok(Flow::Continue(()))
            })?;
            for (r, other) in hops {
                if let Some(props) = rel.props
                    && !self.props_match(ctx, st, props, &Val::Rel(Arc::clone(&r)))?
                {
                    continue;
                }
                match seen.get_mut(&other.id) {
                    Some((d, parents)) if *d == depth + 1 => {
                        parents.push((r, Arc::clone(&node)));
                    }
                    Some(_) => {}
                    None => {
                        ctx.charge(96)?;
                        seen.insert(other.id, (depth + 1, vec![(r, Arc::clone(&node))]));
                        nodes.insert(other.id, Arc::clone(&other));
                        if self
                            .bind_node(ctx, st, end, &other)?
                            .map(|u| self.unbind(st, u))
                            .is_some()
                        {
                            targets.push(Arc::clone(&other));
                            found_at.get_or_insert(depth + 1);
                        }
                        frontier.push_back(other);
                    }
                }
            }
        }
        for target in targets {
            let mut paths: Vec<Vec<(Arc<RelData>, Arc<NodeData>)>> = Vec::new();
            collect_paths(&seen, &target, &mut Vec::new(), &mut paths, mode, ctx)?;
            for steps in paths {
                // steps go from the start towards the target
                let Some(undo_end) = self.bind_node(ctx, st, end, &target)? else {
                    continue;
                };
                let rels: Vec<Val> = steps.iter().map(|(r, _)| Val::Rel(Arc::clone(r))).collect();
                let rel_undo = rel.slot.filter(|s| !st.bound[*s]).inspect(|&slot| {
                    let mut rels = rels.clone();
                    if reversed {
                        rels.reverse();
                    }
                    st.row[slot] = Val::list(rels);
                    st.bound[slot] = true;
                });
                let built = build_path(&start, &steps, reversed);
                let path_undo = path.slot.inspect(|&slot| {
                    st.row[slot] = Val::Path(Arc::new(built));
                    st.bound[slot] = true;
                });
                let flow = k(ctx, st);
                self.unbind(st, path_undo);
                self.unbind(st, rel_undo);
                self.unbind(st, undo_end);
                if flow?.is_break() {
                    return Ok(Flow::Break(()));
                }
            }
        }
        Ok(Flow::Continue(()))
    }
}

/// Paths from the search's start to `node`, following parents (all of them, or the first).
fn collect_paths(
    seen: &Parents,
    node: &Arc<NodeData>,
    suffix: &mut Vec<(Arc<RelData>, Arc<NodeData>)>,
    out: &mut Vec<Vec<(Arc<RelData>, Arc<NodeData>)>>,
    mode: Shortest,
    ctx: &Ctx<'_, '_>,
) -> Result<()> {
    ctx.tick()?;
    let parents = &seen[&node.id].1;
    if parents.is_empty() {
        let mut steps = suffix.clone();
        steps.reverse();
        ctx.charge(48 * steps.len())?;
        out.push(steps);
        return Ok(());
    }
    for (rel, parent) in parents {
        suffix.push((Arc::clone(rel), Arc::clone(node)));
        collect_paths(seen, parent, suffix, out, mode, ctx)?;
        suffix.pop();
        if mode == Shortest::One && !out.is_empty() {
            break;
        }
    }
    Ok(())
}

fn flip(d: Direction) -> Direction {
    match d {
        Direction::Outgoing => Direction::Incoming,
        Direction::Incoming => Direction::Outgoing,
        Direction::Both => Direction::Both,
    }
}

/// The path value: `trail` holds `(relationship, node reached)` in traversal order.
fn build_path(
    start: &Arc<NodeData>,
    trail: &[(Arc<RelData>, Arc<NodeData>)],
    reversed: bool,
) -> PathVal {
    let mut nodes = vec![Arc::clone(start)];
    let mut rels = Vec::with_capacity(trail.len());
    for (r, n) in trail {
        rels.push(Arc::clone(r));
        nodes.push(Arc::clone(n));
    }
    if reversed {
        nodes.reverse();
        rels.reverse();
    }
    PathVal { nodes, rels }
}
