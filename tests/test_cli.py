"""The command line as an operator meets it, against the real binary: completions, `--version`
on every subcommand, environment variables in `--help`, password rules before the prompt,
colour only on a terminal, `users list`, and a start-up log that is one line per part."""

import json
import os
import pty
import re
import select
import subprocess
import time

import pytest
from conftest import ADMIN_PASSWORD, server_bin

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(*args, env=None, stdin=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [server_bin(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def on_a_terminal(args, env, answers=(), timeout=60):
    """Runs the binary with a pseudo-terminal as its controlling terminal, stdin, stdout and
    stderr; types each of `answers` after the output so far contains its prompt. Returns
    (exit code, everything it wrote)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.execve(server_bin(), [server_bin(), *args], env)
    out = b""
    pending = list(answers)
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        if pending and pending[0][0].encode() in out:
            os.write(fd, pending.pop(0)[1].encode() + b"\r")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        os.kill(pid, 9)
    if status is None or not os.WIFEXITED(status):
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_are_printed_for_each_shell(shell):
    out = run("completions", shell)
    assert out.returncode == 0, out.stderr
    # Every subcommand is completed, nested ones too.
    for word in ["serve", "users", "audit", "completions", "passwd"]:
        assert word in out.stdout, (shell, word)


def test_completions_script_loads_in_bash(tmp_path):
    script = tmp_path / "c.bash"
    script.write_text(run("completions", "bash").stdout)
    out = subprocess.run(
        ["bash", "-c", f"source {script} && complete -p mcp-server"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "mcp-server" in out.stdout, out


def every_command(path=()):
    """Every command and subcommand, read from `--help` (`Commands:` sections), as argv."""
    found = [list(path)]
    text = run(*path, "--help").stdout
    if "\nCommands:\n" not in text:
        return found
    section = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    for line in section.splitlines():
        name = line.split()[0]
        if name != "help":
            found += every_command((*path, name))
    return found


def test_version_works_on_every_subcommand():
    commands = every_command()
    # The tree as it is: a command that vanished from the help would shrink it.
    assert len(commands) >= 30, commands
    for args in [["mcp-stdio"], ["users", "add"], ["gateway", "approve"], ["audit", "export"]]:
        assert args in commands, (args, commands)
    version = run("--version").stdout.split()
    assert version[0] == "mcp-server" and re.fullmatch(r"\d+\.\d+\.\d+\S*", version[1])
    for args in commands:
        out = run(*args, "--version")
        assert out.returncode == 0, (args, out.stderr)
        # "mcp-server-users-add 0.1.0": the command, then the same version.
        assert out.stdout.split()[-1] == version[1], (args, out.stdout)


def test_help_names_the_environment_variable_of_each_flag():
    text = run("serve", "--help").stdout
    for var in [
        "MCP_CONFIG",
        "MCP_DATA_DIR",
        "MCP_STORAGE_BACKEND",
        "MCP_HOST",
        "MCP_PORT",
        "MCP_LOG_FORMAT",
    ]:
        assert f"env: {var}" in text, (var, text)
    assert "env: MCP_TOKEN" in run("mcp-stdio", "--help").stdout


def test_password_rules_are_stated_before_the_password_is_typed(data_dir):
    env = dict(os.environ, MCP_DATA_DIR=str(data_dir), NO_COLOR="1")
    code, out = on_a_terminal(
        ["users", "add", "alice", "--init"],
        env,
        answers=[
            ("Password for alice", "short"),
            ("try again", "long-enough-password"),
            ("Repeat", "long-enough-password"),
        ],
    )
    assert code == 0, out
    rules = out.index("at least 8 characters")
    assert rules < out.index("Password for alice"), out
    # A password that breaks the rules is refused at once, before it is repeated.
    assert out.index("try again") < out.index("Repeat"), out
    assert "created user alice" in out, out


def test_log_lines_have_colour_only_on_a_terminal_without_no_color(data_dir):
    # Each run warns about the generated JWT secret (a fresh data dir), in colour or not.
    base = dict(os.environ, MCP_DATA_DIR=str(data_dir), MCP_LOG_FORMAT="text")
    base.pop("NO_COLOR", None)
    piped = run("users", "add", "bob", "--init", env=base, stdin="long-enough-password\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr and not ANSI.search(piped.stderr), piped.stderr
    code, tty = on_a_terminal(
        ["--data-dir", str(data_dir / "other"), "users", "add", "carol", "--init"],
        base,
        answers=[("Password", "long-enough-password"), ("Repeat", "long-enough-password")],
    )
    assert code == 0, tty
    assert ANSI.search(tty), f"a terminal gets colour: {tty!r}"
    code, plain = on_a_terminal(
        ["--data-dir", str(data_dir / "third"), "users", "add", "dave", "--init"],
        dict(base, NO_COLOR="1"),
        answers=[("Password", "long-enough-password"), ("Repeat", "long-enough-password")],
    )
    assert code == 0, plain
    assert not ANSI.search(plain), f"NO_COLOR is honoured: {plain!r}"


def test_users_list_has_a_header_and_a_json_form(server):
    server.add_user("alice", "alice-password", "developer")
    server.cli("users", "disable", "alice")
    table = server.cli("users", "list").stdout.splitlines()
    assert table[0].split() == ["USERNAME", "ID", "ROLES", "STATUS", "CREATED"], table
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["alice"][2:4] == ["developer", "disabled"], table
    assert rows["admin"][2:4] == ["admin", "enabled"], table
    listed = json.loads(server.cli("users", "list", "--json").stdout)
    alice = next(u for u in listed if u["username"] == "alice")
    assert alice["roles"] == ["developer"] and alice["disabled"] is True, listed
    assert set(alice) == {"username", "id", "roles", "disabled", "created_at"}, alice


def test_start_up_logs_one_sandbox_summary_at_info_and_the_layers_at_debug(make_server):
    s = make_server(env={"MCP_LOG_LEVEL": "info"})
    s.stop()
    log = s.read_log()
    assert log.count('"sandbox probed') == 1, log[-3000:]
    assert "sandbox layer available" not in log, log[-3000:]
    d = make_server(env={"MCP_LOG_LEVEL": "info,mcp_sandbox=debug"})
    d.stop()
    assert "sandbox layer available" in d.read_log()


def test_lint_without_ruff_says_so_in_the_report_and_at_start_up(make_server):
    s = make_server(
        start=False,
        env={"MCP_SANDBOX__INTERPRETERS__RUFF": "/nonexistent/ruff"},
    )
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    s.start()
    token = s.token("admin", ADMIN_PASSWORD)
    r = s.request(
        "POST", "/api/v1/lint", {"language": "python", "code": "x = (\n"}, token=token
    )
    assert r.status == 200, r
    assert r.json["tools"] == ["python-compile"], r
    assert any("ruff was not found" in n for n in r.json["notes"]), r
    assert "ruff not found" in s.read_log()
