//! `resource:action` permissions (and `upstream:<namespace>:<tool>` for the tools of upstream MCP
//! servers), their parser and the built-in constants.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::Error;

/// Longest accepted permission text, in bytes (see [`MAX_UPSTREAM_PERMISSION_LEN`] for the
/// three-part upstream permissions).
pub const MAX_PERMISSION_LEN: usize = 128;

/// Longest accepted `upstream:<namespace>:<tool>` permission, in bytes: room for a namespace of
/// 64 bytes and a tool name of 128 (the longest name MCP recommends).
pub const MAX_UPSTREAM_PERMISSION_LEN: usize = 256;

/// The resource of the permissions that guard the tools of upstream MCP servers (the gateway):
/// `upstream:<namespace>:<tool>`.
pub const UPSTREAM: &str = "upstream";

/// A permission: `resource:action`, `resource:*` (every action on a resource) or `*` (everything).
///
/// Resources and actions use only `a-z`, `0-9`, `_` and `-`. Parsing (via [`FromStr`] or serde,
/// which reads and writes the plain string) rejects anything else with an [`Error::InvalidPermission`]
/// that says what is wrong.
///
/// The tools of upstream MCP servers (the gateway) have three-part permissions under the
/// [`UPSTREAM`] resource: `upstream:<namespace>:<tool>` (one tool), `upstream:<namespace>:<prefix>*`
/// (the tools whose name starts with the prefix), `upstream:<namespace>:*` (every tool of one
/// upstream) and `upstream:*` (every upstream). The namespace uses `a-z`, `0-9`, `_` and `-`;
/// the tool is compared as the upstream names it, case included, and may use `A-Z`, `a-z`,
/// `0-9`, `_`, `-` and `.` (the characters MCP recommends for tool names). A tool whose name
/// has other characters can only be granted through a wildcard. No other resource has three
/// parts.
///
/// ```
/// use mcp_rbac::Permission;
///
/// let read: Permission = "upstream:fs:read_text_file".parse()?;
/// assert_eq!((read.resource(), read.namespace(), read.action()), ("upstream", Some("fs"), "read_text_file"));
/// assert!("upstream:fs:read_*".parse::<Permission>()?.covers(&read));
/// assert!("upstream:fs:*".parse::<Permission>()?.covers(&read));
/// assert!("upstream:*".parse::<Permission>()?.covers(&read));
/// assert!(!"upstream:gh:*".parse::<Permission>()?.covers(&read));
/// assert!("tools:read:all".parse::<Permission>().is_err());
/// # Ok::<(), mcp_rbac::Error>(())
/// ```
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
    /// Byte offset of the second `:` of `upstream:<namespace>:<tool>`; 0 for two parts.
    scope: usize,
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
        scope: 0,
        builtin: Some(id),
    }
}

const fn is_name_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')
}

