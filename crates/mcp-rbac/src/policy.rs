//! The pure, precomputed permission check.

use std::collections::{BTreeMap, BTreeSet};

use crate::decision::{Decision, DenyReason};
use crate::role::{self, builtin_definitions};
use crate::{Error, Permission, RolesConfig};

/// Which roles grant which permissions, precomputed for fast checks.
///
/// Built once from the built-in roles plus a [`RolesConfig`]; after that every check is pure,
/// synchronous and allocation-free ([`Policy::allows`]). At build time every permission named by
/// any role is interned to a bit index (the built-in permissions always have the same fixed
/// indices), and each role's effective permissions (its own, everything it inherits, and what its
/// wildcards cover) become a bitset. A check is then a binary search for the role name and one bit
/// test. Permissions no role names (e.g. `billing:refund` when only `*` is configured, or an
/// upstream tool `upstream:fs:read_file` when a role holds `upstream:fs:*`) are handled by the
/// role's precomputed wildcards. Unknown role names grant nothing.
///
/// ```
/// use mcp_rbac::{Permission, Policy};
///
/// let policy = Policy::builtin();
/// assert!(policy.allows(&["developer"], &Permission::TOOLS_EXECUTE));
/// assert!(!policy.allows(&["viewer"], &Permission::GRAPH_DELETE));
/// assert!(!policy.allows(&["no-such-role"], &Permission::TOOLS_READ));
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    /// Interned permissions: the built-ins at their fixed indices, then the rest sorted.
    permissions: Vec<Permission>,
    /// Roles sorted by name.
    roles: Vec<RoleEntry>,
}

#[derive(Debug, Clone)]
struct RoleEntry {
    name: Box<str>,
    description: Option<String>,
    /// Declared parents, as configured.
    parents: Vec<String>,
    /// Permissions this role itself declares.
    own: Vec<Permission>,
    /// Indices into `Policy::roles`: this role first, then every ancestor once.
    lineage: Vec<usize>,
    /// Bit `i` set when the role grants `Policy::permissions[i]`.
    bits: Box<[u64]>,
    /// Whether the role holds `*`.
    all: bool,
    /// Resources the role holds `resource:*` for.
    wildcard_resources: Box<[Box<str>]>,
    /// The three-part wildcards the role holds (`upstream:<namespace>:<prefix>*`).
    scoped_wildcards: Box<[Permission]>,
}

impl RoleEntry {
    #[inline]
    fn allows(&self, bit: Option<usize>, permission: &Permission) -> bool {
        match bit {
            Some(i) => self
                .bits
                .get(i / 64)
                .is_some_and(|w| (w >> (i % 64)) & 1 == 1),
            // Not interned: no role names it, so only a wildcard can grant it.
            None => {
                self.all
                    || (!permission.is_all()
                        && (self
                            .wildcard_resources
                            .iter()
                            .any(|r| **r == *permission.resource())
                            || self.scoped_wildcards.iter().any(|g| g.covers(permission))))
            }
        }
    }
}

/// A role as declared, before resolution.
struct Definition {
    name: String,
    description: Option<String>,
    parents: Vec<String>,
    own: Vec<Permission>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Policy {
    /// The built-in roles only: `viewer`, `developer`, `admin`.
    pub fn builtin() -> Self {
        match Self::from_config(&RolesConfig::default()) {
            Ok(policy) => policy,
            // The built-in definitions are fixed and covered by tests.
            Err(e) => unreachable!("built-in roles are valid: {e}"),
        }
    }

    /// The built-in roles plus the custom roles of `config`.
    ///
    /// Fails with a clear [`Error`] on an invalid role name, a redefined built-in role, a parent
    /// that does not exist, or an inheritance cycle.
    pub fn from_config(config: &RolesConfig) -> Result<Self, Error> {
        let mut defs: Vec<Definition> = builtin_definitions()
            .into_iter()
            .map(|(name, parents, own)| Definition {
                name: name.to_owned(),
                description: None,
                parents: parents.iter().map(|p| (*p).to_owned()).collect(),
                own,
            })
            .collect();
        for (name, role_config) in &config.roles {
            role::validate_name(name)?;
            if role::BUILTIN_ROLES.contains(&name.as_str()) {
                return Err(Error::BuiltinRoleRedefined { role: name.clone() });
            }
            defs.push(Definition {
                name: name.clone(),
                description: role_config.description.clone(),
                parents: role_config.inherits.clone(),
                own: role_config.permissions.clone(),
            });
        }
        defs.sort_by(|a, b| a.name.cmp(&b.name));

        let index: BTreeMap<&str, usize> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.as_str(), i))
            .collect();
        let mut parents_of: Vec<Vec<usize>> = Vec::with_capacity(defs.len());
        for def in &defs {
            let mut parents = Vec::with_capacity(def.parents.len());
            for parent in &def.parents {
                match index.get(parent.as_str()) {
                    Some(&i) => parents.push(i),
                    None => {
                        return Err(Error::UnknownParent {
                            role: def.name.clone(),
                            parent: parent.clone(),
                        });
                    }
                }
            }
            parents_of.push(parents);
        }
        if let Some(cycle) = find_cycle(&parents_of) {
            return Err(Error::InheritanceCycle {
                cycle: cycle.into_iter().map(|i| defs[i].name.clone()).collect(),
            });
        }

