use proptest::prelude::*;

use super::*;
use crate::RoleConfig;

fn perm(s: &str) -> Permission {
    s.parse().unwrap()
}

fn policy_with(config: RolesConfig) -> Policy {
    Policy::from_config(&config).unwrap()
}

#[test]
fn viewer_has_exactly_read_lint_and_query() {
    let p = Policy::builtin();
    assert_eq!(
        p.permissions_of(&["viewer"]),
        [
            Permission::GRAPH_QUERY,
            Permission::TOOLS_LINT,
            Permission::TOOLS_READ
        ]
    );
}

#[test]
fn developer_adds_execute_test_and_generate_to_viewer() {
    let p = Policy::builtin();
    let mut expected = p.permissions_of(&["viewer"]);
    expected.extend([
        Permission::TOOLS_EXECUTE,
        Permission::TOOLS_TEST,
        Permission::TOOLS_GENERATE,
    ]);
    expected.sort();
    assert_eq!(p.permissions_of(&["developer"]), expected);
}

#[test]
fn admin_has_every_builtin_permission() {
    let p = Policy::builtin();
    let mut all = Permission::BUILTIN.to_vec();
    all.sort();
    assert_eq!(p.permissions_of(&["admin"]), all);
}

#[test]
fn builtin_roles_allow_and_deny_as_documented() {
    let p = Policy::builtin();
    for (role, allowed) in [
        ("viewer", &[0, 1, 5][..]),
        ("developer", &[0, 1, 2, 3, 4, 5][..]),
        ("admin", &[0, 1, 2, 3, 4, 5, 6, 7, 8][..]),
    ] {
        for (i, permission) in Permission::BUILTIN.iter().enumerate() {
            assert_eq!(
                p.allows(&[role], permission),
                allowed.contains(&i),
                "{role} {permission}"
            );
        }
    }
}

#[test]
fn unknown_roles_and_no_roles_grant_nothing() {
    let p = Policy::builtin();
    let none: [&str; 0] = [];
    for permission in &Permission::BUILTIN {
        assert!(!p.allows(&["root"], permission));
        assert!(!p.allows(&["Admin"], permission));
        assert!(!p.allows(&none, permission));
    }
    assert!(p.permissions_of(&["root"]).is_empty());
    assert_eq!(
        p.check(&none, &Permission::TOOLS_READ),
        Decision::Denied(DenyReason::NoRoles)
    );
}

#[test]
fn any_one_of_several_roles_is_enough() {
    let p = Policy::builtin();
    assert!(p.allows(
        &["ghost", "viewer", "developer"],
        &Permission::TOOLS_EXECUTE
    ));
    let stored: Vec<String> = ["viewer", "admin"].map(String::from).into();
    assert!(p.allows(&stored, &Permission::SYSTEM_ADMIN));
}

#[test]
fn permissions_no_role_names_are_denied_to_builtin_roles() {
    let p = Policy::builtin();
    assert!(!p.allows(&["admin"], &perm("billing:refund")));
    assert!(!p.allows(&["admin"], &perm("tools:*")));
    assert!(!p.allows(&["admin"], &Permission::all()));
}

#[test]
fn custom_role_inherits_its_parents_permissions() {
    let p = policy_with(
        RolesConfig::default().with_role(
            "auditor",
            RoleConfig::new()
                .inherits("viewer")
                .permission(perm("audit:read")),
        ),
    );
    assert!(p.allows(&["auditor"], &perm("audit:read")));
    assert!(p.allows(&["auditor"], &Permission::TOOLS_READ));
    assert!(!p.allows(&["auditor"], &Permission::TOOLS_EXECUTE));
    assert!(!p.allows(&["admin"], &perm("audit:read")));
}

#[test]
fn multiple_and_transitive_parents_are_all_inherited() {
    let p = policy_with(
        RolesConfig::default()
            .with_role("a", RoleConfig::new().permission(perm("a:x")))
            .with_role("b", RoleConfig::new().inherits("a").permission(perm("b:x")))
            .with_role("c", RoleConfig::new().inherits("b").inherits("developer")),
    );
    for permission in [
        perm("a:x"),
        perm("b:x"),
        Permission::TOOLS_TEST,
        Permission::GRAPH_QUERY,
    ] {
        assert!(p.allows(&["c"], &permission), "{permission}");
    }
    assert!(!p.allows(&["c"], &Permission::GRAPH_DELETE));
    assert_eq!(
        p.parents_of("c"),
        Some(&["b".to_owned(), "developer".to_owned()][..])
    );
}

