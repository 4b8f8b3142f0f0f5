//! `Policy::allows` with the built-in roles and with a custom role.
//!
//! Goal: `allows` under 100 ns. The casbin yardstick (at least 10x faster than casbin) lives in
//! `benches/rbac-casbin/`, outside the workspace (see its README for why).
//! Run: `cargo bench -p mcp-rbac --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_rbac::{Permission, Policy, RoleConfig, RolesConfig};

fn bench(c: &mut Criterion) {
    let policy = Policy::builtin();
    let roles = ["developer"];
    assert!(policy.allows(&["admin"], &Permission::TOOLS_READ));
    assert!(!policy.allows(&roles, &Permission::GRAPH_DELETE));

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

    // Upstream (gateway) tools: never named by a role, so decided by the role's wildcards.
    let gateway = Policy::from_config(
        &RolesConfig::default()
            .with_role(
                "fs-reader",
                RoleConfig::new()
                    .inherits("developer")
                    .permission("upstream:gh:list_issues".parse().unwrap())
                    .permission("upstream:fs:read_*".parse().unwrap()),
            )
            .with_role(
                "fs-user",
                RoleConfig::new()
                    .inherits("developer")
                    .permission("upstream:fs:*".parse().unwrap()),
            ),
    )
    .unwrap();
    let read_file: Permission = "upstream:fs:read_text_file".parse().unwrap();
    let write_file: Permission = "upstream:fs:write_file".parse().unwrap();
    assert!(gateway.allows(&["fs-reader"], &read_file));
    assert!(!gateway.allows(&["fs-reader"], &write_file));
    group.bench_function("policy_allows_upstream_namespace_wildcard_hit", |b| {
        b.iter(|| black_box(&gateway).allows(black_box(&["fs-user"]), black_box(&read_file)))
    });
    group.bench_function("policy_allows_upstream_prefix_wildcard_miss", |b| {
        b.iter(|| black_box(&gateway).allows(black_box(&["fs-reader"]), black_box(&write_file)))
    });
    group.bench_function("permission_parse_upstream_tool", |b| {
        b.iter(|| Permission::upstream(black_box("fs"), black_box("read_text_file")))
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