        let mut extra: BTreeSet<&Permission> = BTreeSet::new();
        for def in &defs {
            extra.extend(def.own.iter().filter(|p| p.builtin_index().is_none()));
        }
        let permissions: Vec<Permission> = Permission::BUILTIN
            .into_iter()
            .chain(extra.into_iter().cloned())
            .collect();
        let words = permissions.len().div_ceil(64);

        let mut roles = Vec::with_capacity(defs.len());
        for (i, def) in defs.iter().enumerate() {
            let lineage = lineage(i, &parents_of);
            let grants: Vec<&Permission> =
                lineage.iter().flat_map(|&r| defs[r].own.iter()).collect();
            let mut bits = vec![0u64; words];
            for (bit, permission) in permissions.iter().enumerate() {
                if grants.iter().any(|g| g.covers(permission)) {
                    bits[bit / 64] |= 1 << (bit % 64);
                }
            }
            let mut wildcard_resources: Vec<Box<str>> = grants
                .iter()
                .filter(|g| g.is_wildcard() && !g.is_all() && g.namespace().is_none())
                .map(|g| g.resource().into())
                .collect();
            wildcard_resources.sort();
            wildcard_resources.dedup();
            let mut scoped_wildcards: Vec<Permission> = grants
                .iter()
                .filter(|g| g.is_wildcard() && g.namespace().is_some())
                .map(|g| (*g).clone())
                .collect();
            scoped_wildcards.sort();
            scoped_wildcards.dedup();
            roles.push(RoleEntry {
                name: def.name.as_str().into(),
                description: def.description.clone(),
                parents: def.parents.clone(),
                own: def.own.clone(),
                lineage,
                bits: bits.into_boxed_slice(),
                all: grants.iter().any(|g| g.is_all()),
                wildcard_resources: wildcard_resources.into_boxed_slice(),
                scoped_wildcards: scoped_wildcards.into_boxed_slice(),
            });
        }
        tracing::debug!(
            roles = roles.len(),
            permissions = permissions.len(),
            "built RBAC policy"
        );
        Ok(Policy { permissions, roles })
    }

    /// Whether any of `roles` grants `permission`. Unknown roles grant nothing; no roles, nothing.
    ///
    /// Pure and allocation-free: meant for every request.
    #[inline]
    pub fn allows<R: AsRef<str>>(&self, roles: &[R], permission: &Permission) -> bool {
        let bit = self.bit_of(permission);
        roles.iter().any(|r| {
            self.entry(r.as_ref())
                .is_some_and(|e| e.allows(bit, permission))
        })
    }

    /// Like [`Policy::allows`], but says which role granted the permission (and through which
    /// grant), or why it was denied. Allocates; meant for the audit log.
    pub fn check<R: AsRef<str>>(&self, roles: &[R], permission: &Permission) -> Decision {
        if roles.is_empty() {
            return Decision::Denied(DenyReason::NoRoles);
        }
        let bit = self.bit_of(permission);
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for name in roles.iter().map(AsRef::as_ref) {
            let Some(entry) = self.entry(name) else {
                push_unique(&mut unknown, name);
                continue;
            };
            if entry.allows(bit, permission) {
                let (granted_by, grant) = entry
                    .lineage
                    .iter()
                    .map(|&i| &self.roles[i])
                    .find_map(|r| {
                        r.own
                            .iter()
                            .find(|g| g.covers(permission))
                            .map(|g| (&r.name, g))
                    })
                    // The bitset is built from these same grants, so one always matches.
                    .unwrap_or((&entry.name, permission));
                return Decision::Allowed {
                    role: name.to_owned(),
                    granted_by: granted_by.to_string(),
                    grant: grant.clone(),
                };
            }
            push_unique(&mut known, name);
        }
        Decision::Denied(DenyReason::NotGranted {
            roles: known,
            unknown_roles: unknown,
        })
    }

    /// Every permission the roles grant together, sorted, including wildcards they hold
    /// (e.g. `tools:*`). Unknown roles are ignored. For showing a user what they may do.
    pub fn permissions_of<R: AsRef<str>>(&self, roles: &[R]) -> Vec<Permission> {
        let mut union = vec![0u64; self.permissions.len().div_ceil(64)];
        for entry in roles.iter().filter_map(|r| self.entry(r.as_ref())) {
            for (u, w) in union.iter_mut().zip(entry.bits.iter()) {
                *u |= w;
            }
        }
        let mut out: Vec<Permission> = self
            .permissions
            .iter()
            .enumerate()
            .filter(|(i, _)| (union[i / 64] >> (i % 64)) & 1 == 1)
            .map(|(_, p)| p.clone())
            .collect();
        out.sort();
        out
    }

    /// Whether the policy defines a role with this name.
    pub fn has_role(&self, role: &str) -> bool {
        self.entry(role).is_some()
    }

    /// The names of all roles, built-in and custom, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> + '_ {
        self.roles.iter().map(|r| &*r.name)
    }

    /// The roles `role` directly inherits from, or `None` for an unknown role.
    pub fn parents_of(&self, role: &str) -> Option<&[String]> {
        self.entry(role).map(|e| e.parents.as_slice())
    }

    /// The configured description of a custom role.
    pub fn description_of(&self, role: &str) -> Option<&str> {
        self.entry(role).and_then(|e| e.description.as_deref())
    }

    #[inline]
    fn entry(&self, role: &str) -> Option<&RoleEntry> {
        self.roles
            .binary_search_by(|e| (*e.name).cmp(role))
            .ok()
            .map(|i| &self.roles[i])
    }

    #[inline]
    fn bit_of(&self, permission: &Permission) -> Option<usize> {
        if let Some(i) = permission.builtin_index() {
            return Some(i);
        }
        let extra = &self.permissions[Permission::BUILTIN.len()..];
        extra
            .binary_search(permission)
            .ok()
            .map(|i| i + Permission::BUILTIN.len())
    }
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_owned());
    }
}