#[test]
fn resource_wildcard_grants_every_action_on_that_resource_only() {
    let p = policy_with(
        RolesConfig::default().with_role("tooler", RoleConfig::new().permission(perm("tools:*"))),
    );
    for permission in [
        Permission::TOOLS_READ,
        Permission::TOOLS_EXECUTE,
        perm("tools:deploy"),
        perm("tools:*"),
    ] {
        assert!(p.allows(&["tooler"], &permission), "{permission}");
    }
    assert!(!p.allows(&["tooler"], &Permission::GRAPH_QUERY));
    assert!(!p.allows(&["tooler"], &perm("toolsx:read")));
    assert!(!p.allows(&["tooler"], &Permission::all()));
}

#[test]
fn star_grants_everything_including_unnamed_permissions() {
    let p = policy_with(
        RolesConfig::default().with_role("root", RoleConfig::new().permission(Permission::all())),
    );
    for permission in [
        Permission::SYSTEM_ADMIN,
        perm("billing:refund"),
        perm("x:*"),
        Permission::all(),
    ] {
        assert!(p.allows(&["root"], &permission), "{permission}");
    }
}

#[test]
fn inherited_wildcard_is_expanded_for_the_child() {
    let p = policy_with(
        RolesConfig::default()
            .with_role("graph-all", RoleConfig::new().permission(perm("graph:*")))
            .with_role("curator", RoleConfig::new().inherits("graph-all")),
    );
    assert!(p.allows(&["curator"], &Permission::GRAPH_DELETE));
    assert!(p.allows(&["curator"], &perm("graph:export")));
    assert!(!p.allows(&["curator"], &Permission::TOOLS_READ));
}

#[test]
fn permissions_of_unions_roles_and_lists_held_wildcards() {
    let p = policy_with(
        RolesConfig::default().with_role(
            "auditor",
            RoleConfig::new()
                .permission(perm("audit:*"))
                .permission(perm("audit:read")),
        ),
    );
    assert_eq!(
        p.permissions_of(&["auditor", "viewer", "ghost"]),
        [
            perm("audit:*"),
            perm("audit:read"),
            Permission::GRAPH_QUERY,
            Permission::TOOLS_LINT,
            Permission::TOOLS_READ
        ]
    );
}

#[test]
fn check_names_the_requested_role_and_the_ancestor_that_declares_the_grant() {
    let p = policy_with(
        RolesConfig::default()
            .with_role("graph-all", RoleConfig::new().permission(perm("graph:*")))
            .with_role(
                "curator",
                RoleConfig::new().inherits("viewer").inherits("graph-all"),
            ),
    );
    assert_eq!(
        p.check(&["ghost", "curator"], &Permission::GRAPH_DELETE),
        Decision::Allowed {
            role: "curator".into(),
            granted_by: "graph-all".into(),
            grant: perm("graph:*")
        }
    );
    assert_eq!(
        p.check(&["developer"], &Permission::TOOLS_EXECUTE),
        Decision::Allowed {
            role: "developer".into(),
            granted_by: "developer".into(),
            grant: Permission::TOOLS_EXECUTE
        }
    );
}

#[test]
fn check_denial_lists_known_and_unknown_roles_once_each() {
    let p = Policy::builtin();
    let decision = p.check(
        &["viewer", "ghost", "viewer", "ghost"],
        &Permission::SYSTEM_ADMIN,
    );
    assert_eq!(
        decision,
        Decision::Denied(DenyReason::NotGranted {
            roles: vec!["viewer".into()],
            unknown_roles: vec!["ghost".into()]
        })
    );
    let only_unknown = p.check(&["ghost"], &Permission::TOOLS_READ);
    assert_eq!(
        only_unknown.to_string(),
        "denied: no known role; unknown roles ignored: [ghost]"
    );
}

#[test]
fn check_and_allows_agree() {
    let p = Policy::builtin();
    for role in ["viewer", "developer", "admin", "ghost"] {
        for permission in Permission::BUILTIN
            .iter()
            .chain([&perm("x:y"), &Permission::all()])
        {
            assert_eq!(
                p.check(&[role], permission).is_allowed(),
                p.allows(&[role], permission)
            );
        }
    }
}

