//! `generate`: code from named templates with typed, validated parameters (minijinja).

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::{Error, Language};

/// The type of a template parameter; values are checked before rendering so the output is
/// always well-formed code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParameterKind {
    /// A name valid in the template's language (not a keyword).
    Identifier,
    /// A list of such names.
    IdentifierList,
    /// One line of text without quotes or backslashes (for comments and docstrings).
    Text,
}

/// A parameter a template takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ParameterInfo {
    /// Parameter name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its type.
    pub kind: ParameterKind,
    /// Whether it must be given.
    pub required: bool,
    /// The value used when it is not given (optional parameters only).
    pub default: Option<serde_json::Value>,
}

/// A template, as listed to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TemplateInfo {
    /// Template name.
    pub name: String,
    /// Language of the generated code.
    pub language: Language,
    /// What it generates.
    pub description: String,
    /// Its parameters.
    pub parameters: Vec<ParameterInfo>,
}

/// A request to render a template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GenerateRequest {
    /// Template name.
    pub template: String,
    /// Parameter values.
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

impl GenerateRequest {
    /// A request with no parameters yet.
    pub fn new(template: impl Into<String>) -> Self {
        GenerateRequest {
            template: template.into(),
            parameters: BTreeMap::new(),
        }
    }

    /// Adds a parameter.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }
}

/// Generated code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Generated {
    /// The template used.
    pub template: String,
    /// Language of `code`.
    pub language: Language,
    /// A suggested file name.
    pub file_name: String,
    /// The code.
    pub code: String,
}

struct Builtin {
    name: &'static str,
    language: Language,
    description: &'static str,
    file_name: &'static str,
    params: &'static [(
        &'static str,
        ParameterKind,
        &'static str,
        Option<&'static str>,
    )],
    source: &'static str,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "python_function",
        language: Language::Python,
        description: "A Python function stub with a docstring.",
        file_name: "{{ name }}.py",
        params: &[
            ("name", ParameterKind::Identifier, "function name", None),
            (
                "params",
                ParameterKind::IdentifierList,
                "parameter names",
                Some("[]"),
            ),
            (
                "doc",
                ParameterKind::Text,
                "one-line docstring",
                Some("\"TODO: describe.\""),
            ),
        ],
        source: "def {{ name }}({{ params | join(\", \") }}):\n    \"\"\"{{ doc }}\"\"\"\n    raise NotImplementedError\n",
    },
    Builtin {
        name: "python_dataclass",
        language: Language::Python,
        description: "A Python dataclass with typed fields.",
        file_name: "{{ name | lower }}.py",
        params: &[
            ("name", ParameterKind::Identifier, "class name", None),
            (
                "fields",
                ParameterKind::IdentifierList,
                "field names (typed as str)",
                Some("[]"),
            ),
            (
                "doc",
                ParameterKind::Text,
                "one-line docstring",
                Some("\"TODO: describe.\""),
            ),
        ],
        source: "from dataclasses import dataclass\n\n\n@dataclass\nclass {{ name }}:\n    \"\"\"{{ doc }}\"\"\"\n{% for f in fields %}\n    {{ f }}: str\n{%- else %}\n\n    pass\n{%- endfor %}\n",
    },
    Builtin {
        name: "pytest_test",
        language: Language::Python,
        description: "A pytest test module for one function.",
        file_name: "test_{{ module }}.py",
        params: &[
            (
                "module",
                ParameterKind::Identifier,
                "module under test",
                None,
            ),
            (
                "function",
                ParameterKind::Identifier,
                "function under test",
                None,
            ),
        ],
        source: "from {{ module }} import {{ function }}\n\n\ndef test_{{ function }}_works():\n    assert {{ function }} is not None\n",
    },
    Builtin {
        name: "javascript_function",
        language: Language::Javascript,
        description: "A CommonJS function stub with a JSDoc comment.",
        file_name: "{{ name }}.js",
        params: &[
            ("name", ParameterKind::Identifier, "function name", None),
            (
                "params",
                ParameterKind::IdentifierList,
                "parameter names",
                Some("[]"),
            ),
            (
                "doc",
                ParameterKind::Text,
                "one-line description",
                Some("\"TODO: describe.\""),
            ),
        ],
        source: "/**\n * {{ doc }}\n{%- for p in params %}\n * @param {*} {{ p }}\n{%- endfor %}\n */\nfunction {{ name }}({{ params | join(\", \") }}) {\n  throw new Error(\"not implemented\");\n}\n\nmodule.exports = { {{ name }} };\n",
    },
    Builtin {
        name: "bash_script",
        language: Language::Bash,
        description: "A strict-mode Bash script taking named positional arguments.",
        file_name: "{{ name }}.sh",
        params: &[
            ("name", ParameterKind::Identifier, "script name", None),
            (
                "args",
                ParameterKind::IdentifierList,
                "argument names",
                Some("[]"),
            ),
            (
                "doc",
                ParameterKind::Text,
                "one-line description",
                Some("\"TODO: describe.\""),
            ),
        ],
        source: "#!/usr/bin/env bash\n# {{ name }}: {{ doc }}\nset -euo pipefail\n\nif [[ $# -ne {{ args | length }} ]]; then\n  echo \"usage: {{ name }}{% for a in args %} <{{ a }}>{% endfor %}\" >&2\n  exit 2\nfi\n{%- for a in args %}\n{{ a }}=\"${{ '{' }}{{ loop.index }}{{ '}' }}\"\n{%- endfor %}\n",
    },
];

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];
const JS_KEYWORDS: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];
const BASH_RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "in", "function", "time", "PATH", "HOME", "IFS", "PWD", "UID",
];