/// `start`, then every role it inherits from (depth first), each once.
fn lineage(start: usize, parents_of: &[Vec<usize>]) -> Vec<usize> {
    let mut seen = vec![false; parents_of.len()];
    let mut out = Vec::new();
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            out.push(i);
            stack.extend(parents_of[i].iter().rev());
        }
    }
    out
}

/// An inheritance cycle as a path that starts and ends at the same role, if there is one.
/// Iterative, so a long inheritance chain cannot overflow the stack.
fn find_cycle(parents_of: &[Vec<usize>]) -> Option<Vec<usize>> {
    const NEW: u8 = 0;
    const ACTIVE: u8 = 1;
    const DONE: u8 = 2;
    let mut marks = vec![NEW; parents_of.len()];
    for root in 0..parents_of.len() {
        if marks[root] != NEW {
            continue;
        }
        // The current path, each role with the index of the next parent to visit.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = ACTIVE;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&parent) = parents_of[node].get(*next) else {
                marks[node] = DONE;
                path.pop();
                continue;
            };
            *next += 1;
            match marks[parent] {
                ACTIVE => {
                    let start = path.iter().position(|&(n, _)| n == parent).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[start..].iter().map(|&(n, _)| n).collect();
                    cycle.push(parent);
                    return Some(cycle);
                }
                NEW => {
                    marks[parent] = ACTIVE;
                    path.push((parent, 0));
                }
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
