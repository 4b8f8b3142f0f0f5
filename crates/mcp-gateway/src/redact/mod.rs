//! Redaction: finds secrets and personal data in text and JSON and replaces them with
//! `[REDACTED:<detector>]`, counting what each detector found.
//!
//! The detectors are regular expressions ([`regex`], linear time, no backtracking) with a
//! checksum where a shape alone says too little (card numbers pass the Luhn check). Counts are
//! the only thing reported about a finding: never the secret, its length or its position.

mod detectors;

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::detectors::{BUILTINS, Replace, SECRET_FIELDS, luhn_valid};
use crate::Error;

/// Name of the detector that redacts whole values of secret-named JSON fields (`password`,
/// `client_secret`, `access_token`, …).
pub const SECRET_FIELD: &str = "secret_field";

/// Largest compiled size of one custom pattern, in bytes (bounds memory and start-up time).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Which detectors run. Plain serde data; [`Redactor::from_config`] validates it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RedactionConfig {
    /// Built-in detectors to run; `None` runs all of them ([`Redactor::builtin_names`]).
    pub detectors: Option<Vec<String>>,
    /// Built-in detectors to leave out (applied after `detectors`).
    pub disabled: Vec<String>,
    /// Extra detectors: every match of `pattern` is replaced.
    pub custom: Vec<CustomDetector>,
}

/// A detector given by configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CustomDetector {
    /// Its name in counts and replacements: `a-z`, `0-9`, `_`, at most 64 bytes.
    pub name: String,
    /// A regular expression (Rust `regex` syntax). With a capture group, only group 1 is
    /// replaced.
    pub pattern: String,
}

impl CustomDetector {
    /// A custom detector named `name` that replaces matches of `pattern`.
    pub fn new(name: impl Into<String>, pattern: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            pattern: pattern.into(),
        }
    }
}

/// How many findings each detector replaced, by detector name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedactionCounts(BTreeMap<String, u64>);

impl RedactionCounts {
    /// Whether nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of findings of `detector`.
    pub fn get(&self, detector: &str) -> u64 {
        self.0.get(detector).copied().unwrap_or(0)
    }

    /// All findings together.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `(detector, count)` pairs, sorted by detector name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &RedactionCounts) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    fn add(&mut self, detector: &str, n: u64) {
        if n > 0 {
            *self.0.entry(detector.to_owned()).or_default() += n;
        }
    }
}

/// One compiled detector.
#[derive(Debug)]
struct Detector {
    name: String,
    regex: Regex,
    replace: Replace,
    replacement: String,
}

/// Applies the configured detectors to text and JSON.
///
/// ```
/// use mcp_gateway::{RedactionConfig, Redactor};
///
/// let redactor = Redactor::from_config(&RedactionConfig::default())?;
/// let (text, counts) = redactor.redact_str("key AKIAIOSFODNN7EXAMPLE, mail bob@example.com");
/// assert_eq!(text, "key [REDACTED:aws_access_key_id], mail [REDACTED:email]");
/// assert_eq!(counts.get("aws_access_key_id"), 1);
/// assert_eq!(counts.total(), 2);
/// # Ok::<(), mcp_gateway::Error>(())
/// ```
#[derive(Debug)]
pub struct Redactor {
    detectors: Vec<Detector>,
    /// All patterns at once: one pass tells which detectors can match at all.
    set: RegexSet,
    secret_fields: bool,
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "redaction detector name `{name}` must be 1 to 64 of a-z, 0-9 and _"
        )))
    }
}

