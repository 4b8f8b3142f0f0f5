//! `resource:action` permissions, their parser and the built-in constants.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::Error;

/// Longest accepted permission text, in bytes.
pub const MAX_PERMISSION_LEN: usize = 128;

/// A permission: `resource:action`, `resource:*` (every action on a resource) or `*` (everything).
///
/// Resources and actions use only `a-z`, `0-9`, `_` and `-`. Parsing (via [`FromStr`] or serde,
/// which reads and writes the plain string) rejects anything else with an [`Error::InvalidPermission`]
/// that says what is wrong.
///
/// ```
/// use mcp_rbac::Permission;
///
/// let p: Permission = "tools:execute".parse()?;
/// assert_eq!((p.resource(), p.action()), ("tools", "execute"));
/// assert_eq!(p, Permission::TOOLS_EXECUTE);
/// assert!("tools:*".parse::<Permission>()?.covers(&p));
/// assert!("Tools:run".parse::<Permission>().is_err());
/// # Ok::<(), mcp_rbac::Error>(())
/// ```
#[derive(Clone)]
pub struct Permission {
    text: Cow<'static, str>,
    /// Byte offset of the `:`; 0 for `*`.
    colon: usize,
    /// Index into [`Permission::BUILTIN`] when this is a built-in permission.
    builtin: Option<u8>,
}

/// Checks the `resource:action` shape at compile time for the built-in constants.
const fn builtin(id: u8, text: &'static str) -> Permission {
    let bytes = text.as_bytes();
    let mut colon = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' {
            assert!(colon == 0, "built-in permission has two colons");
            colon = i;
        } else {
            assert!(is_name_byte(bytes[i]), "built-in permission has a bad byte");
        }
        i += 1;
    }
    assert!(
        colon > 0 && colon + 1 < bytes.len(),
        "built-in permission lacks resource:action"
    );
    Permission {
        text: Cow::Borrowed(text),
        colon,
        builtin: Some(id),
    }
}

const fn is_name_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')
}

impl Permission {
    /// `tools:read`: list tools and read their descriptions.
    pub const TOOLS_READ: Permission = builtin(0, "tools:read");
    /// `tools:lint`: run linters.
    pub const TOOLS_LINT: Permission = builtin(1, "tools:lint");
    /// `tools:execute`: run tools in the sandbox.
    pub const TOOLS_EXECUTE: Permission = builtin(2, "tools:execute");
    /// `tools:test`: run test suites.
    pub const TOOLS_TEST: Permission = builtin(3, "tools:test");
    /// `tools:generate`: generate code.
    pub const TOOLS_GENERATE: Permission = builtin(4, "tools:generate");
    /// `graph:query`: read the knowledge graph.
    pub const GRAPH_QUERY: Permission = builtin(5, "graph:query");
    /// `graph:upsert`: create or update graph nodes and edges.
    pub const GRAPH_UPSERT: Permission = builtin(6, "graph:upsert");
    /// `graph:delete`: delete graph nodes and edges.
    pub const GRAPH_DELETE: Permission = builtin(7, "graph:delete");
    /// `system:admin`: administer the server (roles, keys, configuration).
    pub const SYSTEM_ADMIN: Permission = builtin(8, "system:admin");

    /// Every built-in permission, least to most sensitive.
    pub const BUILTIN: [Permission; 9] = [
        Self::TOOLS_READ,
        Self::TOOLS_LINT,
        Self::TOOLS_EXECUTE,
        Self::TOOLS_TEST,
        Self::TOOLS_GENERATE,
        Self::GRAPH_QUERY,
        Self::GRAPH_UPSERT,
        Self::GRAPH_DELETE,
        Self::SYSTEM_ADMIN,
    ];

    /// Builds `resource:action` from its parts, with the same checks as parsing.
    /// `action` may be `*`; `resource` may not (use [`Permission::all`]).
    pub fn new(resource: &str, action: &str) -> Result<Self, Error> {
        format!("{resource}:{action}").parse()
    }

    /// The `*` permission, which covers every permission.
    pub fn all() -> Self {
        Permission {
            text: Cow::Borrowed("*"),
            colon: 0,
            builtin: None,
        }
    }

