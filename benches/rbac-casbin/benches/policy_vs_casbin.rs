//! `Policy::allows` against casbin's RBAC enforcer with the same three roles.
//!
//! Goal: `allows` at least 10x faster than casbin.
//! Run: `cd benches/rbac-casbin && cargo bench -- --warm-up-time 1 --measurement-time 3`
//! (its own workspace: see README.md for why casbin stays out of the repository's).

use std::hint::black_box;

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi, RbacApi};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_rbac::{Permission, Policy, RoleConfig, RolesConfig};

const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"#;

/// The built-in roles as casbin policy lines: role, resource, action.
const GRANTS: &[(&str, &str, &str)] = &[
    ("viewer", "tools", "read"),
    ("viewer", "tools", "lint"),
    ("viewer", "graph", "query"),
    ("developer", "tools", "execute"),
    ("developer", "tools", "test"),
    ("developer", "tools", "generate"),
    ("admin", "graph", "upsert"),
    ("admin", "graph", "delete"),
    ("admin", "system", "admin"),
];

fn casbin_enforcer() -> Enforcer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let model = DefaultModel::from_str(CASBIN_MODEL)
            .await
            .expect("casbin model");
        let mut e = Enforcer::new(model, MemoryAdapter::default())
            .await
            .expect("casbin enforcer");
        let policies = GRANTS
            .iter()
            .map(|(r, o, a)| vec![r.to_string(), o.to_string(), a.to_string()])
            .collect();
        e.add_policies(policies).await.expect("casbin policies");
        e.add_role_for_user("developer", "viewer", None)
            .await
            .expect("developer inherits viewer");
        e.add_role_for_user("admin", "developer", None)
            .await
            .expect("admin inherits developer");
        e
    })
}

fn bench(c: &mut Criterion) {
    let policy = Policy::builtin();
    let roles = ["developer"];
    let enforcer = casbin_enforcer();

    // Same answers from both, so the comparison is fair.
    assert!(policy.allows(&["admin"], &Permission::TOOLS_READ));
    assert!(enforcer.enforce(("admin", "tools", "read")).unwrap());
    assert!(!enforcer.enforce(("developer", "graph", "delete")).unwrap());

    let mut group = c.benchmark_group("rbac");
    group.bench_function("policy_allows_hit", |b| {
        b.iter(|| black_box(&policy).allows(black_box(&roles), black_box(&Permission::TOOLS_READ)))
    });
    group.bench_function("policy_allows_miss", |b| {
        b.iter(|| {
            black_box(&policy).allows(black_box(&roles), black_box(&Permission::GRAPH_DELETE))
        })
    });

    let custom = Policy::from_config(
        &RolesConfig::default().with_role(
            "auditor",
            RoleConfig::new()
                .inherits("developer")
                .permission("audit:read".parse().unwrap()),
        ),
    )
    .unwrap();
    let audit_read: Permission = "audit:read".parse().unwrap();
    group.bench_function("policy_allows_custom_permission_hit", |b| {
        b.iter(|| black_box(&custom).allows(black_box(&["auditor"]), black_box(&audit_read)))
    });

    group.bench_function("casbin_enforce_hit", |b| {
        b.iter(|| {
            black_box(&enforcer)
                .enforce(black_box(("developer", "tools", "read")))
                .unwrap()
        })
    });
    group.bench_function("casbin_enforce_miss", |b| {
        b.iter(|| {
            black_box(&enforcer)
                .enforce(black_box(("developer", "graph", "delete")))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
