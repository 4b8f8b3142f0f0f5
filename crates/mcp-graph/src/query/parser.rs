//! Parses read-only Cypher into a [`Query`].

use super::ast::{
    BinOp, Clause, Expr, Item, MapItem, NodePat, PathPattern, Projection, Quantifier, Query,
    RelPat, Shortest, SingleQuery,
};
use super::lexer::{Escapes, Tok, Token, tokenize};
use super::val::Val;
use crate::model::Direction;
use crate::{Error, Result};

/// Deepest nesting of expressions and patterns accepted (keeps the recursive parser and the
/// evaluator far from the stack's end).
const MAX_NESTING: usize = 48;

pub(crate) fn parse(text: &str) -> Result<Query> {
    let (tokens, error) = tokenize(text, Escapes::Backslash);
    if let Some(error) = error {
        return Err(error);
    }
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
        depth: 0,
    };
    let query = p.query()?;
    if p.pos < p.tokens.len() {
        return Err(p.unexpected("the end of the query or a clause"));
    }
    Ok(query)
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Clauses that are valid Cypher but not read-only-query material here, refused by name.
const UNSUPPORTED_CLAUSES: [&str; 6] = ["USE", "SHOW", "EXPLAIN", "PROFILE", "FINISH", "INSERT"];

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.text.len(), |t| t.offset)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the query".into(),
            Some(Tok::Word(w)) => format!("`{w}`"),
            Some(Tok::Quoted(w)) => format!("`{w}`"),
            Some(Tok::Str(_)) => "a string".into(),
            Some(Tok::Number(n)) => format!("`{n}`"),
            Some(Tok::Param(p)) => format!("`${p}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
        }
    }

    fn unexpected(&self, wanted: &str) -> Error {
        Error::query(
            self.offset(),
            format!("expected {wanted}, found {}", self.describe()),
        )
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn is_word_at(&self, ahead: usize, word: &str) -> bool {
        matches!(self.peek_at(ahead), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{word}`")))
        }
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(x)) if x == p)
    }

    fn is_punct_at(&self, ahead: usize, p: &str) -> bool {
        matches!(self.peek_at(ahead), Some(Tok::Punct(x)) if x == p)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{p}`")))
        }
    }

    /// A name: a bare word or a backtick-quoted one.
    fn name(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// A variable name (a bare word that is not a reserved word, or a quoted name).
    fn is_variable_at(&self, ahead: usize) -> bool {
        match self.peek_at(ahead) {
            Some(Tok::Quoted(_)) => true,
            Some(Tok::Word(w)) => !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)),
            _ => false,
        }
    }

    fn nest(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Error::query(
                self.offset(),
                format!("the query nests deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn unnest(&mut self) {
        self.depth -= 1;
    }

    // ------------------------------------------------------------------ clauses

    fn query(&mut self) -> Result<Query> {
        let mut parts = vec![self.single_query()?];
        let mut union_all = Vec::new();
        while self.eat_word("UNION") {
            union_all.push(self.eat_word("ALL"));
            parts.push(self.single_query()?);
        }
        if union_all.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::query(0, "UNION and UNION ALL cannot be mixed"));
        }
        self.eat_punct(";");
        Ok(Query { parts, union_all })
    }

    fn single_query(&mut self) -> Result<SingleQuery> {
        let mut clauses = Vec::new();
        loop {
            let offset = self.offset();
            let Some(Tok::Word(word)) = self.peek() else {
                return Err(self.unexpected("a clause (MATCH, WITH, UNWIND, RETURN, …)"));
            };
            let upper = word.to_ascii_uppercase();
            match upper.as_str() {
                "MATCH" => {
                    self.pos += 1;
                    clauses.push(self.match_clause(false)?);
                }
                "OPTIONAL" => {
                    self.pos += 1;
                    self.expect_word("MATCH")?;
                    clauses.push(self.match_clause(true)?);
                }
                "UNWIND" => {
                    self.pos += 1;
                    let expr = self.expr()?;
                    self.expect_word("AS")?;
                    let var = self.name("a variable name")?;
                    clauses.push(Clause::Unwind { expr, var });
                }
                "WITH" => {
                    self.pos += 1;
                    let mut projection = self.projection(true)?;
                    if self.eat_word("WHERE") {
                        projection.filter = Some(self.expr()?);
                    }
                    clauses.push(Clause::With(projection));
                }
                "RETURN" => {
                    self.pos += 1;
                    clauses.push(Clause::Return(self.projection(false)?));
                    return Ok(SingleQuery { clauses });
                }
                other if UNSUPPORTED_CLAUSES.contains(&other) => {
                    return Err(Error::unsupported(format!("the {other} clause")));
                }
                _ => {
                    return Err(Error::query(
                        offset,
                        format!(
                            "expected a clause (MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN), found `{word}`"
                        ),
                    ));
                }
            }
        }
    }

    fn match_clause(&mut self, optional: bool) -> Result<Clause> {
        let mut patterns = vec![self.path_pattern()?];
        while self.eat_punct(",") {
            patterns.push(self.path_pattern()?);
        }
        let filter = if self.eat_word("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Clause::Match {
            optional,
            patterns,
            filter,
        })
    }

    fn projection(&mut self, is_with: bool) -> Result<Projection> {
        let distinct = self.eat_word("DISTINCT");
        let mut star = false;
        let mut items = Vec::new();
        if self.eat_punct("*") {
            star = true;
            while self.eat_punct(",") {
                items.push(self.item(is_with)?);
            }
        } else {
            items.push(self.item(is_with)?);
            while self.eat_punct(",") {
                items.push(self.item(is_with)?);
            }
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|other| other.name == item.name) {
                return Err(Error::query(
                    self.offset(),
                    format!("multiple result columns with the same name `{}`", item.name),
                ));
            }
        }
        let mut order = Vec::new();
        if self.is_word("ORDER") {
            self.pos += 1;
            self.expect_word("BY")?;
            loop {
                let expr = self.expr()?;
                let desc = if self.eat_word("DESC") || self.eat_word("DESCENDING") {
                    true
                } else {
                    let _ = self.eat_word("ASC") || self.eat_word("ASCENDING");
                    false
                };
                order.push((expr, desc));
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let skip = if self.eat_word("SKIP") || self.eat_word("OFFSET") {
            Some(self.expr()?)
        } else {
            None
        };
        let limit = if self.eat_word("LIMIT") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Projection {
            distinct,
            star,
            items,
            order,
            skip,
            limit,
            filter: None,
        })
    }

    fn item(&mut self, is_with: bool) -> Result<Item> {
        let start = self.pos;
        let expr = self.expr()?;
        let text = self.source(start, self.pos);
        if self.eat_word("AS") {
            let name = self.name("a name after AS")?;
            return Ok(Item {
                expr,
                name,
                aliased: true,
            });
        }
        if is_with && !matches!(expr, Expr::Var(_)) {
            return Err(Error::query(
                self.tokens[start].offset,
                format!("expression in WITH must be aliased (use AS): {text}"),
            ));
        }
        let name = match &expr {
            Expr::Var(v) => v.clone(),
            _ => text,
        };
        Ok(Item {
            expr,
            name,
            aliased: false,
        })
    }

    /// The query text of tokens `from..to`, as written.
    fn source(&self, from: usize, to: usize) -> String {
        if from >= to {
            return String::new();
        }
        let (a, b) = (self.tokens[from].offset, self.tokens[to - 1].end);
        self.text[a..b].to_owned()
    }

    // ------------------------------------------------------------------ patterns

    fn path_pattern(&mut self) -> Result<PathPattern> {
        let var = if self.is_variable_at(0) && self.is_punct_at(1, "=") {
            let v = self.name("a path variable")?;
            self.pos += 1;
            Some(v)
        } else {
            None
        };
        let shortest = if self.is_word("shortestPath") && self.is_punct_at(1, "(") {
            Some(Shortest::One)
        } else if self.is_word("allShortestPaths") && self.is_punct_at(1, "(") {
            Some(Shortest::All)
        } else {
            None
        };
        if shortest.is_some() {
            self.pos += 2;
        }
        let mut pattern = self.pattern_chain()?;
        pattern.var = var;
        pattern.shortest = shortest;
        if shortest.is_some() {
            self.expect_punct(")")?;
            if pattern.steps.len() != 1 || pattern.steps[0].0.range.is_none() {
                return Err(Error::query(
                    self.offset(),
                    "shortestPath needs one variable-length relationship, like (a)-[*]-(b)",
                ));
            }
        }
        Ok(pattern)
    }

    fn pattern_chain(&mut self) -> Result<PathPattern> {
        self.nest()?;
        let start = self.node_pattern()?;
        let mut steps = Vec::new();
        while self.is_punct("-") || self.is_punct("<-") {
            let rel = self.rel_pattern()?;
            let node = self.node_pattern()?;
            steps.push((rel, node));
        }
        self.unnest();
        Ok(PathPattern {
            var: None,
            shortest: None,
            start,
            steps,
        })
    }

    fn node_pattern(&mut self) -> Result<NodePat> {
        self.expect_punct("(")?;
        let var = if self.is_variable_at(0) {
            Some(self.name("a variable")?)
        } else {
            None
        };
        let mut labels = Vec::new();
        while self.eat_punct(":") {
            labels.push(self.name("a label")?);
            if self.eat_punct("|") || self.eat_punct("&") {
                return Err(Error::unsupported(
                    "label expressions with | or & in a node pattern",
                ));
            }
        }
        let props = self.pattern_props()?;
        if self.is_word("WHERE") {
            return Err(Error::unsupported("WHERE inside a node pattern"));
        }
        self.expect_punct(")")?;
        Ok(NodePat { var, labels, props })
    }

    fn pattern_props(&mut self) -> Result<Option<Expr>> {
        if self.is_punct("{") {
            Ok(Some(self.map_literal()?))
        } else if let Some(Tok::Param(p)) = self.peek() {
            let p = p.clone();
            self.pos += 1;
            Ok(Some(Expr::Param(p)))
        } else {
            Ok(None)
        }
    }

    fn rel_pattern(&mut self) -> Result<RelPat> {
        let left_arrow = if self.eat_punct("<-") {
            true
        } else {
            self.expect_punct("-")?;
            false
        };
        let mut var = None;
        let mut types = Vec::new();
        let mut props = None;
        let mut range = None;
        let mut bare_dashes = false;
        if self.eat_punct("[") {
            if self.is_variable_at(0) {
                var = Some(self.name("a variable")?);
            }
            if self.eat_punct(":") {
                types.push(self.name("a relationship type")?);
                while self.eat_punct("|") {
                    self.eat_punct(":");
                    types.push(self.name("a relationship type")?);
                }
            }
            if self.eat_punct("*") {
                range = Some(self.range()?);
            }
            props = self.pattern_props()?;
            if self.is_word("WHERE") {
                return Err(Error::unsupported("WHERE inside a relationship pattern"));
            }
            self.expect_punct("]")?;
        } else {
            bare_dashes = true;
        }
        // After the bracket (or directly for `--`, `-->`, `<--`): `-`, or `->`.
        let right_arrow = if self.eat_punct("->") {
            true
        } else if self.eat_punct("-") {
            false
        } else if bare_dashes && left_arrow && self.is_punct("(") {
            // `<-(`: impossible in valid Cypher, but `<--(` lexes as `<-` `-`.
            return Err(self.unexpected("`-`"));
        } else {
            return Err(self.unexpected("`-` or `->`"));
        };
        let direction = match (left_arrow, right_arrow) {
            (true, false) => Direction::Incoming,
            (false, true) => Direction::Outgoing,
            (false, false) => Direction::Both,
            (true, true) => Direction::Both,
        };
        Ok(RelPat {
            var,
            types,
            direction,
            props,
            range,
        })
    }

    /// After `*`: nothing, `n`, `n..`, `..m`, `n..m`.
    fn range(&mut self) -> Result<(u32, Option<u32>)> {
        let min = self.range_bound()?;
        if self.eat_punct("..") {
            let max = self.range_bound()?;
            Ok((min.unwrap_or(1), max))
        } else {
            match min {
                Some(n) => Ok((n, Some(n))),
                None => Ok((1, None)),
            }
        }
    }

    fn range_bound(&mut self) -> Result<Option<u32>> {
        if let Some(Tok::Number(n)) = self.peek() {
            let n = n.clone();
            let offset = self.offset();
            self.pos += 1;
            return n
                .parse::<u32>()
                .map(Some)
                .map_err(|_| Error::query(offset, format!("bad path length `{n}`")));
        }
        Ok(None)
    }

    // ------------------------------------------------------------------ expressions

    pub(crate) fn expr(&mut self) -> Result<Expr> {
        self.nest()?;
        let result = self.or_expr();
        self.unnest();
        result
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let mut left = self.xor_expr()?;
        while self.eat_word("OR") {
            let right = self.xor_expr()?;
            left = Expr::Bin(BinOp::Or, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn xor_expr(&mut self) -> Result<Expr> {
        let mut left = self.and_expr()?;
        while self.eat_word("XOR") {
            let right = self.and_expr()?;
            left = Expr::Bin(BinOp::Xor, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut left = self.not_expr()?;
        while self.eat_word("AND") {
            let right = self.not_expr()?;
            left = Expr::Bin(BinOp::And, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr> {
        if self.eat_word("NOT") {
            self.nest()?;
            let inner = self.not_expr();
            self.unnest();
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.comparison()
    }

    fn comparison_op(&mut self) -> Option<BinOp> {
        let op = match self.peek() {
            Some(Tok::Punct(p)) => match p.as_str() {
                "=" => BinOp::Eq,
                "<>" => BinOp::Ne,
                "<" => BinOp::Lt,
                "<=" => BinOp::Le,
                ">" => BinOp::Gt,
                ">=" => BinOp::Ge,
                "!" if self.is_punct_at(1, "=") => {
                    self.pos += 1;
                    BinOp::Ne
                }
                _ => return None,
            },
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    /// `a < b <= c` means `a < b AND b <= c`.
    fn comparison(&mut self) -> Result<Expr> {
        let first = self.predicate_expr()?;
        let mut result: Option<Expr> = None;
        let mut left = first;
        loop {
            // `x<-1` lexes as `<-`: read it as `<` then `-`.
            if self.is_punct("<-") {
                let tok = &mut self.tokens[self.pos];
                tok.tok = Tok::Punct("<".into());
                let offset = tok.offset + 1;
                let end = tok.end;
                tok.end = offset;
                self.tokens.insert(
                    self.pos + 1,
                    Token {
                        tok: Tok::Punct("-".into()),
                        offset,
                        end,
                        glued: true,
                    },
                );
            }
            let Some(op) = self.comparison_op() else {
                break;
            };
            let right = self.predicate_expr()?;
            let cmp = Expr::Bin(op, Box::new(left), Box::new(right.clone()));
            result = Some(match result {
                None => cmp,
                Some(prev) => Expr::Bin(BinOp::And, Box::new(prev), Box::new(cmp)),
            });
            left = right;
        }
        Ok(result.unwrap_or(left))
    }

    /// String, list and null predicates: `STARTS WITH`, `ENDS WITH`, `CONTAINS`, `IN`, `=~`,
    /// `IS [NOT] NULL`.
    fn predicate_expr(&mut self) -> Result<Expr> {
        let mut left = self.additive()?;
        loop {
            let op = if self.is_word("STARTS") && self.is_word_at(1, "WITH") {
                self.pos += 2;
                BinOp::StartsWith
            } else if self.is_word("ENDS") && self.is_word_at(1, "WITH") {
                self.pos += 2;
                BinOp::EndsWith
            } else if self.eat_word("CONTAINS") {
                BinOp::Contains
            } else if self.eat_word("IN") {
                BinOp::In
            } else if self.eat_punct("=~") {
                BinOp::Regex
            } else if self.is_word("IS") {
                self.pos += 1;
                let negated = self.eat_word("NOT");
                if !self.eat_word("NULL") {
                    return Err(Error::unsupported(format!(
                        "IS {}{} (only IS NULL and IS NOT NULL)",
                        if negated { "NOT " } else { "" },
                        self.describe()
                    )));
                }
                left = Expr::IsNull(Box::new(left), negated);
                continue;
            } else {
                return Ok(left);
            };
            let right = self.additive()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.eat_punct("+") {
                BinOp::Add
            } else if self.eat_punct("-") {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.multiplicative()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.power()?;
        loop {
            let op = if self.eat_punct("*") {
                BinOp::Mul
            } else if self.eat_punct("/") {
                BinOp::Div
            } else if self.eat_punct("%") {
                BinOp::Mod
            } else {
                return Ok(left);
            };
            let right = self.power()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn power(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        while self.eat_punct("^") {
            let right = self.unary()?;
            left = Expr::Bin(BinOp::Pow, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat_punct("-") {
            // `-9223372036854775808` is the smallest integer, not the negation of an overflow.
            if let Some(Tok::Number(n)) = self.peek() {
                let (n, offset) = (n.clone(), self.offset());
                self.pos += 1;
                let lit = Expr::Lit(self.number(&format!("-{n}"), offset)?);
                return self.postfix(lit);
            }
            self.nest()?;
            let inner = self.unary();
            self.unnest();
            return Ok(Expr::Neg(Box::new(inner?)));
        }
        if self.eat_punct("+") {
            self.nest()?;
            let inner = self.unary();
            self.unnest();
            return inner;
        }
        let atom = self.atom()?;
        self.postfix(atom)
    }

    fn postfix(&mut self, mut expr: Expr) -> Result<Expr> {
        loop {
            if self.is_punct(".") {
                self.pos += 1;
                let key = self.name("a property name")?;
                expr = Expr::Prop(Box::new(expr), key);
            } else if self.is_punct("[") {
                self.pos += 1;
                if self.eat_punct("..") {
                    let to = if self.is_punct("]") {
                        None
                    } else {
                        Some(Box::new(self.expr()?))
                    };
                    self.expect_punct("]")?;
                    expr = Expr::Slice(Box::new(expr), None, to);
                    continue;
                }
                let index = self.expr()?;
                if self.eat_punct("..") {
                    let to = if self.is_punct("]") {
                        None
                    } else {
                        Some(Box::new(self.expr()?))
                    };
                    self.expect_punct("]")?;
                    expr = Expr::Slice(Box::new(expr), Some(Box::new(index)), to);
                } else {
                    self.expect_punct("]")?;
                    expr = Expr::Index(Box::new(expr), Box::new(index));
                }
            } else if self.is_punct(":") && matches!(expr, Expr::Var(_)) {
                let mut labels = Vec::new();
                while self.eat_punct(":") {
                    labels.push(self.name("a label")?);
                }
                expr = Expr::HasLabels(Box::new(expr), labels);
            } else {
                return Ok(expr);
            }
        }
    }

    fn number(&self, text: &str, offset: usize) -> Result<Val> {
        let bad = || Error::query(offset, format!("bad number `{text}`"));
        let lower = text.to_ascii_lowercase();
        let (sign, digits) = match lower.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("", lower.as_str()),
        };
        for (prefix, radix) in [("0x", 16), ("0o", 8)] {
            if let Some(body) = digits.strip_prefix(prefix) {
                return i64::from_str_radix(&format!("{sign}{body}"), radix)
                    .map(Val::Int)
                    .map_err(|_| bad());
            }
        }
        if lower.contains(['.', 'e']) {
            let f = lower.parse::<f64>().map_err(|_| bad())?;
            if f.is_infinite() {
                return Err(Error::query(
                    offset,
                    format!("floating point number `{text}` is too large"),
                ));
            }
            return Ok(Val::Float(f));
        }
        lower.parse::<i64>().map(Val::Int).map_err(|_| {
            Error::query(
                offset,
                format!("integer literal `{text}` is too large for a 64-bit integer"),
            )
        })
    }

    fn atom(&mut self) -> Result<Expr> {
        let offset = self.offset();
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected("an expression"));
        };
        match tok {
            Tok::Number(n) => {
                self.pos += 1;
                Ok(Expr::Lit(self.number(&n, offset)?))
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Expr::Lit(Val::str(s)))
            }
            Tok::Param(p) => {
                self.pos += 1;
                Ok(Expr::Param(p))
            }
            Tok::Punct(p) => match p.as_str() {
                "[" => self.list_like(),
                "{" => self.map_literal(),
                "(" => {
                    if let Some(pattern) = self.try_pattern()? {
                        return Ok(Expr::Exists(Box::new(pattern), None));
                    }
                    self.pos += 1;
                    let inner = self.expr()?;
                    self.expect_punct(")")?;
                    Ok(inner)
                }
                "." if matches!(self.peek_at(1), Some(Tok::Number(_))) => {
                    let Some(Tok::Number(n)) = self.peek_at(1).cloned() else {
                        unreachable!()
                    };
                    self.pos += 2;
                    Ok(Expr::Lit(self.number(&format!("0.{n}"), offset)?))
                }
                _ => Err(self.unexpected("an expression")),
            },
            Tok::Quoted(name) => {
                self.pos += 1;
                self.after_name(name)
            }
            Tok::Word(w) => self.word_atom(w),
        }
    }

    fn word_atom(&mut self, w: String) -> Result<Expr> {
        let upper = w.to_ascii_uppercase();
        match upper.as_str() {
            "TRUE" => {
                self.pos += 1;
                return Ok(Expr::Lit(Val::Bool(true)));
            }
            "FALSE" => {
                self.pos += 1;
                return Ok(Expr::Lit(Val::Bool(false)));
            }
            "NULL" => {
                self.pos += 1;
                return Ok(Expr::Lit(Val::Null));
            }
            "NAN" if !self.is_punct_at(1, "(") => {
                self.pos += 1;
                return Ok(Expr::Lit(Val::Float(f64::NAN)));
            }
            "INF" | "INFINITY" if !self.is_punct_at(1, "(") => {
                self.pos += 1;
                return Ok(Expr::Lit(Val::Float(f64::INFINITY)));
            }
            "CASE" => {
                self.pos += 1;
                return self.case();
            }
            "COUNT" if self.is_punct_at(1, "(") && self.is_punct_at(2, "*") => {
                self.pos += 3;
                self.expect_punct(")")?;
                return Ok(Expr::CountStar);
            }
            "COUNT" | "COLLECT" if self.is_punct_at(1, "{") => {
                return Err(Error::unsupported(format!("{upper} {{ … }} subqueries")));
            }
            "EXISTS" if self.is_punct_at(1, "{") => {
                self.pos += 2;
                return self.exists_subquery();
            }
            "ALL" | "ANY" | "NONE" | "SINGLE"
                if self.is_punct_at(1, "(")
                    && self.is_variable_at(2)
                    && self.is_word_at(3, "IN") =>
            {
                self.pos += 2;
                let var = self.name("a variable")?;
                self.expect_word("IN")?;
                let list = self.expr()?;
                self.expect_word("WHERE")?;
                let filter = self.expr()?;
                self.expect_punct(")")?;
                let kind = match upper.as_str() {
                    "ALL" => Quantifier::All,
                    "ANY" => Quantifier::Any,
                    "NONE" => Quantifier::None,
                    _ => Quantifier::Single,
                };
                return Ok(Expr::Quant {
                    kind,
                    var,
                    list: Box::new(list),
                    filter: Box::new(filter),
                });
            }
            "REDUCE" if self.is_punct_at(1, "(") => {
                self.pos += 2;
                let acc = self.name("an accumulator name")?;
                self.expect_punct("=")?;
                let init = self.expr()?;
                self.expect_punct(",")?;
                let var = self.name("a variable")?;
                self.expect_word("IN")?;
                let list = self.expr()?;
                self.expect_punct("|")?;
                let expr = self.expr()?;
                self.expect_punct(")")?;
                return Ok(Expr::Reduce {
                    acc,
                    init: Box::new(init),
                    var,
                    list: Box::new(list),
                    expr: Box::new(expr),
                });
            }
            "SHORTESTPATH" | "ALLSHORTESTPATHS" if self.is_punct_at(1, "(") => {
                return Err(Error::unsupported(
                    "shortestPath as an expression (use it in MATCH: MATCH p = shortestPath((a)-[*]-(b)))",
                ));
            }
            _ => {}
        }
        if RESERVED.contains(&upper.as_str()) {
            return Err(self.unexpected("an expression"));
        }
        self.pos += 1;
        self.after_name(w)
    }

    /// After a name: a function call (possibly namespaced), a map projection, or a variable.
    fn after_name(&mut self, name: String) -> Result<Expr> {
        // Namespaced function: `a.b.c(`.
        let mut ahead = 0;
        while self.is_punct_at(ahead, ".") && matches!(self.peek_at(ahead + 1), Some(Tok::Word(_)))
        {
            ahead += 2;
        }
        if ahead > 0 && self.is_punct_at(ahead, "(") {
            let mut full = name;
            for i in (1..ahead).step_by(2) {
                if let Some(Tok::Word(w)) = self.peek_at(i) {
                    full.push('.');
                    full.push_str(w);
                }
            }
            return Err(Error::unsupported(format!("the function {full}()")));
        }
        if self.is_punct("(") {
            self.pos += 1;
            let distinct = self.eat_word("DISTINCT");
            let mut args = Vec::new();
            if !self.is_punct(")") {
                args.push(self.expr()?);
                while self.eat_punct(",") {
                    args.push(self.expr()?);
                }
            }
            self.expect_punct(")")?;
            super::functions::check_name(&name.to_ascii_lowercase())?;
            return Ok(Expr::Call {
                name: name.to_ascii_lowercase(),
                distinct,
                args,
            });
        }
        if self.is_punct("{") {
            return self.map_projection(name);
        }
        Ok(Expr::Var(name))
    }

    fn case(&mut self) -> Result<Expr> {
        let subject = if self.is_word("WHEN") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_word("WHEN") {
            let when = self.expr()?;
            self.expect_word("THEN")?;
            let then = self.expr()?;
            whens.push((when, then));
        }
        if whens.is_empty() {
            return Err(self.unexpected("WHEN"));
        }
        let otherwise = if self.eat_word("ELSE") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_word("END")?;
        Ok(Expr::Case {
            subject,
            whens,
            otherwise,
        })
    }

    fn exists_subquery(&mut self) -> Result<Expr> {
        // `EXISTS { [MATCH] pattern [WHERE cond] }`
        self.eat_word("MATCH");
        let pattern = self.path_pattern()?;
        if self.is_punct(",") {
            return Err(Error::unsupported(
                "several patterns in an EXISTS { … } subquery",
            ));
        }
        // A filter is always present, so that `Exists(_, None)` means a pattern predicate.
        let filter = if self.eat_word("WHERE") {
            Some(Box::new(self.expr()?))
        } else {
            Some(Box::new(Expr::Lit(Val::Bool(true))))
        };
        if !self.is_punct("}") {
            return Err(Error::unsupported(
                "EXISTS { … } subqueries other than one pattern with an optional WHERE",
            ));
        }
        self.pos += 1;
        Ok(Expr::Exists(Box::new(pattern), filter))
    }

    /// A relationship pattern used as an expression, if the text at `(` is one: a node pattern
    /// followed by at least one relationship.
    fn try_pattern(&mut self) -> Result<Option<PathPattern>> {
        let saved = self.pos;
        let depth = self.depth;
        match self.pattern_chain() {
            Ok(p) if !p.steps.is_empty() => Ok(Some(p)),
            Ok(_) | Err(Error::InvalidQuery { .. }) => {
                self.pos = saved;
                self.depth = depth;
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    fn list_like(&mut self) -> Result<Expr> {
        // `[x IN list WHERE … | …]`
        if self.is_variable_at(1) && self.is_word_at(2, "IN") {
            self.pos += 1;
            let var = self.name("a variable")?;
            self.expect_word("IN")?;
            let list = self.expr()?;
            let filter = if self.eat_word("WHERE") {
                Some(Box::new(self.expr()?))
            } else {
                None
            };
            let map = if self.eat_punct("|") {
                Some(Box::new(self.expr()?))
            } else {
                None
            };
            self.expect_punct("]")?;
            return Ok(Expr::ListComp {
                var,
                list: Box::new(list),
                filter,
                map,
            });
        }
        // `[(a)-->(b) WHERE … | …]`
        if self.is_punct_at(1, "(") || (self.is_variable_at(1) && self.is_punct_at(2, "=")) {
            let saved = self.pos;
            self.pos += 1;
            let named = self.is_variable_at(0) && self.is_punct_at(1, "=");
            let attempt = if named {
                self.path_pattern().ok()
            } else {
                self.try_pattern()?
            };
            if let Some(pattern) = attempt
                && (self.is_word("WHERE") || self.is_punct("|"))
            {
                let filter = if self.eat_word("WHERE") {
                    Some(Box::new(self.expr()?))
                } else {
                    None
                };
                self.expect_punct("|")?;
                let map = self.expr()?;
                self.expect_punct("]")?;
                return Ok(Expr::PatternComp {
                    pattern: Box::new(pattern),
                    filter,
                    map: Box::new(map),
                });
            }
            self.pos = saved;
        }
        self.pos += 1;
        let mut items = Vec::new();
        if !self.is_punct("]") {
            items.push(self.expr()?);
            while self.eat_punct(",") {
                items.push(self.expr()?);
            }
        }
        self.expect_punct("]")?;
        Ok(Expr::List(items))
    }

    fn map_literal(&mut self) -> Result<Expr> {
        self.expect_punct("{")?;
        let mut entries: Vec<(String, Expr)> = Vec::new();
        if !self.is_punct("}") {
            loop {
                let key = self.name("a map key")?;
                self.expect_punct(":")?;
                let value = self.expr()?;
                entries.retain(|(k, _)| *k != key);
                entries.push((key, value));
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        self.expect_punct("}")?;
        Ok(Expr::Map(entries))
    }

    fn map_projection(&mut self, var: String) -> Result<Expr> {
        self.expect_punct("{")?;
        let mut items = Vec::new();
        if !self.is_punct("}") {
            loop {
                if self.eat_punct(".") {
                    if self.eat_punct("*") {
                        items.push(MapItem::AllProperties);
                    } else {
                        items.push(MapItem::Property(self.name("a property name")?));
                    }
                } else {
                    let key = self.name("a map key")?;
                    if self.eat_punct(":") {
                        items.push(MapItem::Entry(key, self.expr()?));
                    } else {
                        items.push(MapItem::Variable(key));
                    }
                }
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        self.expect_punct("}")?;
        Ok(Expr::MapProjection(var, items))
    }
}

/// Words that cannot be variables (they start or continue clauses and expressions).
const RESERVED: [&str; 33] = [
    "MATCH", "OPTIONAL", "WHERE", "RETURN", "WITH", "UNWIND", "UNION", "ORDER", "BY", "SKIP",
    "LIMIT", "AS", "AND", "OR", "XOR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "CASE", "WHEN",
    "THEN", "ELSE", "END", "DISTINCT", "STARTS", "ENDS", "CONTAINS", "ASC", "DESC", "OFFSET",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(text: &str) -> Query {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn column_names_are_the_text_as_written_or_the_alias() {
        let q = parses("MATCH (n) RETURN n, n.name, count( * ), toUpper(n.name) AS up");
        let Clause::Return(p) = &q.parts[0].clauses[1] else {
            panic!()
        };
        let names: Vec<_> = p.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["n", "n.name", "count( * )", "up"]);
    }

    #[test]
    fn precedence_follows_cypher() {
        let q = parses("RETURN 1 + 2 * 3 ^ 2 AS x");
        let Clause::Return(p) = &q.parts[0].clauses[0] else {
            panic!()
        };
        let Expr::Bin(BinOp::Add, _, right) = &p.items[0].expr else {
            panic!("{:?}", p.items[0].expr)
        };
        assert!(matches!(**right, Expr::Bin(BinOp::Mul, _, _)));
    }

    #[test]
    fn patterns_parse_with_directions_types_and_ranges() {
        let q = parses("MATCH p = (a:A {k: 1})<-[r:X|Y*2..]-(b)-->(c) RETURN p");
        let Clause::Match { patterns, .. } = &q.parts[0].clauses[0] else {
            panic!()
        };
        let p = &patterns[0];
        assert_eq!(p.var.as_deref(), Some("p"));
        assert_eq!(p.steps[0].0.direction, Direction::Incoming);
        assert_eq!(p.steps[0].0.types, ["X", "Y"]);
        assert_eq!(p.steps[0].0.range, Some((2, None)));
        assert_eq!(p.steps[1].0.direction, Direction::Outgoing);
    }

    #[test]
    fn bad_text_reports_where() {
        for text in [
            "MATCH (n RETURN n",
            "RETURN 1 +",
            "MATCH (n) RETURN n n",
            "FOO",
        ] {
            assert!(
                matches!(parse(text), Err(Error::InvalidQuery { .. })),
                "{text}"
            );
        }
        assert!(matches!(
            parse("WITH 1 + 1 RETURN 1"),
            Err(Error::InvalidQuery { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("RETURN {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(parse(&deep), Err(Error::InvalidQuery { .. })));
        let negations = format!("RETURN {}1", "- ".repeat(5000));
        assert!(matches!(parse(&negations), Err(Error::InvalidQuery { .. })));
    }
}