/// The template catalogue and engine.
pub struct Generator {
    env: Environment<'static>,
    templates: Vec<TemplateInfo>,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("templates", &self.templates)
            .finish_non_exhaustive()
    }
}

impl Default for Generator {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Generator {
    /// The built-in templates.
    pub fn builtin() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let mut templates = Vec::new();
        for b in BUILTINS {
            // Built-in templates are constants checked by the unit tests below.
            if let Err(e) = env.add_template(b.name, b.source) {
                tracing::error!(template = b.name, error = %e, "built-in template does not parse");
                continue;
            }
            let _ = env.add_template_owned(format!("{}.file_name", b.name), b.file_name);
            templates.push(TemplateInfo {
                name: b.name.into(),
                language: b.language,
                description: b.description.into(),
                parameters: b
                    .params
                    .iter()
                    .map(|(name, kind, description, default)| ParameterInfo {
                        name: (*name).into(),
                        description: (*description).into(),
                        kind: *kind,
                        required: default.is_none(),
                        default: default.and_then(|d| serde_json::from_str(d).ok()),
                    })
                    .collect(),
            });
        }
        Generator { env, templates }
    }

    /// Every template with its parameters.
    pub fn templates(&self) -> &[TemplateInfo] {
        &self.templates
    }

    /// Renders a template after checking every parameter.
    pub fn generate(&self, request: &GenerateRequest) -> Result<Generated, Error> {
        let info = self
            .templates
            .iter()
            .find(|t| t.name == request.template)
            .ok_or_else(|| Error::UnknownTemplate(request.template.clone()))?;
        for name in request.parameters.keys() {
            if !info.parameters.iter().any(|p| &p.name == name) {
                return Err(Error::UnknownParameter {
                    template: info.name.clone(),
                    parameter: name.clone(),
                });
            }
        }
        let mut ctx = BTreeMap::new();
        for p in &info.parameters {
            let value = match (request.parameters.get(&p.name), &p.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => {
                    return Err(Error::MissingParameter {
                        template: info.name.clone(),
                        parameter: p.name.clone(),
                    });
                }
            };
            check_value(info, p, &value)?;
            ctx.insert(p.name.clone(), to_value(&value));
        }
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(minijinja::Value::from(ctx.clone())))
                .map_err(|e| Error::Render {
                    template: info.name.clone(),
                    message: e.to_string(),
                })
        };
        Ok(Generated {
            template: info.name.clone(),
            language: info.language,
            file_name: render(&format!("{}.file_name", info.name))?,
            // The engine drops the final newline; source files end with one.
            code: render(&info.name)? + "\n",
        })
    }
}