impl Redactor {
    /// Names of the built-in detectors, in the order they apply, then [`SECRET_FIELD`].
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS
            .iter()
            .map(|b| b.name)
            .chain(std::iter::once(SECRET_FIELD))
            .collect()
    }

    /// Compiles the detectors `config` selects. Unknown detector names, bad custom names and
    /// patterns that do not compile (or compile too large) are refused with
    /// [`Error::Config`].
    pub fn from_config(config: &RedactionConfig) -> Result<Self, Error> {
        let known = Self::builtin_names();
        for name in config.detectors.iter().flatten().chain(&config.disabled) {
            if !known.contains(&name.as_str()) {
                return Err(Error::Config(format!(
                    "unknown redaction detector `{name}` (known: {})",
                    known.join(", ")
                )));
            }
        }
        let wanted = |name: &str| {
            config
                .detectors
                .as_ref()
                .is_none_or(|d| d.iter().any(|n| n == name))
                && !config.disabled.iter().any(|n| n == name)
        };
        let mut detectors = Vec::new();
        for b in BUILTINS.iter().filter(|b| wanted(b.name)) {
            let regex = Regex::new(b.pattern)
                .map_err(|e| Error::Config(format!("built-in detector {}: {e}", b.name)))?;
            detectors.push(Detector {
                name: b.name.to_owned(),
                regex,
                replace: b.replace,
                replacement: format!("[REDACTED:{}]", b.name),
            });
        }
        for c in &config.custom {
            check_name(&c.name)?;
            if known.contains(&c.name.as_str()) || detectors.iter().any(|d| d.name == c.name) {
                return Err(Error::Config(format!(
                    "redaction detector `{}` is defined twice",
                    c.name
                )));
            }
            let regex = RegexBuilder::new(&c.pattern)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| Error::Config(format!("redaction detector `{}`: {e}", c.name)))?;
            let replace = if regex.captures_len() > 1 {
                Replace::Group
            } else {
                Replace::Whole
            };
            detectors.push(Detector {
                replacement: format!("[REDACTED:{}]", c.name),
                name: c.name.clone(),
                regex,
                replace,
            });
        }
        let set = RegexSetBuilder::new(detectors.iter().map(|d| d.regex.as_str()))
            .size_limit(PATTERN_SIZE_LIMIT * (detectors.len() + 1))
            .build()
            .map_err(|e| Error::Config(format!("redaction detectors: {e}")))?;
        Ok(Self {
            detectors,
            set,
            secret_fields: wanted(SECRET_FIELD),
        })
    }

    /// A redactor that changes nothing.
    pub fn disabled() -> Self {
        Self {
            detectors: Vec::new(),
            set: RegexSet::empty(),
            secret_fields: false,
        }
    }

    /// Names of the detectors in use, in the order they apply.
    pub fn detector_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.detectors.iter().map(|d| d.name.as_str()).collect();
        if self.secret_fields {
            names.push(SECRET_FIELD);
        }
        names
    }

    /// `text` with every finding replaced, and the counts.
    pub fn redact_str<'a>(&self, text: &'a str) -> (Cow<'a, str>, RedactionCounts) {
        let mut counts = RedactionCounts::default();
        let out = self.redact_into(text, &mut counts);
        (out, counts)
    }

    fn redact_into<'a>(&self, text: &'a str, counts: &mut RedactionCounts) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if self.detectors.is_empty() {
            return out;
        }
        let candidates = self.set.matches(text);
        if !candidates.matched_any() {
            return out;
        }
        for i in candidates.iter() {
            let d = &self.detectors[i];
            let mut n = 0u64;
            let replaced = d.regex.replace_all(&out, |caps: &regex::Captures<'_>| {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                match d.replace {
                    Replace::Whole => {
                        n += 1;
                        d.replacement.clone()
                    }
                    Replace::Luhn => {
                        if luhn_valid(whole) {
                            n += 1;
                            d.replacement.clone()
                        } else {
                            whole.to_owned()
                        }
                    }
                    Replace::Group => match (caps.get(0), caps.get(1)) {
                        (Some(m0), Some(g)) => {
                            n += 1;
                            let start = g.start() - m0.start();
                            let end = g.end() - m0.start();
                            format!("{}{}{}", &whole[..start], d.replacement, &whole[end..])
                        }
                        _ => {
                            n += 1;
                            d.replacement.clone()
                        }
                    },
                }
            });
            if n > 0 {
                counts.add(&d.name, n);
                out = Cow::Owned(replaced.into_owned());
            }
        }
        out
    }

    /// Redacts every string in `value`, recursively, in place, and returns the counts. Values
    /// of secret-named fields are replaced whole; base64 payloads of images, audio and blobs
    /// are left alone. Object keys are not changed.
    pub fn redact_json(&self, value: &mut Value) -> RedactionCounts {
        let mut counts = RedactionCounts::default();
        self.walk(value, &mut counts);
        counts
    }

    fn walk(&self, value: &mut Value, counts: &mut RedactionCounts) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(new) = self.redact_into(s, counts) {
                    *s = new;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, counts);
                }
            }
            Value::Object(map) => {
                let binary = matches!(
                    map.get("type").and_then(Value::as_str),
                    Some("image" | "audio")
                );
                for (key, item) in map.iter_mut() {
                    if key == "blob" || (binary && key == "data") {
                        continue;
                    }
                    if self.secret_fields
                        && matches!(item, Value::String(s) if !s.is_empty())
                        && SECRET_FIELDS.iter().any(|f| key.eq_ignore_ascii_case(f))
                    {
                        let replacement = format!("[REDACTED:{SECRET_FIELD}]");
                        if item.as_str() != Some(replacement.as_str()) {
                            *item = Value::String(replacement);
                            counts.add(SECRET_FIELD, 1);
                        }
                        continue;
                    }
                    self.walk(item, counts);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn all() -> Redactor {
        Redactor::from_config(&RedactionConfig::default()).unwrap()
    }

    fn check(input: &str, detector: &str, secret: &str) {
        let (out, counts) = all().redact_str(input);
        assert!(!out.contains(secret), "{detector}: {out}");
        assert!(
            out.contains(&format!("[REDACTED:{detector}]")),
            "{detector}: {out}"
        );
        assert_eq!(counts.get(detector), 1, "{detector}: {counts:?}");
    }

    #[test]
    fn each_builtin_detector_finds_its_secret_and_counts_it_once() {
        check(
            "id AKIAIOSFODNN7EXAMPLE ok",
            "aws_access_key_id",
            "AKIAIOSFODNN7EXAMPLE",
        );
        check(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        check(
            "key=AIzaSyA-1234567890abcdefghijklmnopqrstu",
            "google_api_key",
            "AIzaSyA-1234567890abcdefghijklmnopqrstu",
        );
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        check(&format!("token {gh}"), "github_token", &gh);
        check(
            "glpat-abcdefghij0123456789",
            "gitlab_token",
            "glpat-abcdefghij0123456789",
        );
        check(
            "xoxb-1234567890-abcdefghij",
            "slack_token",
            "xoxb-1234567890-abcdefghij",
        );
        check(
            "sk_live_abcdefghijklmnop1234",
            "stripe_key",
            "sk_live_abcdefghijklmnop1234",
        );
        check(
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            "api_key",
            "abcdefghijklmnopqrstuvwxyz",
        );
        check(
            "Authorization: Bearer abcdefghijklmnop.qrstuvwx",
            "bearer_token",
            "abcdefghijklmnop.qrstuvwx",
        );
        check(
            "tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt",
            "dozjgNryP4J3jVmNHl0w5N",
        );
        check(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nafter",
            "private_key",
            "MIIEowIBAAKCAQEA",
        );
        check(
            "db postgres://app:s3cr3t-pw@db.internal:5432/app",
            "url_password",
            "s3cr3t-pw",
        );
        check("password = hunter2hunter2", "secret_assignment", "hunter2");
        check(
            "mail alice.smith+x@example.co.uk now",
            "email",
            "alice.smith",
        );
        check(
            "card 4111 1111 1111 1111.",
            "card_number",
            "4111 1111 1111 1111",
        );
    }

    #[test]
    fn url_password_keeps_the_user_and_host() {
        let (out, _) = all().redact_str("https://bob:pa55word@example.com/x");
        assert_eq!(out, "https://bob:[REDACTED:url_password]@example.com/x");
    }

    #[test]
    fn an_unterminated_private_key_is_redacted_to_the_end() {
        let (out, counts) = all().redact_str("x -----BEGIN PRIVATE KEY-----\nMIIabc\nMIIdef");
        assert_eq!(out, "x [REDACTED:private_key]");
        assert_eq!(counts.total(), 1);
    }

    #[test]
    fn numbers_that_fail_luhn_and_plain_text_are_untouched() {
        let text = "order 4111 1111 1111 1112, ids 1234567890123, the key is in the drawer";
        let (out, counts) = all().redact_str(text);
        assert_eq!(out, text);
        assert!(counts.is_empty());
        assert!(matches!(out, Cow::Borrowed(_)));
    }

    #[test]
    fn counts_add_up_over_several_findings() {
        let (out, counts) = all().redact_str("a@example.com b@example.org AKIAIOSFODNN7EXAMPLE");
        assert_eq!(counts.get("email"), 2);
        assert_eq!(counts.get("aws_access_key_id"), 1);
        assert_eq!(counts.total(), 3);
        assert!(!out.contains('@'));
    }

    #[test]
    fn json_is_redacted_recursively_and_binary_payloads_are_skipped() {
        let mut value = json!({
            "content": [
                {"type": "text", "text": "mail me: carol@example.com"},
                {"type": "image", "data": "AKIAIOSFODNN7EXAMPLE", "mimeType": "image/png"},
            ],
            "structuredContent": {"nested": [{"deep": "key AKIAIOSFODNN7EXAMPLE"}], "password": "pw", "n": 4},
            "resource": {"blob": "AKIAIOSFODNN7EXAMPLE"},
        });
        let counts = all().redact_json(&mut value);
        assert_eq!(value["content"][0]["text"], "mail me: [REDACTED:email]");
        assert_eq!(value["content"][1]["data"], "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            value["structuredContent"]["nested"][0]["deep"],
            "key [REDACTED:aws_access_key_id]"
        );
        assert_eq!(
            value["structuredContent"]["password"],
            "[REDACTED:secret_field]"
        );
        assert_eq!(value["structuredContent"]["n"], 4);
        assert_eq!(value["resource"]["blob"], "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(counts.get("email"), 1);
        assert_eq!(counts.get("aws_access_key_id"), 1);
        assert_eq!(counts.get(SECRET_FIELD), 1);
    }

    #[test]
    fn redacting_twice_finds_nothing_new() {
        let r = all();
        let mut value = json!({"password": "x", "t": "bob@example.com"});
        assert_eq!(r.redact_json(&mut value).total(), 2);
        assert_eq!(r.redact_json(&mut value).total(), 0);
    }

    #[test]
    fn detectors_can_be_chosen_disabled_and_extended() {
        let config = RedactionConfig {
            detectors: Some(vec!["email".into(), "card_number".into()]),
            disabled: vec!["card_number".into()],
            custom: vec![
                CustomDetector::new("ticket", r"TICKET-\d{4}"),
                CustomDetector::new("employee_id", r"emp=(\d{6})"),
            ],
        };
        let r = Redactor::from_config(&config).unwrap();
        assert_eq!(r.detector_names(), ["email", "ticket", "employee_id"]);
        let (out, counts) = r.redact_str(
            "x@example.com 4111111111111111 TICKET-1234 emp=123456 AKIAIOSFODNN7EXAMPLE",
        );
        assert_eq!(
            out,
            "[REDACTED:email] 4111111111111111 [REDACTED:ticket] emp=[REDACTED:employee_id] AKIAIOSFODNN7EXAMPLE"
        );
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn bad_configuration_is_refused_with_a_clear_message() {
        let unknown = RedactionConfig {
            disabled: vec!["emails".into()],
            ..RedactionConfig::default()
        };
        let err = Redactor::from_config(&unknown).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown redaction detector `emails`")
        );
        let bad_regex = RedactionConfig {
            custom: vec![CustomDetector::new("x", "(")],
            ..RedactionConfig::default()
        };
        assert!(Redactor::from_config(&bad_regex).is_err());
        let bad_name = RedactionConfig {
            custom: vec![CustomDetector::new("Bad Name", "x")],
            ..RedactionConfig::default()
        };
        assert!(Redactor::from_config(&bad_name).is_err());
        let twice = RedactionConfig {
            custom: vec![CustomDetector::new("email", "x")],
            ..RedactionConfig::default()
        };
        assert!(Redactor::from_config(&twice).is_err());
        let huge = RedactionConfig {
            custom: vec![CustomDetector::new("huge", r"\w{5000}\w{5000}\w{5000}")],
            ..RedactionConfig::default()
        };
        assert!(Redactor::from_config(&huge).is_err());
        assert!(
            serde_json::from_str::<RedactionConfig>(r#"{"detector": []}"#).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn the_disabled_redactor_changes_nothing() {
        let mut value = json!({"password": "x", "t": "AKIAIOSFODNN7EXAMPLE"});
        let before = value.clone();
        assert!(Redactor::disabled().redact_json(&mut value).is_empty());
        assert_eq!(value, before);
    }
}
