//! Parses the embedded Cypher subset into a [`Plan`].

use super::lexer::{Escapes, Tok, Token, tokenize};
use crate::model::{Direction, Label, PropertyKey, RelType, Value};
use crate::{Error, Result};

/// A parsed query of the embedded subset.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    pub start: NodePattern,
    pub hop: Option<(RelPattern, NodePattern)>,
    pub conditions: Vec<Condition>,
    pub returns: Vec<ReturnItem>,
    pub limit: Option<usize>,
}

/// `(var:Label {key: operand, …})`
#[derive(Debug, PartialEq)]
pub(crate) struct NodePattern {
    pub var: Option<String>,
    pub label: Option<Label>,
    pub properties: Vec<(PropertyKey, Operand)>,
}

/// `-[var:TYPE]->`, `<-[var:TYPE]-` or `-[var:TYPE]-`
#[derive(Debug, PartialEq)]
pub(crate) struct RelPattern {
    pub var: Option<String>,
    pub rel_type: Option<RelType>,
    pub direction: Direction,
}

/// A literal or a `$parameter`.
#[derive(Debug, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Param(String),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsNull,
    IsNotNull,
}

/// `var.key <op> operand`, or `var.key IS [NOT] NULL` (then `operand` is `None`).
#[derive(Debug, PartialEq)]
pub(crate) struct Condition {
    pub var: String,
    pub key: PropertyKey,
    pub op: Op,
    pub operand: Option<Operand>,
    /// Byte offset of the condition in the query text.
    pub offset: usize,
}

/// What a `RETURN` item reads.
#[derive(Debug, PartialEq)]
pub(crate) enum Expr {
    Var(String),
    Property(String, PropertyKey),
}

/// A `RETURN` item and its column name.
#[derive(Debug, PartialEq)]
pub(crate) struct ReturnItem {
    pub expr: Expr,
    pub column: String,
    /// Byte offset of the item in the query text.
    pub offset: usize,
}