/// Converts a checked parameter (string, list of strings, or a plain scalar) for the engine.
fn to_value(v: &serde_json::Value) -> minijinja::Value {
    match v {
        serde_json::Value::String(s) => minijinja::Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            minijinja::Value::from(items.iter().map(to_value).collect::<Vec<_>>())
        }
        serde_json::Value::Bool(b) => minijinja::Value::from(*b),
        other => minijinja::Value::from(other.to_string()),
    }
}

fn check_value(
    info: &TemplateInfo,
    p: &ParameterInfo,
    value: &serde_json::Value,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidParameter {
        template: info.name.clone(),
        parameter: p.name.clone(),
        reason,
    };
    match p.kind {
        ParameterKind::Identifier => {
            let s = value
                .as_str()
                .ok_or_else(|| invalid("must be a string".into()))?;
            check_identifier(info.language, s).map_err(invalid)
        }
        ParameterKind::IdentifierList => {
            let items = value
                .as_array()
                .ok_or_else(|| invalid("must be a list of names".into()))?;
            let mut seen = std::collections::BTreeSet::new();
            for item in items {
                let s = item
                    .as_str()
                    .ok_or_else(|| invalid("every item must be a string".into()))?;
                check_identifier(info.language, s).map_err(&invalid)?;
                if !seen.insert(s) {
                    return Err(invalid(format!("`{s}` appears twice")));
                }
            }
            Ok(())
        }
        ParameterKind::Text => {
            let s = value
                .as_str()
                .ok_or_else(|| invalid("must be a string".into()))?;
            if s.len() > 200 {
                return Err(invalid("longer than 200 characters".into()));
            }
            if s.chars().any(|c| {
                c.is_control() || matches!(c, '"' | '\'' | '`' | '\\' | '$' | '*' | '{' | '}')
            }) {
                return Err(invalid(
                    "must be one line without quotes, backslashes, `$`, `*` or braces".into(),
                ));
            }
            Ok(())
        }
    }
}

fn check_identifier(language: Language, s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || s.len() > 64 {
        return Err(format!(
            "`{s}` is not a name (letters, digits and `_`, not starting with a digit, at most 64)"
        ));
    }
    let reserved = match language {
        Language::Python => PYTHON_KEYWORDS,
        Language::Javascript => JS_KEYWORDS,
        Language::Bash => BASH_RESERVED,
    };
    if reserved.contains(&s) {
        return Err(format!("`{s}` is a reserved word in {language}"));
    }
    if let Some(why) = dangerous_in_runtime(language, s) {
        return Err(format!(
            "`{s}` has a meaning of its own where {language} code runs ({why}); choose another name"
        ));
    }
    Ok(())
}

/// Variables of the dynamic loader, the C library and the shells: whatever a generated name
/// sets, it must not be one of them. POSIX reserves upper-case names for the environment.
const ENVIRONMENT_PREFIXES: &[&str] = &["LD_", "DYLD_", "MALLOC_", "GLIBC_", "BASH_", "LC_"];

/// Lower-case names that shells, the C library or common tools read from the environment.
const LOWER_CASE_ENVIRONMENT: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "all_proxy",
    "no_proxy",
    "auto_resume",
    "histchars",
];

/// Python names with a meaning to the interpreter: module hooks (a module-level `__getattr__`
/// answers every missing attribute) and files it imports by itself at start-up.
const PYTHON_RUNTIME: &[&str] = &["sitecustomize", "usercustomize"];

/// Names a CommonJS module or the JavaScript runtime gives a meaning: a function called
/// `require` or `module` replaces the module system's own in that file.
const JAVASCRIPT_RUNTIME: &[&str] = &[
    "require",
    "module",
    "exports",
    "__filename",
    "__dirname",
    "__proto__",
    "constructor",
    "prototype",
    "eval",
    "arguments",
    "globalThis",
    "process",
    "undefined",
    "NaN",
    "Infinity",
];