/// The characters of an upstream tool name a permission can spell.
const fn is_tool_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.')
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

    /// Builds `upstream:<namespace>:<tool>`, with the same checks as parsing. Fails for a tool
    /// name with characters a permission cannot spell (see [`Permission`]); such a tool needs
    /// [`Permission::upstream_any`] of its namespace.
    pub fn upstream(namespace: &str, tool: &str) -> Result<Self, Error> {
        format!("{UPSTREAM}:{namespace}:{tool}").parse()
    }

    /// `upstream:<namespace>:*`: every tool of one upstream.
    pub fn upstream_any(namespace: &str) -> Result<Self, Error> {
        format!("{UPSTREAM}:{namespace}:*").parse()
    }

    /// The `*` permission, which covers every permission.
    pub fn all() -> Self {
        Permission {
            text: Cow::Borrowed("*"),
            colon: 0,
            scope: 0,
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

    /// The action part; `*` for a wildcard. For `upstream:<namespace>:<tool>`, the tool (or
    /// `<prefix>*`).
    pub fn action(&self) -> &str {
        if self.colon == 0 {
            "*"
        } else if self.scope != 0 {
            &self.text[self.scope + 1..]
        } else {
            &self.text[self.colon + 1..]
        }
    }

    /// The namespace of `upstream:<namespace>:<tool>`; `None` for two-part permissions.
    pub fn namespace(&self) -> Option<&str> {
        (self.scope != 0).then(|| &self.text[self.colon + 1..self.scope])
    }

    /// Whether this is `*`.
    pub fn is_all(&self) -> bool {
        self.colon == 0
    }

    /// Whether this is a wildcard: `*`, `resource:*`, `upstream:<namespace>:*` or
    /// `upstream:<namespace>:<prefix>*`.
    pub fn is_wildcard(&self) -> bool {
        self.action().ends_with('*')
    }

    /// Whether holding `self` grants `other`: `*` covers everything, `res:*` covers `res:*` and
    /// every permission of `res` (for `upstream:*`, every upstream's), `upstream:<ns>:<prefix>*`
    /// covers the permissions of namespace `ns` whose tool (or tool prefix) starts with
    /// `prefix`, and an exact permission covers only itself.
    pub fn covers(&self, other: &Permission) -> bool {
        if self.is_all() {
            true
        } else if !self.is_wildcard() {
            self.text == other.text
        } else if other.is_all() || self.resource() != other.resource() {
            false
        } else if self.scope == 0 {
            true
        } else {
            let prefix = self.action().trim_end_matches('*');
            other.namespace() == self.namespace()
                && other.action().trim_end_matches('*').starts_with(prefix)
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

fn check_tool(input: &str, tool: &str) -> Result<(), Error> {
    let name = tool.strip_suffix('*').unwrap_or(tool);
    if tool.is_empty() {
        return Err(invalid(input, "the tool is empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii() || !is_tool_byte(*c as u8))
    {
        return Err(invalid(
            input,
            format!(
                "the tool contains {c:?}; only A-Z, a-z, 0-9, `_`, `-`, `.` and a final `*` are \
                 allowed (grant a tool with other characters through `upstream:<namespace>:*`)"
            ),
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
        if s.len() > MAX_UPSTREAM_PERMISSION_LEN {
            return Err(invalid(
                s,
                format!("it is longer than {MAX_UPSTREAM_PERMISSION_LEN} bytes"),
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
        if let Some((namespace, tool)) = action.split_once(':') {
            return Self::parse_upstream(s, resource, namespace, tool);
        }
        if s.len() > MAX_PERMISSION_LEN {
            return Err(invalid(
                s,
                format!("it is longer than {MAX_PERMISSION_LEN} bytes"),
            ));
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
            if resource == UPSTREAM {
                return Err(invalid(
                    s,
                    "upstream permissions are `upstream:<namespace>:<tool>`, \
                     `upstream:<namespace>:*` or `upstream:*`",
                ));
            }
        }
        let builtin = Permission::BUILTIN
            .iter()
            .find(|b| b.text == s)
            .and_then(|b| b.builtin);
        Ok(Permission {
            text: Cow::Owned(s.to_owned()),
            colon: resource.len(),
            scope: 0,
            builtin,
        })
    }
}

impl Permission {
    /// The three-part form `upstream:<namespace>:<tool>`; `s` is the whole text.
    fn parse_upstream(s: &str, resource: &str, namespace: &str, tool: &str) -> Result<Self, Error> {
        if resource != UPSTREAM {
            if resource.is_empty() {
                return Err(invalid(s, "the resource is empty"));
            }
            return Err(invalid(
                s,
                "it has more than one `:` (only `upstream:<namespace>:<tool>` has three parts)",
            ));
        }
        if tool.contains(':') {
            return Err(invalid(s, "it has more than two `:`"));
        }
        if namespace == "*" {
            return Err(invalid(
                s,
                "the namespace cannot be `*`; use `upstream:*` for every upstream",
            ));
        }
        check_part(s, "namespace", namespace)?;
        check_tool(s, tool)?;
        Ok(Permission {
            text: Cow::Owned(s.to_owned()),
            colon: resource.len(),
            scope: resource.len() + 1 + namespace.len(),
            builtin: None,
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

    #[test]
    fn upstream_permissions_have_a_namespace_and_a_tool() {
        let p: Permission = "upstream:fs:read_text_file".parse().unwrap();
        assert_eq!(p.resource(), "upstream");
        assert_eq!(p.namespace(), Some("fs"));
        assert_eq!(p.action(), "read_text_file");
        assert!(!p.is_wildcard() && !p.is_all());
        assert_eq!(p.builtin_index(), None);
        assert_eq!(Permission::upstream("fs", "read_text_file").unwrap(), p);
        let any = Permission::upstream_any("fs").unwrap();
        assert_eq!(any.as_str(), "upstream:fs:*");
        assert!(any.is_wildcard() && any.namespace() == Some("fs"));
        // Tool names keep their case and may hold dots, as upstreams name them.
        let gh: Permission = "upstream:gh-2:Issues.List_v2".parse().unwrap();
        assert_eq!(
            (gh.namespace(), gh.action()),
            (Some("gh-2"), "Issues.List_v2")
        );
        assert_eq!(Permission::TOOLS_READ.namespace(), None);
        assert_eq!(Permission::all().namespace(), None);
    }

    #[test]
    fn bad_upstream_permissions_say_what_is_wrong() {
        assert!(err("upstream:fs").contains("upstream:<namespace>:<tool>"));
        assert!(err("upstream:*:read").contains("namespace cannot be `*`"));
        assert!(err("upstream::read").contains("the namespace is empty"));
        assert!(err("upstream:fs:").contains("the tool is empty"));
        assert!(err("upstream:Fs:read").contains("the namespace contains 'F'"));
        assert!(err("upstream:fs:read file").contains("the tool contains ' '"));
        assert!(err("upstream:fs:a/b").contains("the tool contains '/'"));
        assert!(err("upstream:fs:re*d").contains("the tool contains '*'"));
        assert!(err("upstream:fs:**").contains("the tool contains '*'"));
        assert!(err("upstream:fs:a:b").contains("more than two `:`"));
        assert!(err("graph:fs:read").contains("only `upstream:<namespace>:<tool>`"));
        assert!(err("::read").contains("the resource is empty"));
        let long_tool = format!("upstream:fs:{}", "t".repeat(MAX_UPSTREAM_PERMISSION_LEN));
        assert!(err(&long_tool).contains("longer than 256 bytes"));
        // A 128-byte tool name (the longest MCP recommends) fits.
        let tool = "t".repeat(128);
        assert!(Permission::upstream(&"n".repeat(64), &tool).is_ok());
        assert!(Permission::upstream("fs", "a b").is_err());
    }

    #[test]
    fn upstream_wildcards_cover_their_namespace_and_prefix_only() {
        let p = |s: &str| s.parse::<Permission>().unwrap();
        let read = p("upstream:fs:read_file");
        let write = p("upstream:fs:write_file");
        let other_ns = p("upstream:fsx:read_file");
        let all_upstreams = p("upstream:*");
        let fs_any = p("upstream:fs:*");
        let fs_read = p("upstream:fs:read_*");
        assert!(all_upstreams.covers(&read) && all_upstreams.covers(&fs_any));
        assert!(all_upstreams.covers(&fs_read) && all_upstreams.covers(&all_upstreams));
        assert!(fs_any.covers(&read) && fs_any.covers(&write) && fs_any.covers(&fs_read));
        assert!(!fs_any.covers(&other_ns) && !fs_any.covers(&all_upstreams));
        assert!(fs_read.covers(&read) && fs_read.covers(&p("upstream:fs:read_x*")));
        assert!(!fs_read.covers(&write) && !fs_read.covers(&fs_any));
        assert!(!fs_read.covers(&p("upstream:fsx:read_file")));
        assert!(!read.covers(&fs_any) && read.covers(&read) && !read.covers(&write));
        // Case matters in tool names; the other resources never reach upstream tools.
        assert!(!fs_read.covers(&p("upstream:fs:Read_file")));
        assert!(!p("tools:*").covers(&read) && Permission::all().covers(&read));
        assert!(!fs_any.covers(&Permission::all()) && !fs_any.covers(&Permission::TOOLS_READ));
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
        fn upstream_permissions_round_trip(ns in "[a-z0-9_-]{1,20}", tool in "[A-Za-z0-9_.-]{1,40}\\*?") {
            let text = format!("upstream:{ns}:{tool}");
            let p: Permission = text.parse().unwrap();
            prop_assert_eq!(p.to_string(), text.clone());
            prop_assert_eq!(p.namespace(), Some(ns.as_str()));
            prop_assert_eq!(p.action(), tool.as_str());
            prop_assert_eq!(p.is_wildcard(), tool.ends_with('*'));
            let json = serde_json::to_string(&p).unwrap();
            prop_assert_eq!(serde_json::from_str::<Permission>(&json).unwrap(), p);
        }

        #[test]
        fn a_tool_wildcard_covers_exactly_the_tools_with_its_prefix(
            ns in "[a-c]{1,2}", prefix in "[a-c_]{0,3}", other_ns in "[a-c]{1,2}", tool in "[a-c_]{1,5}",
        ) {
            let grant: Permission = format!("upstream:{ns}:{prefix}*").parse().unwrap();
            let wanted: Permission = format!("upstream:{other_ns}:{tool}").parse().unwrap();
            prop_assert_eq!(grant.covers(&wanted), ns == other_ns && tool.starts_with(&prefix));
            // What the wildcard covers, `upstream:*` and `*` cover too.
            if grant.covers(&wanted) {
                prop_assert!("upstream:*".parse::<Permission>().unwrap().covers(&wanted));
                prop_assert!(Permission::all().covers(&wanted));
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics_and_accepted_text_round_trips(s in "\\PC{0,40}|[a-z:*]{0,12}") {
            if let Ok(p) = s.parse::<Permission>() {
                prop_assert_eq!(p.to_string(), s);
            }
        }

        #[test]
        fn parsing_colon_heavy_text_never_panics_and_parts_rebuild_the_text(s in "(upstream|[a-z*]{0,3})(:[a-zA-Z.*]{0,4}){0,4}") {
            if let Ok(p) = s.parse::<Permission>() {
                prop_assert_eq!(p.to_string(), s.clone());
                let rebuilt = match (p.is_all(), p.namespace()) {
                    (true, _) => "*".to_owned(),
                    (false, Some(ns)) => format!("{}:{ns}:{}", p.resource(), p.action()),
                    (false, None) => format!("{}:{}", p.resource(), p.action()),
                };
                prop_assert_eq!(rebuilt, s);
            }
        }
    }
}