#[test]
fn unknown_parent_is_a_load_error() {
    let err = Policy::from_config(
        &RolesConfig::default().with_role("ops", RoleConfig::new().inherits("devloper")),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownParent { role, parent } if role == "ops" && parent == "devloper")
    );
    assert_eq!(
        err.to_string(),
        "role `ops` inherits from unknown role `devloper`"
    );
}

#[test]
fn inheritance_cycle_is_a_load_error_that_shows_the_loop() {
    let config = RolesConfig::default()
        .with_role("a", RoleConfig::new().inherits("b"))
        .with_role("b", RoleConfig::new().inherits("c"))
        .with_role("c", RoleConfig::new().inherits("a").inherits("viewer"));
    let err = Policy::from_config(&config).unwrap_err();
    assert_eq!(err.to_string(), "role inheritance cycle: a -> b -> c -> a");
}

#[test]
fn self_inheritance_is_a_cycle() {
    let err = Policy::from_config(
        &RolesConfig::default().with_role("me", RoleConfig::new().inherits("me")),
    )
    .unwrap_err();
    assert!(matches!(&err, Error::InheritanceCycle { cycle } if cycle == &["me", "me"]));
}

#[test]
fn a_very_long_inheritance_chain_loads_without_overflowing_the_stack() {
    let mut config = RolesConfig::default();
    for i in 1..1000 {
        config = config.with_role(
            format!("r{i}"),
            RoleConfig::new().inherits(format!("r{}", i - 1)),
        );
    }
    config = config.with_role("r0", RoleConfig::new().permission(perm("deep:x")));
    let p = policy_with(config.clone());
    assert!(p.allows(&["r999"], &perm("deep:x")));
    let looped = config.with_role("r0", RoleConfig::new().inherits("r999"));
    assert!(matches!(
        Policy::from_config(&looped),
        Err(Error::InheritanceCycle { .. })
    ));
}

#[test]
fn builtin_roles_cannot_be_redefined() {
    let err = Policy::from_config(
        &RolesConfig::default()
            .with_role("viewer", RoleConfig::new().permission(Permission::all())),
    )
    .unwrap_err();
    assert!(matches!(&err, Error::BuiltinRoleRedefined { role } if role == "viewer"));
}

