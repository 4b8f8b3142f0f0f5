//! A small Cypher tokenizer: enough to skip strings, comments and quoted names reliably.

use crate::Error;

/// One token of Cypher text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: a keyword or an identifier (`MATCH`, `n`, `Person`).
    Word(String),
    /// A backtick-quoted name (`` `weird name` ``); never a keyword.
    Quoted(String),
    /// A string literal, with escapes decoded.
    Str(String),
    /// A number literal, as written.
    Number(String),
    /// A `$parameter`, without the `$`.
    Param(String),
    /// Punctuation: `->`, `<-`, `<>`, `<=`, `>=`, `=~`, `..` or any single other character.
    Punct(String),
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset of the token's first character.
    pub offset: usize,
    /// Byte offset just past the token's last character.
    pub end: usize,
    /// Whether the token directly follows the previous one (no space or comment between).
    pub glued: bool,
}

/// How string literals treat a backslash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Escapes {
    /// Cypher's rule: `\'`, `\"`, `\\`, `\n`, `\uXXXX`, … are escapes.
    Backslash,
    /// A backslash is an ordinary character (a stricter reading used by `ensure_read_only`).
    Literal,
}

const MULTI: [&str; 7] = ["->", "<-", "<>", "<=", ">=", "=~", ".."];

/// Splits `text` into tokens. On an error, returns the tokens read so far and the error.
pub(crate) fn tokenize(text: &str, escapes: Escapes) -> (Vec<Token>, Option<Error>) {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut glued = true;
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            glued = false;
            continue;
        }
        let rest = &text[start..];
        if rest.starts_with("//") {
            while chars.next_if(|&(_, c)| c != '\n').is_some() {}
            glued = false;
            continue;
        }
        if let Some(body) = rest.strip_prefix("/*") {
            match body.find("*/") {
                Some(end) => {
                    let stop = start + 2 + end + 2;
                    while chars.next_if(|&(i, _)| i < stop).is_some() {}
                    glued = false;
                    continue;
                }
                None => return (tokens, Some(Error::query(start, "unterminated /* comment"))),
            }
        }
        let tok = if c == '\'' || c == '"' {
            chars.next();
            match string(&mut chars, c, escapes) {
                Ok(s) => Tok::Str(s),
                Err(msg) => return (tokens, Some(Error::query(start, msg))),
            }
        } else if c == '`' {
            chars.next();
            match quoted_name(&mut chars) {
                Some(s) => Tok::Quoted(s),
                None => {
                    return (
                        tokens,
                        Some(Error::query(start, "unterminated `quoted name`")),
                    );
                }
            }
        } else if c == '$' {
            chars.next();
            match chars.peek() {
                Some(&(_, '`')) => {
                    chars.next();
                    match quoted_name(&mut chars) {
                        Some(s) => Tok::Param(s),
                        None => {
                            return (
                                tokens,
                                Some(Error::query(start, "unterminated `quoted name`")),
                            );
                        }
                    }
                }
                Some(&(_, c)) if is_word_char(c) => Tok::Param(word(&mut chars)),
                _ => Tok::Punct("$".into()),
            }
        } else if c.is_ascii_digit() {
            Tok::Number(number(&mut chars))
        } else if is_word_char(c) {
            Tok::Word(word(&mut chars))
        } else if let Some(m) = MULTI.iter().find(|m| rest.starts_with(**m)) {
            chars.next();
            chars.next();
            Tok::Punct((*m).into())
        } else {
            chars.next();
            Tok::Punct(c.to_string())
        };
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        tokens.push(Token {
            tok,
            offset: start,
            end,
            glued,
        });
        glued = true;
    }
    (tokens, None)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn word(chars: &mut Chars<'_>) -> String {
    let mut out = String::new();
    while let Some((_, c)) = chars.next_if(|&(_, c)| is_word_char(c)) {
        out.push(c);
    }
    out
}

fn number(chars: &mut Chars<'_>) -> String {
    let mut out = String::new();
    let mut prev = ' ';
    while let Some(&(_, c)) = chars.peek() {
        let take = is_word_char(c)
            || (c == '.' && prev.is_ascii_digit() && !out.contains('.') && {
                // `1..5` is a range, not a fraction.
                let mut ahead = chars.clone();
                ahead.next();
                ahead.peek().is_some_and(|&(_, d)| d.is_ascii_digit())
            })
            || ((c == '-' || c == '+') && (prev == 'e' || prev == 'E') && !out.starts_with("0x"));
        if !take {
            break;
        }
        out.push(c);
        prev = c;
        chars.next();
    }
    out
}

