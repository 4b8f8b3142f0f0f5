"""The OpenAPI document is the contract: schemathesis (PyPI) reads it from the real binary and
runs its default checks on every operation (status codes and response bodies as documented,
schema-valid requests accepted, schema-invalid ones refused, 405 with `Allow` for other
methods, authentication not ignored, stateful links) as an administrator, and must find
nothing. The run is seeded, so a failure reproduces; the examples per operation are limited to
keep it to a few minutes.

tests/schemathesis/schemathesis.toml lists the only exceptions (operations whose input has
rules JSON Schema cannot state, where a schema-valid request may get its documented 422);
tests/schemathesis/st_hooks.py logs in again when the run revokes its own token."""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import ADMIN_PASSWORD, Server

HERE = Path(__file__).resolve().parent / "schemathesis"
EXAMPLES_PER_OPERATION = 10
SEED = 2


def test_schemathesis_finds_no_failure_with_its_default_checks():
    with tempfile.TemporaryDirectory(prefix="mcp-e2e-fuzz-") as d:
        # The run logs in many times and sends wrong passwords on purpose; the lock-out would
        # otherwise lock its own administrator out.
        many = "1000000"
        server = Server(
            d,
            env={
                "MCP_AUTH__MAX_FAILURES_PER_USER": many,
                "MCP_AUTH__MAX_FAILURES_PER_IP": many,
                "MCP_AUTH__MAX_FAILURES_PER_ACCOUNT": many,
            },
        )
        server.add_user("admin", ADMIN_PASSWORD, "admin")
        server.start()
        try:
            env = dict(os.environ)
            env.update(
                {
                    "PYTHONPATH": str(HERE),
                    "SCHEMATHESIS_HOOKS": "st_hooks",
                    "MCP_FUZZ_URL": server.url,
                    "MCP_FUZZ_USER": "admin",
                    "MCP_FUZZ_PASSWORD": ADMIN_PASSWORD,
                }
            )
            run = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
                    "--config-file",
                    str(HERE / "schemathesis.toml"),
                    "run",
                    f"{server.url}/api-docs/openapi.json",
                    "--max-examples",
                    str(EXAMPLES_PER_OPERATION),
                    "--seed",
                    str(SEED),
                    "--workers",
                    "1",
                    # A code run may use the sandbox's whole maximum wall time (60 s) and then
                    # answer `timed_out`, as documented: schemathesis's default of 10 s, the
                    # default wall time itself, made such a run a network error (pytest under
                    # a 16 MiB memory limit runs until its wall time).
                    "--request-timeout",
                    "75",
                    "--no-color",
                ],
                cwd=d,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        finally:
            server.stop()
        report = run.stdout + run.stderr
        assert run.returncode == 0, report[-20000:]
        assert re.search(r"(\d+) generated, \1 passed", report), report[-20000:]
        # Every operation of the document was tested.
        summary = report[report.rfind("API Operations:") :]
        selected = summary.split("Selected:")[1].split("\n")[0].strip()
        tested = summary.split("Tested:")[1].split("\n")[0].strip()
        assert selected.split("/")[0] == tested, summary