    /// The whole permission text, e.g. `tools:read`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The resource part; `*` for [`Permission::all`].
    pub fn resource(&self) -> &str {
        if self.colon == 0 {
            "*"
        } else {
            &self.text[..self.colon]
        }
    }

    /// The action part; `*` for a wildcard.
    pub fn action(&self) -> &str {
        if self.colon == 0 {
            "*"
        } else {
            &self.text[self.colon + 1..]
        }
    }

    /// Whether this is `*`.
    pub fn is_all(&self) -> bool {
        self.colon == 0
    }

    /// Whether this is `*` or `resource:*`.
    pub fn is_wildcard(&self) -> bool {
        self.action() == "*"
    }

    /// Whether holding `self` grants `other`: `*` covers everything, `res:*` covers `res:*` and
    /// every `res:action`, and an exact permission covers only itself.
    pub fn covers(&self, other: &Permission) -> bool {
        if self.is_all() {
            true
        } else if self.is_wildcard() {
            !other.is_all() && self.resource() == other.resource()
        } else {
            self.text == other.text
        }
    }

    /// The fixed index of a built-in permission in [`Permission::BUILTIN`].
    pub(crate) fn builtin_index(&self) -> Option<usize> {
        self.builtin.map(usize::from)
    }
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidPermission {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

fn check_part(input: &str, what: &str, part: &str) -> Result<(), Error> {
    if part.is_empty() {
        return Err(invalid(input, format!("the {what} is empty")));
    }
    if let Some(c) = part
        .chars()
        .find(|c| !c.is_ascii() || !is_name_byte(*c as u8))
    {
        return Err(invalid(
            input,
            format!("the {what} contains {c:?}; only a-z, 0-9, `_` and `-` are allowed"),
        ));
    }
    Ok(())
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(invalid(s, "it is empty"));
        }
        if s.len() > MAX_PERMISSION_LEN {
            return Err(invalid(
                s,
                format!("it is longer than {MAX_PERMISSION_LEN} bytes"),
            ));
        }
        if s == "*" {
            return Ok(Permission::all());
        }
        let Some((resource, action)) = s.split_once(':') else {
            return Err(invalid(
                s,
                "expected `resource:action`, `resource:*` or `*`",
            ));
        };
        if action.contains(':') {
            return Err(invalid(s, "it has more than one `:`"));
        }
        if resource == "*" {
            return Err(invalid(
                s,
                "the resource cannot be `*`; use `*` alone for every permission",
            ));
        }
        check_part(s, "resource", resource)?;
        if action != "*" {
            check_part(s, "action", action)?;
        }
        let builtin = Permission::BUILTIN
            .iter()
            .find(|b| b.text == s)
            .and_then(|b| b.builtin);
        Ok(Permission {
            text: Cow::Owned(s.to_owned()),
            colon: resource.len(),
            builtin,
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({:?})", &*self.text)
    }
}

impl PartialEq for Permission {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Permission {}

impl Hash for Permission {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Permission {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Permission {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl AsRef<str> for Permission {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(s: &str) -> String {
        s.parse::<Permission>().expect_err(s).to_string()
    }

    #[test]
    fn parses_resource_and_action() {
        let p: Permission = "graph:query".parse().unwrap();
        assert_eq!(p.resource(), "graph");
        assert_eq!(p.action(), "query");
        assert!(!p.is_wildcard());
        assert_eq!(p.builtin_index(), Some(5));
    }

    #[test]
    fn parsed_builtin_equals_its_constant_and_custom_is_not_builtin() {
        for b in &Permission::BUILTIN {
            assert_eq!(&b.as_str().parse::<Permission>().unwrap(), b);
            assert_eq!(
                b.as_str().parse::<Permission>().unwrap().builtin_index(),
                b.builtin_index()
            );
        }
        assert_eq!(
            "audit:read".parse::<Permission>().unwrap().builtin_index(),
            None
        );
    }

    #[test]
    fn builtin_constants_have_distinct_indices_matching_their_position() {
        for (i, b) in Permission::BUILTIN.iter().enumerate() {
            assert_eq!(b.builtin_index(), Some(i));
        }
    }

    #[test]
    fn wildcards_parse() {
        let all: Permission = "*".parse().unwrap();
        assert!(all.is_all() && all.is_wildcard());
        assert_eq!((all.resource(), all.action()), ("*", "*"));
        let tools: Permission = "tools:*".parse().unwrap();
        assert!(tools.is_wildcard() && !tools.is_all());
        assert_eq!(tools.resource(), "tools");
    }

    #[test]
    fn empty_parts_are_rejected_with_a_clear_message() {
        assert!(err("").contains("it is empty"));
        assert!(err(":read").contains("the resource is empty"));
        assert!(err("tools:").contains("the action is empty"));
        assert!(err(":").contains("the resource is empty"));
    }

    #[test]
    fn extra_colons_are_rejected() {
        assert!(err("tools:read:now").contains("more than one `:`"));
        assert!(err("tools::read").contains("more than one `:`"));
    }

    #[test]
    fn bad_characters_are_rejected_and_named() {
        assert!(err("Tools:read").contains("'T'"));
        assert!(err("tools:re ad").contains("' '"));
        assert!(err("tööls:read").contains("'ö'"));
        assert!(err("tools:read\n").contains("'\\n'"));
        assert!(err("tools").contains("expected `resource:action`"));
        assert!(err("*:read").contains("resource cannot be `*`"));
        assert!(err("tools:*x").contains("'*'"));
        assert!(err("**").contains("expected"));
    }

    #[test]
    fn overlong_permission_is_rejected() {
        let long = format!("tools:{}", "a".repeat(MAX_PERMISSION_LEN));
        assert!(err(&long).contains("longer than 128 bytes"));
    }

    #[test]
    fn new_checks_parts_like_parsing() {
        assert_eq!(
            Permission::new("tools", "read").unwrap(),
            Permission::TOOLS_READ
        );
        assert!(Permission::new("tools", "*").unwrap().is_wildcard());
        assert!(Permission::new("to:ols", "read").is_err());
        assert!(Permission::new("*", "read").is_err());
    }

    #[test]
    fn covers_follows_wildcard_rules() {
        let all = Permission::all();
        let tools_any: Permission = "tools:*".parse().unwrap();
        let graph_any: Permission = "graph:*".parse().unwrap();
        assert!(
            all.covers(&all) && all.covers(&tools_any) && all.covers(&Permission::GRAPH_DELETE)
        );
        assert!(tools_any.covers(&tools_any) && tools_any.covers(&Permission::TOOLS_EXECUTE));
        assert!(!tools_any.covers(&all) && !tools_any.covers(&graph_any));
        assert!(!tools_any.covers(&Permission::GRAPH_QUERY));
        assert!(Permission::TOOLS_READ.covers(&Permission::TOOLS_READ));
        assert!(!Permission::TOOLS_READ.covers(&Permission::TOOLS_LINT));
        assert!(!Permission::TOOLS_READ.covers(&tools_any));
    }

    #[test]
    fn serde_uses_the_plain_string_and_rejects_bad_input() {
        let json = serde_json::to_string(&Permission::GRAPH_UPSERT).unwrap();
        assert_eq!(json, "\"graph:upsert\"");
        let back: Permission = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Permission::GRAPH_UPSERT);
        let e = serde_json::from_str::<Permission>("\"graph:Upsert\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid permission `graph:Upsert`"), "{e}");
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(s in "[a-z0-9_-]{1,20}:([a-z0-9_-]{1,20}|\\*)|\\*") {
            let p: Permission = s.parse().unwrap();
            prop_assert_eq!(p.to_string(), s.clone());
            let again: Permission = p.to_string().parse().unwrap();
            prop_assert_eq!(&again, &p);
            let json = serde_json::to_string(&p).unwrap();
            prop_assert_eq!(serde_json::from_str::<Permission>(&json).unwrap(), p);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics_and_accepted_text_round_trips(s in "\\PC{0,40}|[a-z:*]{0,12}") {
            if let Ok(p) = s.parse::<Permission>() {
                prop_assert_eq!(p.to_string(), s);
            }
        }
    }
}
