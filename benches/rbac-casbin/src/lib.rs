//! Empty: this package only holds the `policy_vs_casbin` bench.
