#!/usr/bin/env python3
"""Per-crate line (and, when recorded, branch) coverage from an lcov file (`scripts/coverage report` runs this).

Usage: coverage-summary.py LCOV OUT_DIR CHECK

Counts the library code of each workspace package (`crates/*/src`, `bins/*/src`), leaving out:
- test-only code inside source files: every item under a `#[cfg(test)]` or
  `#[cfg(all(test, …))]` attribute (unit-test modules, test helpers), found by matching braces;
- test-support files: `conformance.rs` (the shared backend suites), `testing.rs`,
  `schema_testing.rs`, and a module file declared under `#[cfg(test)]` (such as `policy/tests.rs`).

Writes OUT_DIR/summary.txt (the table) and OUT_DIR/summary.json, prints the table, and with
CHECK=1 exits 1 when a crate is below its line target (TARGETS; other library crates under
crates/ need DEFAULT_LIBRARY_TARGET; the binary has none).
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LIBRARY_TARGET = 80.0
TARGETS = {"mcp-audit": 90.0}
SUPPORT_FILES = {"conformance.rs", "testing.rs", "schema_testing.rs"}
TEST_ATTR = re.compile(r"^\s*#\[cfg\((test|all\(test\b[^\]]*)\)\]")


def strip_code(line, state):
    """The line without string/char literals and comments; `state` carries a block comment
    or a multi-line string across lines."""
    out = []
    i = 0
    while i < len(line):
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"] = False
            i = end + 2
            continue
        if state["string"]:
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                state["string"] = False
            i += 1
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        raw = re.match(r'r(#*)"', line[i:])
        if raw and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == "_")):
            closing = '"' + raw.group(1)
            end = line.find(closing, i + len(raw.group(0)))
            if end < 0:
                return "".join(out)  # raw strings spanning lines: rare in src, ignored
            i = end + len(closing)
            continue
        if c == '"':
            state["string"] = True
            i += 1
            continue
        char = re.match(r"'(\\.|[^\\'])'", line[i:])
        if char:
            i += len(char.group(0))
            continue
        out.append(c)
        i += 1
    return "".join(out)


def test_only_lines(path):
    """Line numbers (1-based) of items under a test-only cfg attribute, and the module files
    such items declare (`mod tests;`)."""
    lines = path.read_text().splitlines()
    excluded, module_files = set(), set()
    n = 0
    while n < len(lines):
        if not TEST_ATTR.match(lines[n]):
            n += 1
            continue
        start, depth, opened = n, 0, False
        state = {"block": False, "string": False}
        path_attr = None
        m = n
        while m < len(lines):
            attr = re.match(r'\s*#\[path\s*=\s*"([^"]+)"\]', lines[m])
            if attr:
                path_attr = attr.group(1)
            code = strip_code(lines[m], state)
            decl = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code)
            if decl and not opened:
                name = path_attr or f"{decl.group(1)}.rs"
                base = (
                    path.parent
                    if path.name in ("lib.rs", "mod.rs", "main.rs")
                    else path.with_suffix("")
                )
                module_files.add((base / name).resolve())
                if not path_attr:
                    module_files.add((base / decl.group(1) / "mod.rs").resolve())
                break
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            if (
                not opened
                and code.rstrip().endswith(";")
                and not code.lstrip().startswith("#")
            ):
                break
            m += 1
        excluded.update(range(start + 1, m + 2))
        n = m + 1
    return excluded, module_files


def package_of(path):
    """('crates'|'bins', package dir name) for a source file of a workspace package, else None."""
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        return None
    parts = rel.parts
    if len(parts) >= 4 and parts[0] in ("crates", "bins") and parts[2] == "src":
        return parts[0], parts[1]
    return None


def parse_lcov(lcov):
    files = {}
    current = None
    for line in Path(lcov).read_text().splitlines():
        if line.startswith("SF:"):
            current = files.setdefault(Path(line[3:]), {"lines": {}, "branches": {}})
        elif line.startswith("DA:") and current is not None:
            number, count = line[3:].split(",")[:2]
            current["lines"][int(number)] = int(count) > 0 or current["lines"].get(
                int(number), False
            )
        elif line.startswith("BRDA:") and current is not None:
            number, block, branch, taken = line[5:].split(",")
            key = (int(number), block, branch)
            current["branches"][key] = (taken not in ("-", "0")) or current[
                "branches"
            ].get(key, False)
        elif line == "end_of_record":
            current = None
    return files


def main():
    lcov, out_dir, check = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1"
    files = parse_lcov(lcov)
    test_modules = set()
    exclusions = {}
    for path in files:
        if package_of(path) and path.exists():
            excluded, modules = test_only_lines(path)
            exclusions[path] = excluded
            test_modules |= modules
    totals = {}
    for path, data in sorted(files.items()):
        package = package_of(path)
        if (
            package is None
            or path.name in SUPPORT_FILES
            or path.resolve() in test_modules
        ):
            continue
        excluded = exclusions.get(path, set())
        t = totals.setdefault(
            package,
            {"lines": 0, "covered": 0, "branches": 0, "taken": 0, "excluded": 0},
        )
        for number, hit in data["lines"].items():
            if number in excluded:
                t["excluded"] += 1
                continue
            t["lines"] += 1
            t["covered"] += hit
        for (number, _, _), hit in data["branches"].items():
            if number in excluded:
                continue
            t["branches"] += 1
            t["taken"] += hit
    # Every library crate must appear, even one whose code no test ran.
    for crate in sorted((ROOT / "crates").iterdir()):
        if (crate / "Cargo.toml").exists():
            totals.setdefault(
                ("crates", crate.name),
                {"lines": 0, "covered": 0, "branches": 0, "taken": 0, "excluded": 0},
            )

    rows, failures, report = [], [], []
    for (kind, name), t in sorted(
        totals.items(), key=lambda kv: (kv[0][0] != "crates", kv[0][1])
    ):
        line_pct = 100.0 * t["covered"] / t["lines"] if t["lines"] else 0.0
        branch_pct = 100.0 * t["taken"] / t["branches"] if t["branches"] else None
        target = TARGETS.get(name, DEFAULT_LIBRARY_TARGET) if kind == "crates" else None
        ok = target is None or line_pct >= target
        if not ok:
            failures.append(f"{name}: {line_pct:.1f} % of lines, target {target:.0f} %")
        rows.append(
            (
                f"{kind}/{name}",
                t["covered"],
                t["lines"],
                line_pct,
                t["taken"],
                t["branches"],
                branch_pct,
                target,
                ok,
            )
        )
        report.append(
            {
                "package": f"{kind}/{name}",
                "lines": t["lines"],
                "lines_covered": t["covered"],
                "line_percent": round(line_pct, 2),
                "branches": t["branches"],
                "branches_covered": t["taken"],
                "branch_percent": None if branch_pct is None else round(branch_pct, 2),
                "test_only_lines_left_out": t["excluded"],
                "line_target_percent": target,
                "meets_target": ok,
            }
        )
    all_lines = sum(r[2] for r in rows)
    all_cov = sum(r[1] for r in rows)
    all_br = sum(r[5] for r in rows)
    all_taken = sum(r[4] for r in rows)
    # Branch columns only when the profiles recorded branches (`scripts/coverage branches`).
    with_branches = all_br > 0
    header = f"{'package':<22} {'lines':>15} {'line %':>7}"
    if with_branches:
        header += f" {'branches':>13} {'branch %':>8}"
    header += "  target"
    text = [header, "-" * len(header)]
    for pkg, cov, lines, lpct, taken, branches, bpct, target, ok in rows:
        row = f"{pkg:<22} {cov:>7}/{lines:<7} {lpct:6.1f}"
        if with_branches:
            bcell = f"{bpct:7.1f}" if bpct is not None else "      -"
            row += f" {taken:>6}/{branches:<6} {bcell}"
        tcell = "-" if target is None else f"{target:.0f} % {'ok' if ok else 'BELOW'}"
        text.append(f"{row}   {tcell}")
    text.append("-" * len(header))
    total = f"{'all':<22} {all_cov:>7}/{all_lines:<7} {100.0 * all_cov / max(all_lines, 1):6.1f}"
    if with_branches:
        total += f" {all_taken:>6}/{all_br:<6} {100.0 * all_taken / all_br:7.1f}"
    text.append(total)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.txt").write_text("\n".join(text) + "\n")
    (out_dir / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(text))
    print(f"(lcov: {lcov}; table: {out_dir / 'summary.txt'})")
    if failures:
        print("coverage below target:\n  " + "\n  ".join(failures), file=sys.stderr)
        if check:
            sys.exit(1)


if __name__ == "__main__":
    main()