/// Why `name` is dangerous in the runtime of `language`'s generated code, if it is.
///
/// For Bash, where parameters become shell variables (assigning one that the environment
/// exported changes what every later command sees), every all-upper-case name is refused:
/// POSIX reserves those for the environment (`PATH`, `IFS`, `BASH_ENV`, `SHELLOPTS`, `ENV`,
/// `PROMPT_COMMAND`, `PS4`, `LD_PRELOAD`, …), plus the lower-case ones that tools read. For
/// Python and JavaScript, the names the interpreter or loader read from the environment
/// (`PYTHONPATH`, `PYTHONSTARTUP`, `NODE_OPTIONS`, `LD_PRELOAD`, …) and the names the runtime
/// gives a meaning of its own (dunder names, `sitecustomize`, `require`, `__proto__`, …).
fn dangerous_in_runtime(language: Language, name: &str) -> Option<&'static str> {
    let upper = name.starts_with(|c: char| c.is_ascii_uppercase())
        && !name.chars().any(|c| c.is_ascii_lowercase());
    let environment = ENVIRONMENT_PREFIXES.iter().any(|p| name.starts_with(p))
        || LOWER_CASE_ENVIRONMENT.contains(&name);
    match language {
        Language::Bash if upper => Some(
            "names in capitals belong to the environment and the shell: PATH, IFS, BASH_ENV, \
             LD_PRELOAD, …; use lower case",
        ),
        Language::Bash if environment => Some("the shell or the tools it runs read it"),
        _ if environment => Some("the dynamic loader or the C library reads it"),
        Language::Python if name.starts_with("PYTHON") => Some("the Python interpreter reads it"),
        Language::Python if name.len() > 4 && name.starts_with("__") && name.ends_with("__") => {
            Some("Python gives dunder names a meaning")
        }
        Language::Python if PYTHON_RUNTIME.contains(&name) => {
            Some("Python imports a module of this name by itself")
        }
        Language::Javascript if name.starts_with("NODE_") || name.starts_with("UV_") => {
            Some("Node.js reads it")
        }
        Language::Javascript if JAVASCRIPT_RUNTIME.contains(&name) => {
            Some("the module system or the language gives it a meaning")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_renders_with_its_defaults_and_sample_names() {
        let g = Generator::builtin();
        assert_eq!(g.templates().len(), BUILTINS.len());
        for t in g.templates() {
            let mut req = GenerateRequest::new(&t.name);
            for p in t.parameters.iter().filter(|p| p.required) {
                req = req.with(&p.name, "sample");
            }
            let out = g.generate(&req).unwrap();
            assert!(!out.code.is_empty(), "{}", t.name);
        }
    }

    #[test]
    fn python_function_renders_parameters_in_order() {
        let g = Generator::builtin();
        let out = g
            .generate(
                &GenerateRequest::new("python_function")
                    .with("name", "add")
                    .with("params", serde_json::json!(["a", "b"]))
                    .with("doc", "Adds two numbers."),
            )
            .unwrap();
        assert_eq!(
            out.code,
            "def add(a, b):\n    \"\"\"Adds two numbers.\"\"\"\n    raise NotImplementedError\n"
        );
        assert_eq!(out.file_name, "add.py");
    }

    #[test]
    fn missing_unknown_and_malformed_parameters_are_clear_errors() {
        let g = Generator::builtin();
        let err = g
            .generate(&GenerateRequest::new("python_function"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template `python_function` needs parameter `name`"
        );
        let err = g
            .generate(
                &GenerateRequest::new("python_function")
                    .with("name", "f")
                    .with("colour", "red"),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template `python_function` has no parameter `colour`"
        );
        let err = g
            .generate(&GenerateRequest::new("python_function").with("name", "class"))
            .unwrap_err();
        assert!(err.to_string().contains("reserved word"), "{err}");
        let err = g
            .generate(&GenerateRequest::new("python_function").with("name", "f(); import os"))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
        let err = g
            .generate(
                &GenerateRequest::new("python_function")
                    .with("name", "f")
                    .with("doc", "\"\"\"; x"),
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
        let err = g
            .generate(&GenerateRequest::new("cobol_program"))
            .unwrap_err();
        assert_eq!(err.to_string(), "unknown template `cobol_program`");
    }

    /// Every parameter of kind identifier or identifier list of every template of `language`,
    /// with `name` as its value: all must be refused.
    fn assert_refused_everywhere(g: &Generator, language: Language, name: &str) {
        let mut tried = 0;
        for t in g.templates().iter().filter(|t| t.language == language) {
            for p in &t.parameters {
                let value = match p.kind {
                    ParameterKind::Identifier => serde_json::json!(name),
                    ParameterKind::IdentifierList => serde_json::json!([name]),
                    _ => continue,
                };
                let mut req = GenerateRequest::new(&t.name);
                for q in t.parameters.iter().filter(|q| q.required) {
                    req = req.with(&q.name, "sample");
                }
                let err = g
                    .generate(&req.with(&p.name, value))
                    .expect_err(&format!("{}.{} = {name} was accepted", t.name, p.name));
                assert!(
                    matches!(&err, Error::InvalidParameter { reason, .. }
                        if reason.contains("meaning of its own") || reason.contains("reserved word")),
                    "{}.{} = {name}: {err}",
                    t.name,
                    p.name
                );
                tried += 1;
            }
        }
        assert!(tried > 0, "no {language} template takes a name");
    }

    #[test]
    fn names_the_generated_codes_runtime_reads_are_refused() {
        let g = Generator::builtin();
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "BASH_ENV",
            "SHELLOPTS",
            "BASHOPTS",
            "ENV",
            "PROMPT_COMMAND",
            "PS4",
            "IFS",
            "PATH",
            "CDPATH",
            "GLOBIGNORE",
            "HOME",
            "TMPDIR",
            "MY_SETTING",
            "http_proxy",
            "histchars",
        ] {
            assert_refused_everywhere(&g, Language::Bash, name);
        }
        for name in [
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "LD_PRELOAD",
            "__getattr__",
            "__init__",
            "__builtins__",
            "sitecustomize",
            "usercustomize",
        ] {
            assert_refused_everywhere(&g, Language::Python, name);
        }
        for name in [
            "NODE_OPTIONS",
            "NODE_PATH",
            "LD_PRELOAD",
            "require",
            "module",
            "__proto__",
            "constructor",
            "process",
        ] {
            assert_refused_everywhere(&g, Language::Javascript, name);
        }
    }

    #[test]
    fn ordinary_names_stay_allowed() {
        let g = Generator::builtin();
        let out = g
            .generate(
                &GenerateRequest::new("bash_script")
                    .with("name", "deploy")
                    .with("args", serde_json::json!(["target_dir", "Mode2", "_x"])),
            )
            .unwrap();
        assert!(out.code.contains("target_dir=\"${1}\""), "{}", out.code);
        let out = g
            .generate(
                &GenerateRequest::new("python_dataclass")
                    .with("name", "User")
                    .with(
                        "fields",
                        serde_json::json!(["name", "MAX_SIZE", "_private"]),
                    ),
            )
            .unwrap();
        assert!(out.code.contains("MAX_SIZE: str"), "{}", out.code);
        g.generate(&GenerateRequest::new("javascript_function").with("name", "requireAll"))
            .unwrap();
    }

    #[test]
    fn bash_script_names_its_arguments() {
        let g = Generator::builtin();
        let out = g
            .generate(
                &GenerateRequest::new("bash_script")
                    .with("name", "greet")
                    .with("args", serde_json::json!(["who", "greeting"])),
            )
            .unwrap();
        assert!(
            out.code.contains("who=\"${1}\"\ngreeting=\"${2}\""),
            "{}",
            out.code
        );
        assert!(
            out.code.contains("usage: greet <who> <greeting>"),
            "{}",
            out.code
        );
    }
}

#[cfg(all(test, feature = "schemars"))]
mod schema_tests {
    use super::*;
    use mcp_core::schema_testing::schema_matches;

    #[test]
    fn template_and_generated_schemas_describe_the_serialized_fields() {
        let generator = Generator::builtin();
        for template in generator.templates() {
            schema_matches(template);
            for parameter in &template.parameters {
                schema_matches(parameter);
            }
        }
        let generated = generator
            .generate(&GenerateRequest::new("python_function").with("name", "f"))
            .unwrap();
        schema_matches(&generated);
    }
}
