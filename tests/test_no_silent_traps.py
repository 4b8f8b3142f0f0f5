"""No silent traps, against the real binary: the data directory is resolved once and said,
only `serve` and `--init` create a store, `audit verify` proves something or fails, two servers
never share one SQLite data directory, `config check` finds what `serve` would refuse, stores
in memory are refused by the admin commands, and configuration errors name what to change."""

import os
import subprocess

import pytest
from conftest import ADMIN_PASSWORD, Server, free_port, server_bin


def run(*args, env=None, stdin=None, cwd=None):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("MCP_") and not k.startswith("MCP_TEST"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [server_bin(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def listing(path):
    return sorted(
        os.path.relpath(os.path.join(d, f), path)
        for d, _, files in os.walk(path)
        for f in files
    )


def test_a_mistyped_data_dir_fails_verify_and_creates_nothing(tmp_path):
    out = run("--data-dir", str(tmp_path / "typo"), "audit", "verify")
    assert out.returncode != 0
    assert str(tmp_path / "typo") in out.stderr and "does not exist" in out.stderr, (
        out.stderr
    )
    assert not (tmp_path / "typo").exists()


def test_verify_of_an_empty_audit_log_fails_and_verify_writes_nothing(make_server):
    s = make_server()
    s.stop()
    before = listing(s.data_dir)
    out = s.cli("audit", "verify", check=False)
    assert out.returncode != 0 and "empty" in out.stderr, out.stderr
    assert listing(s.data_dir) == before
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    before = listing(s.data_dir)
    out = s.cli("audit", "verify")
    assert '"checked": 1' in out.stdout, out.stdout
    assert listing(s.data_dir) == before, "no spill file, no new store"


def test_admin_commands_refuse_a_directory_without_a_store_unless_init(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Run from another directory: the default ./data there has no store.
    out = run("users", "add", "alice", cwd=elsewhere, stdin="alice-password\n")
    assert out.returncode != 0, out.stdout
    assert str(elsewhere / "data") in out.stderr, out.stderr
    assert "--init" in out.stderr, out.stderr
    assert listing(elsewhere) == []
    for args in (
        ["users", "list"],
        ["roles", "assign", "alice", "admin"],
        ["tokens", "issue", "alice"],
    ):
        out = run(*args, cwd=elsewhere)
        assert out.returncode != 0 and "no mcp-server store" in out.stderr, (args, out)
    assert listing(elsewhere) == []
    out = run(
        "users",
        "add",
        "alice",
        "--role",
        "admin",
        "--init",
        cwd=elsewhere,
        stdin="alice-password\n",
    )
    assert out.returncode == 0, out.stderr
    assert "users.sqlite3" in listing(elsewhere / "data")
    out = run("users", "list", cwd=elsewhere)
    assert out.returncode == 0 and "alice" in out.stdout, out


def test_every_admin_command_says_which_data_directory_it_uses(server):
    for args in (
        ["users", "list"],
        ["roles", "list"],
        ["audit", "verify"],
        ["tokens", "issue", "admin"],
        ["audit", "list", "--limit", "1"],
        ["config", "check"],
        # stdin at its end: the session ends at once (exit 1, no initialize request).
        ["mcp-stdio", "--token", server.cli("tokens", "issue", "admin").stdout.strip()],
    ):
        out = server.cli(*args, stdin="", check=args[0] != "mcp-stdio")
        assert f"data directory {server.data_dir} (set by environment variable MCP_DATA_DIR)" in out.stderr, (
            args,
            out.stderr,
        )


def test_serve_logs_its_data_directory(server):
    assert f"data directory {server.data_dir}" in server.read_log()


@pytest.mark.parametrize(
    "args",
    [
        ["users", "add", "bob", "--init"],
        ["users", "list"],
        ["roles", "assign", "admin", "admin"],
        ["audit", "verify"],
    ],
)
def test_admin_commands_refuse_stores_in_memory(tmp_path, args):
    out = run(
        "--storage",
        "memory",
        "--data-dir",
        str(tmp_path),
        *args,
        stdin="bob-password-1\n",
    )
    assert out.returncode != 0, out.stdout
    assert "in memory" in out.stderr and "--storage" in out.stderr, out.stderr
    assert "created user" not in out.stdout


def test_a_second_server_on_one_sqlite_data_dir_is_refused(server):
    second = Server(server.data_dir)
    out = subprocess.run(
        [server_bin(), "serve", "--port", str(free_port())],
        env=second.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode != 0
    assert f"pid {server.proc.pid}" in out.stderr, out.stderr
    assert "Several instances" in out.stderr and "Neo4j" in out.stderr, out.stderr
    # The first one is unharmed.
    assert server.request("GET", "/health").status == 200
    server.stop()
    server.start()
    assert server.request("GET", "/health").status == 200


def test_config_check_names_every_problem_serve_would_meet(tmp_path):
    config = tmp_path / "mcp.toml"
    config.write_text(
        "[storage]\n"
        'backend = "neo4j"\n'
        "[storage.neo4j]\n"
        'uri = "bolt://db.example:7687"\n'
        'graph_database = "graph"\n'
        "[sandbox.default_limits]\n"
        "memory_bytes = 4294967296\n"
        "[auth]\n"
        "token_ttl_secs = 0\n"
    )
    env = {"MCP_SANDBOX__BWRAP": "/nonexistent/bwrap"}
    out = run("--config", str(config), "config", "check", env=env)
    assert out.returncode != 0
    err = out.stderr
    assert "memory_bytes" in err and "maximum" in err, err
    assert f"{config} line 7" in err, err
    assert "storage.neo4j.password is unset" in err, err
    assert "auth.token_ttl_secs" in err and f"{config} line 9" in err, err
    assert "/nonexistent/bwrap not found" in err, err
    # `serve` refuses the same configuration, naming the same problems.
    served = run("--config", str(config), "serve", "--port", "0", env=env)
    assert served.returncode != 0
    assert "memory_bytes" in served.stderr and "password is unset" in served.stderr


def test_config_check_probes_the_sandbox_as_serve_does(tmp_path):
    env = {"MCP_DATA_DIR": str(tmp_path)}
    ok = run("config", "check", env=env)
    assert ok.returncode == 0, ok.stderr
    # No prlimit and no shell rlimits: serve would start and refuse every code run (503,
    # /ready says why); config check fails, naming the layer, the reason and the fix.
    no_rlimits = dict(
        env,
        MCP_SANDBOX__PRLIMIT="/nonexistent/prlimit",
        MCP_SANDBOX__SHELL_RLIMITS="false",
    )
    out = run("config", "check", env=no_rlimits)
    assert out.returncode != 0, out.stderr
    err = out.stderr
    assert "sandbox layer rlimits: /nonexistent/prlimit not found" in err, err
    assert "sandbox.prlimit" in err and "code runs are refused" in err, err
    assert "1 problem" in err, err
    # Weaker isolation allowed: runs would go without the layer, so it is a warning.
    weaker = dict(no_rlimits, MCP_SANDBOX__ALLOW_WEAKER_ISOLATION="true")
    out = run("config", "check", env=weaker)
    assert out.returncode == 0, out.stderr
    assert "allow_weaker_isolation allows" in out.stderr, out.stderr
    assert listing(tmp_path) == [], "config check creates nothing in the data directory"


def test_config_check_shows_unset_secrets_as_unset(tmp_path):
    env = {"MCP_NEO4J_URI": "bolt://db:7687", "MCP_DATA_DIR": str(tmp_path)}
    out = run("config", "check", env=env)
    assert 'password = ""' in out.stdout, out.stdout
    assert "********" not in out.stdout, out.stdout
    assert "storage.neo4j.password: unset" in out.stdout, out.stdout
    assert "auth.jwt_secret: unset" in out.stdout, out.stdout
    env.update(
        {"MCP_NEO4J_PASSWORD": "hunter2hunter2", "MCP_JWT_SECRET": "s" * 40}
    )
    out = run("config", "check", env=env)
    assert "hunter2" not in out.stdout and "s" * 40 not in out.stdout
    assert "storage.neo4j.password: set" in out.stdout, out.stdout
    assert "auth.jwt_secret: set" in out.stdout, out.stdout


def test_config_errors_name_the_key_the_file_line_and_the_variable(tmp_path):
    config = tmp_path / "mcp.toml"
    config.write_text('[http]\nhost = "0.0.0.0"\nprot = 8080\n')
    out = run("--config", str(config), "config", "check")
    assert out.returncode != 0
    assert f"{config}, line 3" in out.stderr and "http.prot" in out.stderr, out.stderr
    config.write_text('[http]\nport = "eighty"\n')
    out = run("--config", str(config), "config", "check")
    assert f"{config}, line 2" in out.stderr and "http.port" in out.stderr, out.stderr
    out = run("config", "check", env={"MCP_PORT": "eighty"})
    assert "MCP_PORT" in out.stderr and "http.port" in out.stderr, out.stderr
    out = run("config", "check", env={"MCP_HTTP__PROT": "1"})
    assert "MCP_HTTP__PROT" in out.stderr, out.stderr
    missing = tmp_path / "missing.toml"
    out = run("--config", str(missing), "config", "check")
    assert out.returncode != 0
    assert out.stderr.count("No such file") == 1, out.stderr
    assert "--config" in out.stderr, out.stderr
    out = run("config", "check", env={"MCP_CONFIG": str(missing)})
    assert "MCP_CONFIG" in out.stderr, out.stderr
    config.write_text("[limits]\nexecute_per_minute = 0\n")
    out = run(
        "--config",
        str(config),
        "users",
        "list",
        env={"MCP_AUTH__TOKEN_TTL_SECS": "0"},
    )
    assert "2 problems" in out.stderr, out.stderr
    assert f"{config} line 2" in out.stderr, out.stderr
    assert "MCP_AUTH__TOKEN_TTL_SECS" in out.stderr, out.stderr
