"""Runs the shell examples of docs/api.md and of the README's first steps against the real
binary, so the documentation cannot drift from what the server does."""

import os
import re
import shutil
import subprocess
import textwrap

from conftest import ADMIN_PASSWORD, ROOT, server_bin

# A stand-in for `jq -r <path>` when jq is not installed: supports the `.a.b` and `.a | keys |
# length` forms the docs use.
JQ_SHIM = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import json, sys
    args = [a for a in sys.argv[1:] if a != "-r"]
    data = json.load(sys.stdin)
    parts = [p.strip() for p in args[0].split("|")]
    for part in parts:
        if part == "keys":
            data = sorted(data)
        elif part == "length":
            data = len(data)
        else:
            for key in filter(None, part.split(".")):
                data = data[key]
    print(data if isinstance(data, (str, int)) else json.dumps(data))
    """
)


def sh_blocks(path):
    text = path.read_text()
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def run_script(script, server, tmp_path, extra_env=None):
    env = dict(server.env)
    env.update({"MCP": server.url, "ADMIN_PASSWORD": ADMIN_PASSWORD})
    if shutil.which("jq") is None:
        shim_dir = tmp_path / "bin"
        shim_dir.mkdir()
        (shim_dir / "jq").write_text(JQ_SHIM)
        (shim_dir / "jq").chmod(0o755)
        env["PATH"] = f"{shim_dir}:{env['PATH']}"
    env.update(extra_env or {})
    out = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, (
        f"script failed ({out.returncode}):\n{script}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    )
    return out.stdout


def test_every_example_in_docs_api_md_runs(server, tmp_path):
    blocks = sh_blocks(ROOT / "docs" / "api.md")
    assert len(blocks) >= 8
    stdout = run_script("\n".join(blocks), server, tmp_path)
    assert '"stdout":"hello\\n"' in stdout
    assert '"broken":null' in stdout
    # The two commented status codes of the error examples and the revoked token.
    assert re.search(r"401$", stdout, flags=re.MULTILINE)
    assert '"code":"invalid_input"' in stdout


def test_the_readme_first_steps_run(make_server, tmp_path):
    server = make_server()  # an empty store, as on a first start
    blocks = [b for b in sh_blocks(ROOT / "README.md") if "users add" in b]
    assert len(blocks) == 1, "the README's first-steps block moved"
    script = blocks[0]
    script = "\n".join(
        line for line in script.splitlines() if not line.startswith("read ")
    )
    script = script.replace("cargo run --release -p mcp-server --", server_bin())
    script = script.replace("http://127.0.0.1:8080", server.url)
    stdout = run_script(script, server, tmp_path)
    assert '"stdout":"hello\\n"' in stdout
    assert '"code_sha256"' in stdout
    assert os.path.exists(os.path.join(server.data_dir, "jwt_secret"))
