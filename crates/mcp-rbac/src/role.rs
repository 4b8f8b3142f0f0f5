//! Role names: the built-in roles and the name syntax every role follows.

use crate::{Error, Permission};

/// Least privileged built-in role: read tools, lint, query the graph. Every user has it
/// when no other role is assigned.
pub const VIEWER: &str = "viewer";
/// `viewer` plus executing, testing and generating with tools.
pub const DEVELOPER: &str = "developer";
/// `developer` plus writing and deleting graph data and administering the system.
pub const ADMIN: &str = "admin";

/// The built-in roles, least to most privileged.
pub const BUILTIN_ROLES: [&str; 3] = [VIEWER, DEVELOPER, ADMIN];

/// Longest accepted role name, in bytes.
pub const MAX_ROLE_NAME_LEN: usize = 64;

/// Checks that `name` is a valid role name: 1 to [`MAX_ROLE_NAME_LEN`] bytes of `a-z`, `0-9`,
/// `_` and `-`.
///
/// ```
/// assert!(mcp_rbac::role::validate_name("release-manager").is_ok());
/// assert!(mcp_rbac::role::validate_name("Release Manager").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidRoleName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if name.len() > MAX_ROLE_NAME_LEN {
        return Err(invalid(format!(
            "it is longer than {MAX_ROLE_NAME_LEN} bytes"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(invalid(format!(
            "it contains {c:?}; only a-z, 0-9, `_` and `-` are allowed"
        )));
    }
    Ok(())
}

/// The built-in roles as `(name, parents, own permissions)`.
pub(crate) fn builtin_definitions() -> [(&'static str, &'static [&'static str], Vec<Permission>); 3]
{
    [
        (
            VIEWER,
            &[],
            vec![
                Permission::TOOLS_READ,
                Permission::TOOLS_LINT,
                Permission::GRAPH_QUERY,
            ],
        ),
        (
            DEVELOPER,
            &[VIEWER],
            vec![
                Permission::TOOLS_EXECUTE,
                Permission::TOOLS_TEST,
                Permission::TOOLS_GENERATE,
            ],
        ),
        (
            ADMIN,
            &[DEVELOPER],
            vec![
                Permission::GRAPH_UPSERT,
                Permission::GRAPH_DELETE,
                Permission::SYSTEM_ADMIN,
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_accept_the_documented_alphabet() {
        for ok in [
            "viewer",
            "a",
            "release-manager_2",
            &"x".repeat(MAX_ROLE_NAME_LEN),
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn bad_role_names_get_a_reason() {
        let msg = |n: &str| validate_name(n).unwrap_err().to_string();
        assert_eq!(msg(""), "invalid role name ``: it is empty");
        assert!(msg("Admin").contains("'A'"));
        assert!(msg("ops team").contains("' '"));
        assert!(msg(&"x".repeat(MAX_ROLE_NAME_LEN + 1)).contains("longer than 64 bytes"));
    }
}