pub(crate) fn parse(text: &str) -> Result<Plan> {
    let (tokens, error) = tokenize(text, Escapes::Backslash);
    if let Some(error) = error {
        return Err(error);
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        end: text.len(),
    };
    let plan = p.query()?;
    p.check_variables(&plan)?;
    Ok(plan)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

const UNSUPPORTED_CLAUSES: [&str; 9] = [
    "OPTIONAL", "WITH", "UNWIND", "UNION", "ORDER", "SKIP", "USE", "SHOW", "EXPLAIN",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.offset)
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

    fn expected(&self, what: &str) -> Error {
        Error::query(
            self.offset(),
            format!("expected {what}, found {}", self.describe()),
        )
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let hit = self.is_keyword(keyword);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn is_punct(&self, punct: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(p)) if p == punct)
    }

    fn eat_punct(&mut self, punct: &str) -> bool {
        let hit = self.is_punct(punct);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_punct(&mut self, punct: &str) -> Result<()> {
        if self.eat_punct(punct) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{punct}`")))
        }
    }

    /// Reports a known-but-unsupported clause at the current position, if there is one.
    fn unsupported_clause(&self) -> Result<()> {
        if let Some(Tok::Word(w)) = self.peek() {
            let upper = w.to_ascii_uppercase();
            if UNSUPPORTED_CLAUSES.contains(&upper.as_str()) {
                return Err(Error::unsupported(format!("the {upper} clause")));
            }
            if upper == "MATCH" {
                return Err(Error::unsupported("more than one MATCH clause"));
            }
        }
        Ok(())
    }

    /// An identifier: a bare word or a backtick-quoted name.
    fn name(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Tok::Word(w) | Tok::Quoted(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A variable name if one comes next (patterns may leave it out).
    fn optional_variable(&mut self) -> Result<Option<String>> {
        match self.peek() {
            Some(Tok::Word(_) | Tok::Quoted(_)) => self.name("a variable").map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the next tokens are a function call: a word, then `(`.
    fn is_call(&self) -> bool {
        matches!(self.peek(), Some(Tok::Word(_)))
            && self
                .tokens
                .get(self.pos + 1)
                .is_some_and(|t| t.tok == Tok::Punct("(".into()))
    }

    fn query(&mut self) -> Result<Plan> {
        if !self.eat_keyword("MATCH") {
            return Err(Error::unsupported(format!(
                "queries must start with MATCH in the embedded subset, found {}",
                self.describe()
            )));
        }
        let start = self.node_pattern()?;
        let hop = if self.is_punct("-") || self.is_punct("<-") {
            let rel = self.rel_pattern()?;
            let end = self.node_pattern()?;
            Some((rel, end))
        } else {
            None
        };
        if self.is_punct("-") || self.is_punct("<-") {
            return Err(Error::unsupported("paths longer than one relationship"));
        }
        if self.is_punct(",") {
            return Err(Error::unsupported("several comma-separated patterns"));
        }
        let mut conditions = Vec::new();
        if self.eat_keyword("WHERE") {
            conditions.push(self.condition()?);
            while self.eat_keyword("AND") {
                conditions.push(self.condition()?);
            }
            for op in ["OR", "XOR"] {
                if self.is_keyword(op) {
                    return Err(Error::unsupported(format!(
                        "{op} in WHERE (only AND is supported)"
                    )));
                }
            }
        }
        self.unsupported_clause()?;
        if !self.eat_keyword("RETURN") {
            return Err(self.expected("WHERE or RETURN"));
        }
        if self.is_keyword("DISTINCT") {
            return Err(Error::unsupported("RETURN DISTINCT"));
        }
        let mut returns = vec![self.return_item()?];
        while self.eat_punct(",") {
            returns.push(self.return_item()?);
        }
        self.unsupported_clause()?;
        let limit = if self.eat_keyword("LIMIT") {
            match self.peek() {
                Some(Tok::Number(n)) => {
                    let n = n
                        .parse::<usize>()
                        .map_err(|_| self.expected("a whole number after LIMIT"))?;
                    self.pos += 1;
                    Some(n)
                }
                Some(Tok::Param(_)) => return Err(Error::unsupported("a parameter as LIMIT")),
                _ => return Err(self.expected("a whole number after LIMIT")),
            }
        } else {
            None
        };
        self.unsupported_clause()?;
        self.eat_punct(";");
        if self.peek().is_some() {
            return Err(self.expected("the end of the query"));
        }
        Ok(Plan {
            start,
            hop,
            conditions,
            returns,
            limit,
        })
    }

    fn node_pattern(&mut self) -> Result<NodePattern> {
        self.expect_punct("(")?;
        let var = self.optional_variable()?;
        let mut label = None;
        if self.eat_punct(":") {
            label = Some(Label::new(self.name("a label")?)?);
            if self.is_punct(":") || self.is_punct("|") || self.is_punct("&") {
                return Err(Error::unsupported("more than one label on a node"));
            }
        }
        let properties = if self.is_punct("{") {
            self.property_map()?
        } else {
            Vec::new()
        };
        if self.is_keyword("WHERE") {
            return Err(Error::unsupported("WHERE inside a pattern"));
        }
        self.expect_punct(")")?;
        Ok(NodePattern {
            var,
            label,
            properties,
        })
    }

    fn property_map(&mut self) -> Result<Vec<(PropertyKey, Operand)>> {
        self.expect_punct("{")?;
        let mut entries = Vec::new();
        if self.eat_punct("}") {
            return Ok(entries);
        }
        loop {
            let key = PropertyKey::new(self.name("a property key")?)?;
            self.expect_punct(":")?;
            entries.push((key, self.operand()?));
            if self.eat_punct("}") {
                return Ok(entries);
            }
            self.expect_punct(",")?;
        }
    }

    fn rel_pattern(&mut self) -> Result<RelPattern> {
        let incoming = self.eat_punct("<-");
        if !incoming {
            self.expect_punct("-")?;
        }
        if !self.is_punct("[") {
            return Err(Error::unsupported(
                "relationship patterns without brackets (write -[:TYPE]->)",
            ));
        }
        self.expect_punct("[")?;
        let var = self.optional_variable()?;
        let mut rel_type = None;
        if self.eat_punct(":") {
            rel_type = Some(RelType::new(self.name("a relationship type")?)?);
        }
        if self.is_punct("|") {
            return Err(Error::unsupported("alternative relationship types"));
        }
        if self.is_punct("*") {
            return Err(Error::unsupported("variable-length relationships"));
        }
        if self.is_punct("{") {
            return Err(Error::unsupported(
                "property maps on relationships (use WHERE r.key = …)",
            ));
        }
        self.expect_punct("]")?;
        let outgoing = if self.eat_punct("->") {
            true
        } else {
            self.expect_punct("-")?;
            false
        };
        let direction = match (incoming, outgoing) {
            (false, true) => Direction::Outgoing,
            (true, false) => Direction::Incoming,
            (false, false) => Direction::Both,
            (true, true) => {
                return Err(Error::query(
                    self.offset(),
                    "a relationship cannot point both ways",
                ));
            }
        };
        Ok(RelPattern {
            var,
            rel_type,
            direction,
        })
    }

    fn condition(&mut self) -> Result<Condition> {
        if self.is_keyword("NOT") || self.is_punct("(") {
            return Err(Error::unsupported("NOT and parentheses in WHERE"));
        }
        let offset = self.offset();
        let var = self.name("`variable.property`")?;
        if !self.eat_punct(".") {
            return Err(Error::unsupported(format!(
                "WHERE conditions other than `variable.property <op> value` (at byte {offset})"
            )));
        }
        let key = PropertyKey::new(self.name("a property key")?)?;
        if self.eat_keyword("IS") {
            let op = if self.eat_keyword("NOT") {
                Op::IsNotNull
            } else {
                Op::IsNull
            };
            if !self.eat_keyword("NULL") {
                return Err(self.expected("NULL"));
            }
            return Ok(Condition {
                var,
                key,
                op,
                operand: None,
                offset,
            });
        }
        let op = match self.peek() {
            Some(Tok::Punct(p)) => match p.as_str() {
                "=" => Op::Eq,
                "<>" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                other => return Err(Error::unsupported(format!("the operator `{other}`"))),
            },
            Some(Tok::Word(w)) => {
                return Err(Error::unsupported(format!(
                    "the operator {}",
                    w.to_ascii_uppercase()
                )));
            }
            _ => return Err(self.expected("a comparison operator")),
        };
        self.pos += 1;
        if matches!(self.peek(), Some(Tok::Word(w)) if !is_literal_word(w))
            && self
                .tokens
                .get(self.pos + 1)
                .is_some_and(|t| t.tok == Tok::Punct(".".into()))
        {
            return Err(Error::unsupported(
                "comparing two properties (compare with a value or $parameter)",
            ));
        }
        let operand = self.operand()?;
        Ok(Condition {
            var,
            key,
            op,
            operand: Some(operand),
            offset,
        })
    }

    fn operand(&mut self) -> Result<Operand> {
        if let Some(Tok::Param(name)) = self.peek() {
            let name = name.clone();
            self.pos += 1;
            return Ok(Operand::Param(name));
        }
        if self.eat_punct("[") {
            let mut items = Vec::new();
            if !self.eat_punct("]") {
                loop {
                    items.push(self.scalar()?);
                    if self.eat_punct("]") {
                        break;
                    }
                    self.expect_punct(",")?;
                }
            }
            let offset = self.offset();
            let list = Value::new(serde_json::Value::Array(items))
                .map_err(|e| Error::query(offset, format!("list literal: {e}")))?;
            return Ok(Operand::Literal(list));
        }
        Ok(Operand::Literal(Value::new(self.scalar()?)?))
    }

    fn scalar(&mut self) -> Result<serde_json::Value> {
        let negative = self.eat_punct("-");
        let value = match self.peek() {
            Some(Tok::Number(n)) => {
                let text = if negative { format!("-{n}") } else { n.clone() };
                let json = text
                    .parse::<i64>()
                    .map(serde_json::Value::from)
                    .ok()
                    .or_else(|| {
                        text.parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Into::into)
                    })
                    .ok_or_else(|| {
                        Error::query(self.offset(), format!("`{text}` is not a number"))
                    })?;
                self.pos += 1;
                return Ok(json);
            }
            _ if negative => return Err(self.expected("a number after `-`")),
            Some(Tok::Str(s)) => serde_json::Value::String(s.clone()),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => true.into(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => false.into(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => serde_json::Value::Null,
            Some(Tok::Punct(p)) if p == "{" => {
                return Err(Error::unsupported("map literals as values"));
            }
            Some(Tok::Word(w)) if self.is_call() => {
                return Err(Error::unsupported(format!("function calls such as {w}()")));
            }
            _ => return Err(self.expected("a literal value or a $parameter")),
        };
        self.pos += 1;
        Ok(value)
    }

    fn return_item(&mut self) -> Result<ReturnItem> {
        if self.is_punct("*") {
            return Err(Error::unsupported("RETURN *"));
        }
        let start = self.offset();
        let var = match self.peek() {
            Some(Tok::Word(w)) if self.is_call() => {
                return Err(Error::unsupported(format!("function calls such as {w}()")));
            }
            Some(Tok::Word(_) | Tok::Quoted(_)) => self.name("a variable")?,
            _ => {
                return Err(Error::unsupported(format!(
                    "RETURN items other than `variable` or `variable.property` (at byte {start})"
                )));
            }
        };
        let (expr, mut column) = if self.eat_punct(".") {
            let key = PropertyKey::new(self.name("a property key")?)?;
            let column = format!("{var}.{key}");
            (Expr::Property(var, key), column)
        } else {
            (Expr::Var(var.clone()), var)
        };
        if self.eat_keyword("AS") {
            column = self.name("a column name after AS")?;
        }
        if matches!(self.peek(), Some(Tok::Punct(p)) if p != "," && p != ";") {
            return Err(Error::unsupported(format!(
                "RETURN expressions other than `variable` or `variable.property` (at byte {start})"
            )));
        }
        Ok(ReturnItem {
            expr,
            column,
            offset: start,
        })
    }

    fn check_variables(&self, plan: &Plan) -> Result<()> {
        let mut all: Vec<&str> = Vec::new();
        let nodes = std::iter::once(&plan.start).chain(plan.hop.as_ref().map(|(_, end)| end));
        for var in nodes.filter_map(|n| n.var.as_deref()) {
            if all.contains(&var) {
                return Err(Error::unsupported(format!(
                    "using the variable `{var}` twice in a pattern"
                )));
            }
            all.push(var);
        }
        if let Some(var) = plan.hop.as_ref().and_then(|(rel, _)| rel.var.as_deref()) {
            if all.contains(&var) {
                return Err(Error::unsupported(format!(
                    "using the variable `{var}` for both a node and a relationship"
                )));
            }
            all.push(var);
        }
        if plan.start.label.is_none() {
            return Err(Error::unsupported(
                "a first node pattern without a label (write (n:Label …))",
            ));
        }
        let used = plan
            .conditions
            .iter()
            .map(|c| (c.var.as_str(), c.offset))
            .chain(plan.returns.iter().map(|r| match &r.expr {
                Expr::Var(v) | Expr::Property(v, _) => (v.as_str(), r.offset),
            }));
        for (var, offset) in used {
            if !all.contains(&var) {
                return Err(Error::query(
                    offset,
                    format!("variable `{var}` is not defined in the MATCH pattern"),
                ));
            }
        }
        Ok(())
    }
}

fn is_literal_word(w: &str) -> bool {
    ["true", "false", "null"]
        .iter()
        .any(|l| w.eq_ignore_ascii_case(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsupported(text: &str) -> String {
        match parse(text) {
            Err(Error::Unsupported { feature }) => feature,
            other => panic!("{text}: expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn single_node_query_parses() {
        let plan = parse("MATCH (n:Person {name: $name, age: 3}) WHERE n.x >= -1.5 AND n.y IS NOT NULL RETURN n, n.name AS who LIMIT 5;").unwrap();
        assert_eq!(plan.start.label.as_ref().map(Label::as_str), Some("Person"));
        assert_eq!(plan.start.properties.len(), 2);
        assert_eq!(plan.conditions.len(), 2);
        assert_eq!(plan.conditions[0].op, Op::Ge);
        assert_eq!(plan.conditions[1].op, Op::IsNotNull);
        let columns: Vec<_> = plan.returns.iter().map(|r| r.column.as_str()).collect();
        assert_eq!(columns, ["n", "who"]);
        assert_eq!(plan.limit, Some(5));
        assert!(plan.hop.is_none());
    }

    #[test]
    fn one_hop_query_parses_in_every_direction() {
        for (text, direction) in [
            (
                "MATCH (a:A)-[r:T]->(b:B) RETURN a, r, b",
                Direction::Outgoing,
            ),
            ("MATCH (a:A)<-[:T]-(b) RETURN b", Direction::Incoming),
            ("match (a:A)-[]-(b) return b.name", Direction::Both),
        ] {
            let plan = parse(text).unwrap();
            assert_eq!(plan.hop.unwrap().0.direction, direction, "{text}");
        }
    }

    #[test]
    fn queries_outside_the_subset_are_unsupported_with_a_reason() {
        for (text, reason) in [
            ("RETURN 1", "start with MATCH"),
            ("MATCH (n:A) RETURN count(n)", "function"),
            ("MATCH (n:A) WHERE n.x = toLower('X') RETURN n", "function"),
            ("MATCH (n:A {x: toLower('X')}) RETURN n", "function"),
            ("MATCH (n:A) RETURN n ORDER BY n.x", "ORDER"),
            ("MATCH (n:A) WITH n RETURN n", "WITH"),
            ("MATCH (n:A) WHERE n.x = 1 OR n.y = 2 RETURN n", "OR"),
            ("MATCH (n:A)-[:T*1..3]->(m) RETURN m", "variable-length"),
            (
                "MATCH (a:A)-[:T]->(b)-[:T]->(c) RETURN c",
                "longer than one",
            ),
            ("MATCH (n) RETURN n", "without a label"),
            ("MATCH (n:A:B) RETURN n", "more than one label"),
            ("MATCH (n:A) RETURN DISTINCT n", "DISTINCT"),
            (
                "MATCH (n:A) WHERE n.name STARTS WITH 'x' RETURN n",
                "STARTS",
            ),
            ("MATCH (n:A) RETURN n.x + 1", "RETURN expressions"),
            ("MATCH (n:A), (m:B) RETURN n", "comma"),
            ("MATCH (n:A) MATCH (m:B) RETURN n", "more than one MATCH"),
            ("MATCH (a:A) WHERE a.x = a.y RETURN a", "two properties"),
        ] {
            let feature = unsupported(text);
            assert!(feature.contains(reason), "{text}: {feature}");
        }
    }

    #[test]
    fn mistakes_are_invalid_queries() {
        for text in [
            "MATCH (n:A RETURN n",
            "MATCH (n:A) RETURN m",
            "MATCH (n:A) RETURN n LIMIT x",
            "MATCH (n:A) RETURN n garbage",
        ] {
            assert!(
                matches!(parse(text), Err(Error::InvalidQuery { .. })),
                "{text}: {:?}",
                parse(text)
            );
        }
    }

    #[test]
    fn bad_names_in_patterns_are_identifier_errors() {
        assert!(matches!(
            parse("MATCH (n:`bad label`) RETURN n"),
            Err(Error::InvalidIdentifier { kind: "label", .. })
        ));
    }

    #[test]
    fn undefined_variables_are_reported_at_their_position() {
        assert!(matches!(
            parse("MATCH (n:A) RETURN m"),
            Err(Error::InvalidQuery { offset: 19, .. })
        ));
        assert!(matches!(
            parse("MATCH (n:A) WHERE x.k = 1 RETURN n"),
            Err(Error::InvalidQuery { offset: 18, .. })
        ));
    }
}
