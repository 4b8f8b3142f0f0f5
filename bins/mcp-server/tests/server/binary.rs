//! The real binary: `--help` of every subcommand, `config check` masking secrets.
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-server"))
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["users", "--help"],
        &["users", "add", "--help"],
        &["roles", "--help"],
        &["tokens", "--help"],
        &["audit", "verify", "--help"],
        &["config", "check", "--help"],
    ] {
        let out = bin().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[http]\nport = 9000\n").unwrap();
    let out = bin()
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .env("MCP_JWT_SECRET", "a-very-secret-value-of-forty-bytes-long!")
        .env("MCP_HTTP__REQUEST_TIMEOUT_SECS", "7")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("port = 9000") && text.contains("request_timeout_secs = 7"),
        "{text}"
    );
    assert!(
        !text.contains("a-very-secret") && text.contains("********"),
        "{text}"
    );
}

#[test]
fn a_typo_in_the_config_fails_with_the_key_name() {
    let out = bin()
        .args(["config", "check"])
        .env("MCP_HTTP__PROT", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("prot"));
}
