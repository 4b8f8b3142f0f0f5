//! How upstream names appear in the merged catalog.
//!
//! - Tools and prompts: `<namespace>__<name>` (two underscores). A namespace has no `_`, so the
//!   first `__` always ends it, whatever the upstream's own name holds. Letters, digits, `_` and
//!   `-` are all most agent clients accept in a tool name, hence no `.` or `/`.
//! - Resources and resource templates: the namespace and a `+` in front of the URI's scheme,
//!   `file:///tmp/a` from `fs` becomes `fs+file:///tmp/a`: still a valid absolute URI.

/// Separator between namespace and name in tool and prompt names.
pub const SEPARATOR: &str = "__";

/// `<namespace>__<name>`.
pub fn qualified(namespace: &str, name: &str) -> String {
    format!("{namespace}{SEPARATOR}{name}")
}

/// Splits a qualified tool or prompt name into namespace and upstream name.
pub fn split(qualified: &str) -> Option<(&str, &str)> {
    let (ns, name) = qualified.split_once(SEPARATOR)?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// `<namespace>+<uri>`.
pub fn qualified_uri(namespace: &str, uri: &str) -> String {
    format!("{namespace}+{uri}")
}

/// Splits a qualified resource URI into namespace and upstream URI.
pub fn split_uri(qualified: &str) -> Option<(&str, &str)> {
    let (ns, uri) = qualified.split_once('+')?;
    (!ns.is_empty() && !uri.is_empty() && !ns.contains(':')).then_some((ns, uri))
}

/// The permission an upstream tool needs, in the form the binary's role model will use:
/// `upstream:<namespace>:<tool>`.
pub fn permission(namespace: &str, tool: &str) -> String {
    format!("upstream:{namespace}:{tool}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_separator() {
        assert_eq!(split("fs__read_file"), Some(("fs", "read_file")));
        assert_eq!(split("fs___private__x"), Some(("fs", "_private__x")));
        assert_eq!(split(&qualified("gh", "a__b")), Some(("gh", "a__b")));
        for bad in ["read", "__read", "fs__", ""] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }

    #[test]
    fn uris_keep_the_upstream_uri_after_the_namespace() {
        let q = qualified_uri("fs", "file:///tmp/a+b");
        assert_eq!(q, "fs+file:///tmp/a+b");
        assert_eq!(split_uri(&q), Some(("fs", "file:///tmp/a+b")));
        assert_eq!(split_uri("file:///x+y"), None);
        assert_eq!(split_uri("plain"), None);
        assert_eq!(permission("fs", "read"), "upstream:fs:read");
    }
}
