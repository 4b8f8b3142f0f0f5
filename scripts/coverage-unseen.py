#!/usr/bin/env python3
"""Lines of library code that the coverage figures cannot see (docs/coverage.md, "What the
figures do not see"): the code lines in the bodies of `async fn`s of `#[async_trait]` items
that carry no line record in an lcov file of `scripts/coverage`.

Usage: coverage-unseen.py [LCOV]   (default: target/coverage/lcov.info)

rustc 1.95 gives such a body's own statements no coverage region (rust-lang/rust#131119); the
closures inside it get theirs. A code line is a non-blank line once comments and string
literals are removed, inside the body's braces, and not in test-only code (the same exclusions
as coverage-summary.py). Prints per package: the code lines of those bodies and how many of
them have no line record.
"""

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "coverage_summary", ROOT / "scripts" / "coverage-summary.py"
)
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)


def block_end(code, start):
    """Index of the line that closes the first brace opened at or after `start`, or None
    when a `;` ends the item first."""
    depth, opened = 0, False
    for n in range(start, len(code)):
        depth += code[n].count("{") - code[n].count("}")
        opened = opened or "{" in code[n]
        if opened and depth <= 0:
            return n
        if not opened and code[n].rstrip().endswith(";"):
            return None
    return None


def async_trait_bodies(path):
    """(first, last) 1-based line numbers of the insides of the `async fn` bodies of each
    `#[async_trait]` item of the file."""
    lines = path.read_text().splitlines()
    state = {"block": False, "string": False}
    code = [summary.strip_code(line, state) for line in lines]
    n = 0
    while n < len(code):
        if not re.match(r"\s*#\[(async_trait::)?async_trait\b", code[n]):
            n += 1
            continue
        item_end = block_end(code, n + 1)
        if item_end is None:
            n += 1
            continue
        k = n + 1
        while k < item_end:
            if re.search(r"\basync\s+fn\b", code[k]):
                end = block_end(code, k)
                if end is None:
                    k += 1
                    continue
                start = next(i for i in range(k, end + 1) if "{" in code[i])
                yield start + 2, end, code
                k = end + 1
            else:
                k += 1
        n = item_end + 1


def main():
    lcov = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/coverage/lcov.info"
    recorded = {p.resolve(): set(d["lines"]) for p, d in summary.parse_lcov(lcov).items()}
    totals = {}
    sources = sorted(ROOT.glob("crates/*/src/**/*.rs")) + sorted(ROOT.glob("bins/*/src/**/*.rs"))
    test_modules = set()
    exclusions = {}
    for path in sources:
        exclusions[path], modules = summary.test_only_lines(path)
        test_modules |= modules
    for path in sources:
        if path.name in summary.SUPPORT_FILES or path.resolve() in test_modules:
            continue
        package = "/".join(path.relative_to(ROOT).parts[:2])
        seen = recorded.get(path.resolve(), set())
        for first, last, code in async_trait_bodies(path):
            body = [
                n
                for n in range(first, last + 1)
                if code[n - 1].strip() and n not in exclusions[path]
            ]
            t = totals.setdefault(package, [0, 0])
            t[0] += len(body)
            t[1] += sum(1 for n in body if n not in seen)
    print(f"{'package':<22} {'body lines':>10} {'no record':>10}")
    for package, (lines, unseen) in sorted(totals.items()):
        print(f"{package:<22} {lines:>10} {unseen:>10}")
    print(
        f"{'all':<22} {sum(t[0] for t in totals.values()):>10} "
        f"{sum(t[1] for t in totals.values()):>10}"
    )


if __name__ == "__main__":
    main()