fn quoted_name(chars: &mut Chars<'_>) -> Option<String> {
    let mut out = String::new();
    loop {
        let (_, c) = chars.next()?;
        if c == '`' {
            if chars.next_if(|&(_, c)| c == '`').is_some() {
                out.push('`');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
}

fn string(
    chars: &mut Chars<'_>,
    quote: char,
    escapes: Escapes,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    loop {
        let Some((_, c)) = chars.next() else {
            return Err("unterminated string literal".into());
        };
        if c == quote {
            return Ok(out);
        }
        if c != '\\' || escapes == Escapes::Literal {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err("unterminated string literal".into());
        };
        out.push(match e {
            '\\' | '\'' | '"' => e,
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' | 'U' => {
                let len = if e == 'u' { 4 } else { 8 };
                let mut hex = String::new();
                for _ in 0..len {
                    match chars.next() {
                        Some((_, h)) if h.is_ascii_hexdigit() => hex.push(h),
                        _ => return Err(format!("\\{e} needs {len} hex digits")),
                    }
                }
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("\\{e}{hex} is not a Unicode scalar value"))?
            }
            other => return Err(format!("unknown escape \\{other} in string literal")),
        });
    }
}

/// Clause keywords that write data, change the schema, or administer the server. `CALL` is
/// included because procedures can write; `LOAD` covers `LOAD CSV`.
pub(crate) const WRITE_KEYWORDS: [&str; 16] = [
    "CREATE",
    "MERGE",
    "SET",
    "DELETE",
    "REMOVE",
    "DETACH",
    "DROP",
    "LOAD",
    "CALL",
    "FOREACH",
    "ALTER",
    "RENAME",
    "GRANT",
    "DENY",
    "REVOKE",
    "TERMINATE",
];

/// The first write keyword in `tokens`, ignoring words that are glued to a preceding `.`, `:`
/// (`n.set`, `n:Create`), which are property names and labels rather than clauses.
pub(crate) fn first_write_keyword(tokens: &[Token]) -> Option<String> {
    tokens.iter().enumerate().find_map(|(i, t)| {
        let Tok::Word(w) = &t.tok else { return None };
        let upper = w.to_ascii_uppercase();
        if !WRITE_KEYWORDS.contains(&upper.as_str()) {
            return None;
        }
        let after_dot_or_colon =
            i > 0 && t.glued && matches!(&tokens[i - 1].tok, Tok::Punct(p) if p == "." || p == ":");
        (!after_dot_or_colon).then_some(upper)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        let (tokens, err) = tokenize(text, Escapes::Backslash);
        assert!(err.is_none(), "{err:?}");
        tokens.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn strings_comments_and_quoted_names_are_single_tokens() {
        assert_eq!(
            toks("MATCH (n) // CREATE\n WHERE n.x = 'a\\'b' /* DELETE */ RETURN `x y`"),
            vec![
                Tok::Word("MATCH".into()),
                Tok::Punct("(".into()),
                Tok::Word("n".into()),
                Tok::Punct(")".into()),
                Tok::Word("WHERE".into()),
                Tok::Word("n".into()),
                Tok::Punct(".".into()),
                Tok::Word("x".into()),
                Tok::Punct("=".into()),
                Tok::Str("a'b".into()),
                Tok::Word("RETURN".into()),
                Tok::Quoted("x y".into()),
            ]
        );
    }

    #[test]
    fn arrows_numbers_and_params_are_recognised() {
        assert_eq!(
            toks("-[:T]->(b) <- 1.5 2e-3 1..3 $p"),
            vec![
                Tok::Punct("-".into()),
                Tok::Punct("[".into()),
                Tok::Punct(":".into()),
                Tok::Word("T".into()),
                Tok::Punct("]".into()),
                Tok::Punct("->".into()),
                Tok::Punct("(".into()),
                Tok::Word("b".into()),
                Tok::Punct(")".into()),
                Tok::Punct("<-".into()),
                Tok::Number("1.5".into()),
                Tok::Number("2e-3".into()),
                Tok::Number("1".into()),
                Tok::Punct("..".into()),
                Tok::Number("3".into()),
                Tok::Param("p".into()),
            ]
        );
    }

    #[test]
    fn unicode_escapes_decode() {
        assert_eq!(toks("'\\u00e9\\U0001F680'"), vec![Tok::Str("é🚀".into())]);
    }

    #[test]
    fn unterminated_input_is_an_error_with_its_offset() {
        for (text, offset) in [
            ("RETURN 'abc", 7),
            ("RETURN /* x", 7),
            ("RETURN `x", 7),
            ("RETURN '\\q'", 7),
        ] {
            let (_, err) = tokenize(text, Escapes::Backslash);
            assert!(
                matches!(err, Some(Error::InvalidQuery { offset: o, .. }) if o == offset),
                "{text}: {err:?}"
            );
        }
    }
}
