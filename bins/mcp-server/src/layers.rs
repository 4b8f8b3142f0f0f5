//! The binary's modules form layers with no import back up (docs/architecture.md, "Layers").
//!
//! [`LAYERS`] lists the top-level modules from the bottom up; a module may use (`crate::x`, or
//! `super::…::x` climbing to the crate root) only modules of lower layers, never one of its own
//! layer or above, and nothing uses the crate root (`lib.rs`, which wires everything). The test reads the sources, so a new import that
//! breaks the order fails here and a new module must be placed in the table. Unit-test modules
//! (`#[cfg(test)] mod tests`) are exempt: they may build the whole application. docs/architecture.md
//! draws the same layers; a test checks that it does.

/// The layers, bottom first.
const LAYERS: &[&[&str]] = &[
    // Configuration types, the permission table, leaf stores and helpers.
    &["access", "config", "metrics", "request_id", "users"],
    &[
        "data_dir",
        "error",
        "limits",
        "oauth_limits",
        "resource_server",
        "telemetry",
    ],
    &["body", "completion", "gateway", "query"],
    &["state"],
    &["auth", "middleware", "preflight"],
    // The operations both transports call.
    &["oauth", "ops"],
    // The two transports, which never use each other.
    &["mcp", "routes"],
    &["cli"],
    &["commands"],
    // The application and the HTTP server.
    &["server"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The production code of a source file: without line comments and from the first
/// `#[cfg(test)]` module on.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            // Test modules close the file, after the production code.
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first path segment of every `crate::…` path in `code` (each item of a `crate::{…}`
/// group counts); `""` for a path into the crate root itself.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        first_segments(&code[at + "crate::".len()..], &mut found);
    }
    found
}

/// The first path segment after the crate root of every `super::…` path in `code` that climbs
/// to the root, in a file whose module is `depth` levels below it (`super::super::x` in
/// `a/b.rs` names the top-level module `x`); paths that stay inside the file's own top-level
/// module are left out.
fn super_paths(code: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("super::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbs = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            rest = after;
            climbs += 1;
        }
        if climbs >= depth {
            first_segments(rest, &mut found);
        }
    }
    found
}

/// Pushes the first segment of the path that `rest` starts with, or of each item when it
/// starts with a `{…}` group.
fn first_segments(rest: &str, found: &mut Vec<String>) {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0usize;
        let mut item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if item_start && !c.is_whitespace() => {
                    item_start = false;
                    found.push(ident(&group[i..]).to_owned());
                }
                _ => {}
            }
        }
    } else {
        found.push(ident(rest).to_owned());
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_a_module_of_its_own_layer_or_above() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.iter().next().unwrap().to_str().unwrap();
        let module = top.strip_suffix(".rs").unwrap_or(top);
        if matches!(module, "lib" | "main" | "layers") {
            continue;
        }
        let Some(own) = layer_of(module) else {
            violations.push(format!("{module} is in no layer of LAYERS"));
            continue;
        };
        // How deep the file's module sits: `a.rs` and `a/mod.rs` are 1, `a/b.rs` is 2.
        let depth = relative.iter().count()
            - usize::from(relative.file_name().is_some_and(|name| name == "mod.rs"));
        let code = production_code(&std::fs::read_to_string(file).unwrap());
        let mut used_paths = crate_paths(&code);
        used_paths.extend(super_paths(&code, depth));
        for used in used_paths {
            checked += 1;
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(theirs) if theirs < own => {}
                Some(_) => violations.push(format!(
                    "{}: {module} uses {used} (through crate:: or super::), which is not in a lower layer",
                    relative.display()
                )),
                // Only a crate-root item (a re-export or `run`) or a typo is in no layer.
                None => violations.push(format!(
                    "{}: {module} uses {used:?} (through crate:: or super::), which is the crate root or unknown",
                    relative.display()
                )),
            }
        }
    }
    assert!(checked > 50, "the scan found only {checked} crate:: paths");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_scan_sees_grouped_and_inline_paths_and_skips_comments_and_tests() {
    let code = production_code(
        "use crate::{a, b::{c, d}, e as f};\n\
         // crate::commented\n\
         let x = crate::g::h(&y);\n\
         let m = $crate::macro_path;\n\
         #[cfg(test)]\n\
         mod tests { use crate::tested; }\n",
    );
    assert_eq!(crate_paths(&code), ["a", "b", "e", "g"]);
}

#[test]
fn the_scan_follows_super_paths_that_climb_to_the_crate_root() {
    let code = production_code(
        "use super::super::{routes, config::Config};\n\
         use super::sibling;\n\
         let x = super::super::super::ops::run();\n",
    );
    // In `a/b.rs` (depth 2) two `super`s reach the root; one stays inside `a`.
    assert_eq!(super_paths(&code, 2), ["routes", "config", "ops"]);
    // In `a/b/c.rs` (depth 3) only the three-`super` path leaves `a`.
    assert_eq!(super_paths(&code, 3), ["ops"]);
    // In `a.rs` (depth 1) every `super` path names a top-level module.
    assert_eq!(
        super_paths(&code, 1),
        ["routes", "config", "sibling", "ops"]
    );
}

#[test]
fn every_module_of_the_crate_root_has_a_layer() {
    let lib = include_str!("lib.rs");
    for line in lib.lines() {
        let line = line.trim_start_matches("pub ");
        if let Some(name) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(';')) {
            assert!(
                name == "layers" || layer_of(name).is_some(),
                "module {name} is in no layer"
            );
        }
    }
}

/// The layers the picture in docs/architecture.md ("The binary's layers") draws, bottom
/// first: each unindented line of its `text` block names one layer's modules.
fn documented_layers(doc: &str) -> Vec<Vec<String>> {
    let section = &doc[doc
        .find("## The binary's layers")
        .expect("docs/architecture.md has a section \"The binary's layers\"")..];
    let block = &section[section
        .find("```text\n")
        .expect("the section has a text block")
        + 8..];
    let block = &block[..block.find("```").expect("the text block ends")];
    let mut layers: Vec<Vec<String>> = block
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with(char::is_whitespace))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    layers.reverse();
    layers
}

#[test]
fn the_architecture_doc_draws_the_layers_of_the_table() {
    let doc_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let documented = documented_layers(&std::fs::read_to_string(doc_path).unwrap());
    let table: Vec<Vec<String>> = LAYERS
        .iter()
        .map(|layer| layer.iter().map(|m| (*m).to_owned()).collect())
        .collect();
    assert_eq!(
        documented, table,
        "docs/architecture.md draws other layers (bottom first) than LAYERS"
    );
}

#[test]
fn documented_layers_are_the_unindented_lines_bottom_first() {
    let doc = "# x\n## The binary's layers\ntext\n```text\ntop a\n    about top\n\nmid\nlow b c\n    about low\n```\n```text\nnot this\n```\n";
    assert_eq!(
        documented_layers(doc),
        [vec!["low", "b", "c"], vec!["mid"], vec!["top", "a"]]
    );
}
