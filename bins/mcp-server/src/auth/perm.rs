//! One marker type per permission, so a handler's signature names what it requires:
//! `async fn execute(auth: Allowed<perm::ToolsExecute>, …)`.
use mcp_rbac::Permission;

/// A permission known at compile time.
pub trait Perm: 'static {
    /// The permission.
    const PERMISSION: Permission;
}

macro_rules! perms {
    ($($(#[$doc:meta])* $name:ident => $value:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl Perm for $name {
            const PERMISSION: Permission = Permission::$value;
        }
    )*};
}

perms! {
    /// `tools:read`: list tools and templates.
    ToolsRead => TOOLS_READ;
    /// `tools:lint`: lint code.
    ToolsLint => TOOLS_LINT;
    /// `tools:execute`: run code in the sandbox.
    ToolsExecute => TOOLS_EXECUTE;
    /// `tools:test`: run tests in the sandbox.
    ToolsTest => TOOLS_TEST;
    /// `tools:generate`: generate code from templates.
    ToolsGenerate => TOOLS_GENERATE;
    /// `graph:query`: read the graph.
    GraphQuery => GRAPH_QUERY;
    /// `graph:upsert`: write nodes and relationships.
    GraphUpsert => GRAPH_UPSERT;
    /// `graph:delete`: delete nodes and relationships.
    GraphDelete => GRAPH_DELETE;
    /// `system:admin`: users, roles, audit log.
    SystemAdmin => SYSTEM_ADMIN;
}
