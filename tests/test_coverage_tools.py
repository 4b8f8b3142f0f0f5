"""The tools of `scripts/coverage` (docs/coverage.md): scripts/coverage-llvm-cov's repair of
the coverage maps that crash llvm-cov 22, on hand-encoded function records,
scripts/coverage-rustc's choice of the crates it unlocks, and the table
scripts/coverage-summary.py prints with and without branch records."""

import importlib.machinery
import importlib.util
import os
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_tool():
    path = ROOT / "scripts" / "coverage-llvm-cov"
    loader = importlib.machinery.SourceFileLoader("coverage_llvm_cov", str(path))
    spec = importlib.util.spec_from_loader("coverage_llvm_cov", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


tool = load_tool()


def uleb(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def counter(index):
    """A reference to counter `index` (tag 1, LLVM CoverageMapping.h)."""
    return (index << 2) | 1


def code(index, line_delta, col, lines, col_end):
    return uleb(counter(index)) + b"".join(uleb(v) for v in (line_delta, col, lines, col_end))


def branch(true, false, line_delta, col, lines, col_end):
    return (
        uleb(4 << 3)
        + uleb(counter(true))
        + uleb(counter(false))
        + b"".join(uleb(v) for v in (line_delta, col, lines, col_end))
    )


def record(*regions):
    """Mapping data of a function with one file, no expressions and these regions."""
    return uleb(1) + uleb(0) + uleb(0) + uleb(len(regions)) + b"".join(regions)


def decode(data):
    """[(kind, line, column, end line, end column, counters)] of a one-file record."""
    i = 0

    def read():
        nonlocal i
        value = shift = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    assert read() == 1 and read() == 0 and read() == 0
    out, line = [], 0
    for _ in range(read()):
        enc = read()
        if enc & 3:
            kind, counters = "code", (enc,)
        elif enc >> 3 == 4:
            kind, counters = "branch", (read(), read())
        elif enc >> 3 == 2:
            kind, counters = "skipped", ()
        else:
            raise AssertionError(f"unexpected region encoding {enc}")
        line += read()
        col, lines, col_end = read(), read(), read()
        out.append((kind, line, col, line + lines, col_end, counters))
    assert i == len(data)
    return out


def covfun(*datas):
    """A __llvm_covfun section: 28-byte headers, each record padded to 8 bytes."""
    out = bytearray()
    for n, data in enumerate(datas):
        out += struct.pack("<QIQQ", 1000 + n, len(data), 2000 + n, 3000) + data
        out += b"\0" * (-len(out) % 8)
    return bytes(out)


def test_a_branch_only_record_gets_a_skipped_region_over_its_first_branch_and_keeps_its_branches():
    data = record(branch(0, 1, 63, 13, 0, 24), branch(2, 3, 4, 12, 0, 28))
    fixed = tool.patch_record(data)
    assert decode(fixed) == [
        ("skipped", 63, 13, 63, 24, ()),
        ("branch", 63, 13, 63, 24, (counter(0), counter(1))),
        ("branch", 67, 12, 67, 28, (counter(2), counter(3))),
    ]


def test_a_record_with_a_code_region_is_left_as_it_is():
    data = record(code(0, 10, 5, 0, 6), branch(1, 2, 2, 12, 0, 28))
    assert tool.patch_record(data) is None
    assert tool.patch_record(record()) is None  # no region at all: nothing to crash on


def test_a_section_keeps_every_record_and_only_the_branch_only_ones_change():
    good = record(code(0, 1, 1, 3, 2))
    bad = record(branch(0, 1, 7, 9, 1, 4))
    section = covfun(good, bad, good)
    fixed, count = tool.patch_covfun(section)
    assert count == 1
    assert fixed != section
    assert fixed[: len(covfun(good))] == covfun(good)
    name, size, func_hash, files = struct.unpack_from("<QIQQ", fixed, len(covfun(good)))
    assert (name, func_hash, files) == (1001, 2001, 3000)
    patched = fixed[len(covfun(good)) + 28 :][:size]
    assert [r[0] for r in decode(patched)] == ["skipped", "branch"]
    last = len(covfun(good))  # the third record, as long as the first
    assert fixed[-last:] == section[-last:] and len(fixed) % 8 == 0
    assert tool.patch_covfun(covfun(good, good)) == (covfun(good, good), 0)


def test_the_rustc_wrapper_unlocks_unstable_options_for_the_workspace_crates_only(tmp_path):
    """scripts/coverage-rustc sets RUSTC_BOOTSTRAP=1 for the crates cargo-llvm-cov instruments
    and for no other crate (a dependency built with it would differ from the plain build)."""
    inner = tmp_path / "inner"
    inner.write_text('#!/bin/sh\necho "bootstrap=${RUSTC_BOOTSTRAP:-unset} args=$*"\n')
    inner.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "RUSTC_BOOTSTRAP"} | {
        "MCP_COVERAGE_INNER_WRAPPER": str(inner),
        "__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES": "mcp_core,mcp_core_tests,integration",
    }

    def run(*args):
        return subprocess.run(
            [ROOT / "scripts" / "coverage-rustc", "rustc", *args],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()

    assert run("--crate-name", "mcp_core", "--edition=2021") == (
        "bootstrap=1 args=rustc --crate-name mcp_core --edition=2021"
    )
    assert run("--crate-name", "anyhow").startswith("bootstrap=unset ")
    assert run("--crate-name", "mcp_core_extra").startswith("bootstrap=unset ")
    assert run("-vV").startswith("bootstrap=unset ")


def summary(tmp_path, records):
    """The table scripts/coverage-summary.py prints for an lcov file of `records` (lines of
    mcp-rbac's lib.rs), as a list of lines."""
    source = ROOT / "crates" / "mcp-rbac" / "src" / "lib.rs"
    lcov = tmp_path / "lcov.info"
    lcov.write_text(f"SF:{source}\n" + "".join(f"{r}\n" for r in records) + "end_of_record\n")
    out = subprocess.run(
        ["python3", ROOT / "scripts" / "coverage-summary.py", lcov, tmp_path / "out", "0"],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.splitlines()


def test_the_table_has_branch_columns_only_when_branches_were_recorded(tmp_path):
    lines_only = summary(tmp_path, ["DA:1,3", "DA:2,0"])
    assert "branch" not in lines_only[0]
    rows = [line.split() for line in lines_only if line.startswith(("crates/", "bins/", "all "))]
    assert len(rows) > 10 and all(sum("/" in f for f in row[1:]) == 1 for row in rows)
    rbac = next(line for line in lines_only if line.startswith("crates/mcp-rbac "))
    assert rbac.split()[1:3] == ["1/2", "50.0"]

    with_branches = summary(tmp_path, ["DA:1,3", "DA:2,0", "BRDA:1,0,0,4", "BRDA:1,0,1,-"])
    assert "branches" in with_branches[0] and "branch %" in with_branches[0]
    rbac = next(line for line in with_branches if line.startswith("crates/mcp-rbac "))
    assert rbac.split()[1:5] == ["1/2", "50.0", "1/2", "50.0"]
    assert with_branches[-2].split() == ["all", "1/2", "50.0", "1/2", "50.0"]