#[test]
fn invalid_custom_role_names_are_load_errors() {
    for bad in ["", "Ops", "ops team", "ops:x"] {
        let err = Policy::from_config(&RolesConfig::default().with_role(bad, RoleConfig::new()))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidRoleName { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn toml_config_with_a_cycle_fails_at_load() {
    let config = RolesConfig::from_toml(
        r#"
        [roles.x]
        inherits = ["y"]
        [roles.y]
        inherits = ["x"]
        "#,
    )
    .unwrap();
    assert!(matches!(
        Policy::from_config(&config),
        Err(Error::InheritanceCycle { .. })
    ));
}

#[test]
fn more_than_64_permissions_use_several_bitset_words() {
    let mut role = RoleConfig::new();
    for i in 0..150 {
        role = role.permission(perm(&format!("res{i:03}:act")));
    }
    let p = policy_with(RolesConfig::default().with_role("wide", role));
    assert!(p.allows(&["wide"], &perm("res000:act")));
    assert!(p.allows(&["wide"], &perm("res149:act")));
    assert!(!p.allows(&["wide"], &perm("res150:act")));
    assert!(!p.allows(&["admin"], &perm("res149:act")));
    assert_eq!(p.permissions_of(&["wide"]).len(), 150);
}

#[test]
fn roles_lists_builtin_and_custom_roles_sorted() {
    let p = policy_with(RolesConfig::default().with_role(
        "auditor",
        RoleConfig::new().description("reads the audit log"),
    ));
    assert_eq!(
        p.roles().collect::<Vec<_>>(),
        ["admin", "auditor", "developer", "viewer"]
    );
    assert!(p.has_role("auditor") && !p.has_role("root"));
    assert_eq!(p.description_of("auditor"), Some("reads the audit log"));
}

// ---- properties ----

const RESOURCES: [&str; 3] = ["tools", "graph", "audit"];
const ACTIONS: [&str; 4] = ["read", "execute", "delete", "export"];

fn any_permission() -> impl Strategy<Value = Permission> {
    prop_oneof![
        8 => (0..RESOURCES.len(), 0..ACTIONS.len()).prop_map(|(r, a)| perm(&format!("{}:{}", RESOURCES[r], ACTIONS[a]))),
        2 => (0..RESOURCES.len()).prop_map(|r| perm(&format!("{}:*", RESOURCES[r]))),
        1 => Just(Permission::all()),
    ]
}

/// Up to 8 custom roles `c0..`, each inheriting from built-ins and earlier custom roles.
fn any_config() -> impl Strategy<Value = RolesConfig> {
    prop::collection::vec(
        (
            prop::collection::vec(0usize..16, 0..3),
            prop::collection::vec(any_permission(), 0..4),
        ),
        1..8,
    )
    .prop_map(|roles| {
        let mut config = RolesConfig::default();
        for (i, (parents, permissions)) in roles.into_iter().enumerate() {
            let mut role = RoleConfig::new();
            for p in parents {
                // Parents among the 3 built-ins and the custom roles defined before this one.
                let k = p % (3 + i);
                role = role.inherits(if k < 3 {
                    role::BUILTIN_ROLES[k].to_owned()
                } else {
                    format!("c{}", k - 3)
                });
            }
            for p in permissions {
                role = role.permission(p);
            }
            config = config.with_role(format!("c{i}"), role);
        }
        config
    })
}

fn probes() -> Vec<Permission> {
    let mut out = vec![Permission::all(), perm("other:read"), perm("other:*")];
    for r in RESOURCES {
        out.push(perm(&format!("{r}:*")));
        for a in ACTIONS.iter().chain(&["unnamed"]) {
            out.push(perm(&format!("{r}:{a}")));
        }
    }
    out.extend(Permission::BUILTIN);
    out
}

proptest! {
    #[test]
    fn a_role_never_has_fewer_permissions_than_a_role_it_inherits(config in any_config()) {
        let p = Policy::from_config(&config).unwrap();
        let probes = probes();
        for role in p.roles() {
            let mine = p.permissions_of(&[role]);
            for parent in p.parents_of(role).unwrap() {
                for permission in &probes {
                    prop_assert!(
                        !p.allows(&[parent], permission) || p.allows(&[role], permission),
                        "{role} inherits {parent} but lacks {permission}"
                    );
                }
                for permission in p.permissions_of(&[parent.as_str()]) {
                    prop_assert!(mine.contains(&permission), "{role} lacks inherited {permission}");
                }
            }
        }
    }

    #[test]
    fn a_wildcard_grants_a_superset_of_what_its_exact_permissions_grant(config in any_config(), r in 0..RESOURCES.len()) {
        // Add roles holding `r:*` and `*` on top of a random policy: each must allow everything
        // that any exact `r:action` grant allows (and `*` everything any role allows).
        let resource = RESOURCES[r];
        let exact = ACTIONS.iter().fold(RoleConfig::new(), |role, a| role.permission(perm(&format!("{resource}:{a}"))));
        let config = config
            .with_role("exact", exact)
            .with_role("wild", RoleConfig::new().permission(perm(&format!("{resource}:*"))))
            .with_role("star", RoleConfig::new().permission(Permission::all()));
        let p = Policy::from_config(&config).unwrap();
        for permission in probes() {
            if p.allows(&["exact"], &permission) {
                prop_assert!(p.allows(&["wild"], &permission), "{resource}:* misses {permission}");
            }
            prop_assert!(p.allows(&["star"], &permission), "* misses {permission}");
            if permission.resource() == resource {
                prop_assert!(p.allows(&["wild"], &permission) || permission.is_all());
            }
        }
    }

    #[test]
    fn allows_agrees_with_covers_over_the_lineage(config in any_config()) {
        // Reference model: a role allows p iff a grant of it or an ancestor covers p.
        let p = Policy::from_config(&config).unwrap();
        for role in p.roles() {
            let entry = p.entry(role).unwrap();
            for permission in probes() {
                let expected = entry.lineage.iter().any(|&i| p.roles[i].own.iter().any(|g| g.covers(&permission)));
                prop_assert_eq!(p.allows(&[role], &permission), expected, "{} {}", role, permission);
            }
        }
    }
}

// ---- upstream (gateway) permissions ----

#[test]
fn upstream_grants_reach_only_their_namespace_and_tools() {
    let p = policy_with(
        RolesConfig::default()
            .with_role(
                "fs-reader",
                RoleConfig::new().permission(perm("upstream:fs:read_*")),
            )
            .with_role(
                "fs-user",
                RoleConfig::new().permission(perm("upstream:fs:*")),
            )
            .with_role(
                "one-tool",
                RoleConfig::new().permission(perm("upstream:gh:list_issues")),
            )
            .with_role(
                "gateway-user",
                RoleConfig::new()
                    .inherits("developer")
                    .permission(perm("upstream:*")),
            ),
    );
    let read = perm("upstream:fs:read_file");
    let write = perm("upstream:fs:write_file");
    let issues = perm("upstream:gh:list_issues");
    // Never named by any role: decided by the wildcards.
    assert!(p.allows(&["fs-reader"], &read) && !p.allows(&["fs-reader"], &write));
    assert!(p.allows(&["fs-user"], &read) && p.allows(&["fs-user"], &write));
    assert!(!p.allows(&["fs-user"], &issues) && !p.allows(&["fs-reader"], &issues));
    assert!(p.allows(&["one-tool"], &issues) && !p.allows(&["one-tool"], &read));
    assert!(!p.allows(&["one-tool"], &perm("upstream:gh:list_issues_all")));
    assert!(p.allows(&["gateway-user"], &read) && p.allows(&["gateway-user"], &issues));
    assert!(p.allows(&["gateway-user"], &Permission::TOOLS_EXECUTE));
    assert!(!p.allows(&["admin"], &perm("upstream:fs:*")));
    // The built-in roles hold no upstream permission: an upstream is closed until granted.
    for role in role::BUILTIN_ROLES {
        assert!(!p.allows(&[role], &read), "{role}");
    }
    let decision = p.check(&["fs-reader"], &read);
    assert_eq!(
        decision.to_string(),
        "allowed: role `fs-reader` grants `upstream:fs:read_*`"
    );
    assert!(!p.check(&["fs-reader"], &write).is_allowed());
}

#[test]
fn the_wildcards_of_upstream_namespaces_are_listed_as_held() {
    let p = policy_with(
        RolesConfig::default().with_role(
            "fs-user",
            RoleConfig::new()
                .permission(perm("upstream:fs:*"))
                .permission(perm("upstream:fs:read_file")),
        ),
    );
    assert_eq!(
        p.permissions_of(&["fs-user"]),
        [perm("upstream:fs:*"), perm("upstream:fs:read_file")]
    );
}

/// Upstream grants and probes over two namespaces and a few tools with shared prefixes.
fn any_upstream_permission() -> impl Strategy<Value = Permission> {
    const NS: [&str; 2] = ["fs", "gh"];
    const TOOLS: [&str; 4] = ["read", "read_file", "write_file", "Read"];
    prop_oneof![
        4 => (0..NS.len(), 0..TOOLS.len()).prop_map(|(n, t)| perm(&format!("upstream:{}:{}", NS[n], TOOLS[t]))),
        2 => (0..NS.len(), 0..TOOLS.len()).prop_map(|(n, t)| perm(&format!("upstream:{}:{}*", NS[n], &TOOLS[t][..2]))),
        2 => (0..NS.len()).prop_map(|n| perm(&format!("upstream:{}:*", NS[n]))),
        1 => Just(perm("upstream:*")),
        1 => any_permission(),
    ]
}

fn upstream_probes() -> Vec<Permission> {
    let mut out = probes();
    for ns in ["fs", "gh", "other"] {
        out.push(perm(&format!("upstream:{ns}:*")));
        for tool in [
            "read",
            "read_file",
            "reader",
            "write_file",
            "Read",
            "re*",
            "x",
        ] {
            out.push(perm(&format!("upstream:{ns}:{tool}")));
        }
    }
    out.push(perm("upstream:*"));
    out
}

proptest! {
    #[test]
    fn upstream_checks_agree_with_covers_over_the_lineage(
        grants in prop::collection::vec(prop::collection::vec(any_upstream_permission(), 0..4), 1..5),
    ) {
        // Each custom role inherits from the one before, so grants combine through inheritance.
        let mut config = RolesConfig::default();
        for (i, own) in grants.iter().enumerate() {
            let mut role = RoleConfig::new();
            if i > 0 {
                role = role.inherits(format!("u{}", i - 1));
            }
            for g in own {
                role = role.permission(g.clone());
            }
            config = config.with_role(format!("u{i}"), role);
        }
        let p = Policy::from_config(&config).unwrap();
        for role in p.roles() {
            let entry = p.entry(role).unwrap();
            for permission in upstream_probes() {
                let expected = entry.lineage.iter().any(|&i| p.roles[i].own.iter().any(|g| g.covers(&permission)));
                prop_assert_eq!(p.allows(&[role], &permission), expected, "{} {}", role, permission);
                prop_assert_eq!(p.check(&[role], &permission).is_allowed(), expected);
            }
        }
    }
}
