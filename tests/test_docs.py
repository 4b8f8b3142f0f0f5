"""The READMEs name the storage backends the crates really have (issue 18, "Docs that match
the code").

A backend is a public type `Memory…`, `Sqlite…` or `Neo4j…` declared in a module of the same name
(`memory.rs`, `sqlite.rs`, `neo4j.rs`, or `neo4j/mod.rs` and the like) of a crate's `src/`, built
when the feature that gates that module is on. From the source, each test derives what the docs must say:

- every library crate has a README, doctested through `#![doc = include_str!("../README.md")]`;
- a crate's README names each of its backend types and the feature that turns it on, never
  calls a backend "planned", and names no backend type that does not exist;
- a crate with backends has one for each storage feature it declares (`sqlite`, `neo4j`);
- the root README's workspace table lists, per crate, exactly the backends it has.

No server and no build are needed: this reads files only.
"""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CRATES = sorted(p for p in (ROOT / "crates").iterdir() if (p / "Cargo.toml").exists())
KINDS = {"memory": "Memory", "sqlite": "Sqlite", "neo4j": "Neo4j"}
# How the root README's table spells each kind.
KIND_NAMES = {"memory": "memory", "sqlite": "SQLite", "neo4j": "Neo4j"}
STORAGE_FEATURES = ("sqlite", "neo4j")


def crate_name(crate):
    return tomllib.loads((crate / "Cargo.toml").read_text())["package"]["name"]


def module_name(module_file):
    """The name of the module a file holds: `neo4j` for `neo4j.rs` and for `neo4j/mod.rs`."""
    return module_file.parent.name if module_file.name == "mod.rs" else module_file.stem


def module_feature(module_file):
    """The feature in the `#[cfg(feature = "…")]` on `mod <name>;` of the parent module, or
    None when the module is always built."""
    stem = module_name(module_file)
    parent_dir = module_file.parent.parent if module_file.name == "mod.rs" else module_file.parent
    candidates = [parent_dir / "mod.rs", parent_dir.with_suffix(".rs")]
    if parent_dir.name == "src":
        candidates = [parent_dir / "lib.rs"]
    for parent in candidates:
        if not parent.exists():
            continue
        text = parent.read_text()
        decl = re.search(
            rf"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+{stem}\s*;", text
        )
        if decl:
            gate = re.search(r'cfg\(feature\s*=\s*"([^"]+)"\)', decl.group(1))
            return gate.group(1) if gate else None
    raise AssertionError(f"no `mod {stem};` found for {module_file}")


def backends(crate):
    """{type name: (kind, feature or None)} of the crate's storage backends."""
    found = {}
    for path in sorted((crate / "src").rglob("*.rs")):
        kind = module_name(path)
        if kind not in KINDS:
            continue
        for name in re.findall(r"^pub struct (\w+)", path.read_text(), re.MULTILINE):
            if name.startswith(KINDS[kind]):
                found[name] = (kind, module_feature(path))
    return found


def features(crate):
    return tomllib.loads((crate / "Cargo.toml").read_text()).get("features", {})


@pytest.mark.parametrize("crate", CRATES, ids=lambda p: p.name)
def test_each_library_crate_has_a_doctested_readme(crate):
    readme = crate / "README.md"
    assert readme.exists(), f"{crate.name} has no README.md"
    lib = (crate / "src" / "lib.rs").read_text()
    assert '#![doc = include_str!("../README.md")]' in lib, (
        f"{crate.name}/src/lib.rs does not include its README as the crate doc, so the "
        "README's example is not compiled"
    )
    assert compiled_examples(readme.read_text()), (
        f"{crate.name}/README.md has no Rust example that rustdoc compiles"
    )


def compiled_examples(markdown):
    """The code blocks rustdoc compiles: fences with no info string or only Rust attributes
    (`rust`, `no_run`, `should_panic`, `editionNNNN`), not `ignore` or another language."""
    blocks, inside = [], False
    for line in markdown.splitlines():
        fence = re.match(r"\s*```(.*)$", line)
        if not fence:
            continue
        if inside:
            inside = False
            continue
        inside = True
        tokens = [t for t in re.split(r"[\s,]+", fence.group(1).strip()) if t]
        if all(
            t in ("rust", "no_run", "should_panic") or t.startswith("edition")
            for t in tokens
        ):
            blocks.append(line)
    return blocks


@pytest.mark.parametrize("crate", CRATES, ids=lambda p: p.name)
def test_each_crate_readme_names_the_backends_the_crate_has(crate):
    readme = (crate / "README.md").read_text()
    found = backends(crate)
    for name, (kind, feature) in found.items():
        assert re.search(rf"\b{name}\b", readme), (
            f"{crate.name}/README.md does not name its {kind} backend `{name}`"
        )
        if feature is not None:
            assert f"`{feature}`" in readme, (
                f"{crate.name}/README.md does not name the feature `{feature}` of `{name}`"
            )
    planned = re.findall(r"[^.\n]*\bplanned\b[^.\n]*", readme, re.IGNORECASE)
    assert not planned, f"{crate.name}/README.md calls something planned: {planned}"
    # No backend type that does not exist (a renamed or removed one, or a wish).
    mentioned = set(
        re.findall(r"\b((?:Memory|Sqlite|Neo4j)[A-Z]\w*(?:Store|Sink))\b", readme)
    )
    every = set()
    for other in CRATES:
        every |= set(backends(other))
    ghosts = mentioned - every
    assert not ghosts, (
        f"{crate.name}/README.md names backends that do not exist: {ghosts}"
    )


@pytest.mark.parametrize("crate", CRATES, ids=lambda p: p.name)
def test_a_crate_with_backends_has_one_for_each_storage_feature(crate):
    found = backends(crate)
    if not found:
        pytest.skip(f"{crate.name} has no storage backends")
    kinds = {kind for kind, _ in found.values()}
    assert "memory" in kinds, f"{crate.name} has backends but no memory one"
    for feature in STORAGE_FEATURES:
        if feature in features(crate):
            gated = {k for k, f in found.values() if f == feature}
            assert feature in gated, (
                f"{crate.name} declares the feature `{feature}` but no `{KINDS[feature]}…` "
                f"backend behind it"
            )


def root_table():
    """{crate dir: backends cell} from the root README's workspace table."""
    text = (ROOT / "README.md").read_text()
    rows = {}
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None and "crate" in cells[0].lower():
            header = [c.lower() for c in cells]
            continue
        if header and not set(line) <= set("|-: "):
            crate = cells[0].strip("`")
            rows[crate] = dict(zip(header, cells))
    assert header and "storage backends" in header, (
        "README.md's workspace table needs a `storage backends` column"
    )
    return rows


def test_the_root_readme_lists_each_crates_backends():
    rows = root_table()
    for crate in CRATES:
        key = f"crates/{crate.name}"
        assert key in rows, f"README.md's workspace table has no row for {key}"
        kinds = {kind for kind, _ in backends(crate).values()}
        want = [KIND_NAMES[k] for k in KINDS if k in kinds]
        cell = rows[key]["storage backends"]
        got = [] if cell in ("", "—", "-") else [c.strip() for c in cell.split(",")]
        assert got == want, (
            f"README.md says {key} has backends {got or 'none'}, the source has {want or 'none'}"
        )


def test_the_root_readme_does_not_say_every_crate_has_backends():
    text = (ROOT / "README.md").read_text()
    without = [c.name for c in CRATES if not backends(c)]
    if without:
        assert not re.search(r"[Ee]ach library crate[^.]*storage backends", text), (
            f"README.md says every library crate has storage backends; {without} have none"
        )
