//! Where each setting came from (a flag, an environment variable, a line of the config file, or
//! the default), so that an error can name the thing to change.
use std::fmt;
use std::path::{Path, PathBuf};

use super::{ENV_ALIASES, Overrides};

/// Where one setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag (`--port`).
    Flag(&'static str),
    /// An environment variable (`MCP_PORT`).
    Env(String),
    /// A line of the config file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// Nobody set it: the built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "set by {flag}"),
            Self::Env(var) => write!(f, "set by environment variable {var}"),
            Self::File { path, line } => write!(f, "set in {} line {line}", path.display()),
            Self::Default => f.write_str("the default"),
        }
    }
}

/// The layers a configuration was loaded from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The config file and what named it (`--config` or `MCP_CONFIG`).
    pub(super) file: Option<(PathBuf, &'static str)>,
    /// The file's text.
    pub(super) text: Option<String>,
    /// The `MCP_*` environment variables.
    pub(super) env: Vec<(String, String)>,
    /// Dotted keys set by flags, with the flag.
    pub(super) flags: Vec<(&'static str, &'static str)>,
}

impl Sources {
    pub(super) fn new(
        file: Option<(PathBuf, &'static str)>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Self {
        let mut flags = Vec::new();
        if overrides.host.is_some() {
            flags.push(("http.host", "--host"));
        }
        if overrides.port.is_some() {
            flags.push(("http.port", "--port"));
        }
        if overrides.data_dir.is_some() {
            flags.push(("storage.data_dir", "--data-dir"));
        }
        if overrides.backend.is_some() {
            flags.push(("storage.backend", "--storage"));
        }
        if overrides.log_format.is_some() {
            flags.push(("log.format", "--log-format"));
        }
        Self {
            file,
            text: None,
            env: env
                .iter()
                .filter(|(k, _)| k.starts_with("MCP_"))
                .cloned()
                .collect(),
            flags,
        }
    }

    /// The config file, if one was read.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Where the setting `dotted` (`http.port`, `storage.neo4j.password`) came from: the
    /// strongest layer that set it or a key below it.
    pub fn origin(&self, dotted: &str) -> Origin {
        let covers = |key: &str| key == dotted || key.starts_with(&format!("{dotted}."));
        if let Some((_, flag)) = self.flags.iter().find(|(k, _)| covers(k)) {
            return Origin::Flag(flag);
        }
        if let Some(var) = self.env_var_of(dotted) {
            return Origin::Env(var);
        }
        if let (Some((path, _)), Some(text)) = (&self.file, &self.text)
            && let Some(line) = line_of_key(text, dotted)
        {
            return Origin::File {
                path: path.clone(),
                line,
            };
        }
        Origin::Default
    }

    /// The environment variable that set `dotted` (or a key below it): an alias wins over the
    /// generic `MCP_SECTION__KEY` form, as when loading.
    pub fn env_var_of(&self, dotted: &str) -> Option<String> {
        let covers = |key: &str| key == dotted || key.starts_with(&format!("{dotted}."));
        for (alias, key) in ENV_ALIASES {
            if covers(key) && self.env.iter().any(|(k, _)| k == alias) {
                return Some((*alias).to_owned());
            }
        }
        self.env
            .iter()
            .find(|(name, _)| {
                name.strip_prefix("MCP_")
                    .filter(|rest| rest.contains("__"))
                    .is_some_and(|rest| covers(&rest.to_ascii_lowercase().replace("__", ".")))
            })
            .map(|(name, _)| name.clone())
    }

    /// How to name `dotted` in a message: the key, and where it was set unless by default.
    pub fn describe(&self, dotted: &str) -> String {
        match self.origin(dotted) {
            Origin::Default => format!("`{dotted}`"),
            origin => format!("`{dotted}` ({origin})"),
        }
    }
}

/// The 1-based line of `dotted` in a TOML document: the line of its key, or of the deepest
/// table on its path that the document has.
pub fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    for part in dotted.split('.') {
        let Some((key, value)) = table.get_key_value(part) else {
            break;
        };
        found = Some(key.span().start);
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found.map(|offset| line_at(text, offset))
}

/// The 1-based line of a byte offset.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// The dotted key whose name starts at byte `offset` of a TOML document (where a deserializer
/// error for an unknown field points).
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (key, value) in table {
            path.push(key.get_ref().to_string());
            if key.span().contains(&offset) {
                return true;
            }
            let here = value.span().contains(&offset);
            match value.get_ref() {
                toml::de::DeValue::Table(inner) if walk(inner, offset, path) => return true,
                toml::de::DeValue::Array(items) => {
                    for item in items {
                        if let toml::de::DeValue::Table(inner) = item.get_ref()
                            && walk(inner, offset, path)
                        {
                            return true;
                        }
                    }
                    if here {
                        return true;
                    }
                }
                _ if here => return true,
                _ => {}
            }
            path.pop();
        }
        false
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[http]\nport = 1\n\n[storage.neo4j]\nuri = \"bolt://x\"\npassword = \"p\"\n";

    #[test]
    fn keys_are_found_on_their_line() {
        assert_eq!(line_of_key(DOC, "http.port"), Some(2));
        assert_eq!(line_of_key(DOC, "storage.neo4j.password"), Some(6));
        assert_eq!(line_of_key(DOC, "http"), Some(1));
        // A key the file lacks: the deepest table it has.
        assert_eq!(line_of_key(DOC, "http.host"), Some(1));
        assert_eq!(line_of_key(DOC, "limits.execute_per_minute"), None);
    }

    #[test]
    fn the_key_at_an_offset_is_named_with_its_tables() {
        let at = DOC.find("password").unwrap();
        assert_eq!(key_at(DOC, at).as_deref(), Some("storage.neo4j.password"));
        // A type error points at the value.
        let at = DOC.find("\"bolt").unwrap();
        assert_eq!(key_at(DOC, at).as_deref(), Some("storage.neo4j.uri"));
    }

    #[test]
    fn the_strongest_layer_is_named() {
        let env = vec![
            ("MCP_PORT".to_owned(), "1".to_owned()),
            ("MCP_STORAGE__NEO4J__URI".to_owned(), "bolt://y".to_owned()),
        ];
        let mut s = Sources::new(
            Some(("/etc/mcp.toml".into(), "--config")),
            &env,
            &Overrides {
                data_dir: Some("/d".into()),
                ..Overrides::default()
            },
        );
        s.text = Some(DOC.to_owned());
        assert_eq!(s.origin("http.port"), Origin::Env("MCP_PORT".into()));
        assert_eq!(
            s.origin("storage.neo4j.uri"),
            Origin::Env("MCP_STORAGE__NEO4J__URI".into())
        );
        assert_eq!(s.origin("storage.data_dir"), Origin::Flag("--data-dir"));
        assert_eq!(
            s.origin("storage.neo4j.password").to_string(),
            "set in /etc/mcp.toml line 6"
        );
        assert_eq!(s.origin("auth.issuer"), Origin::Default);
    }
}
