//! The built-in detectors: what each one finds, as a regular expression plus a check.

/// How a detector's match is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replace {
    /// The whole match.
    Whole,
    /// Only capture group 1 (the secret inside its context, e.g. the password of a URL).
    Group,
    /// The whole match, if its digits pass the Luhn checksum (card numbers).
    Luhn,
}

/// A built-in detector: its name, pattern and replacement rule.
pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    pub(crate) pattern: &'static str,
    pub(crate) replace: Replace,
}

/// Every built-in detector, in the order they are applied. Larger and more specific shapes come
/// first, so a private key is not also counted as tokens and a URL password not as an email.
pub(crate) const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "private_key",
        // A PEM private key block; an unterminated block is redacted to the end of the text.
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
        replace: Replace::Whole,
    },
    Builtin {
        name: "jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
        replace: Replace::Whole,
    },
    Builtin {
        name: "aws_access_key_id",
        pattern: r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|ANPA|AIPA)[0-9A-Z]{16}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "aws_secret_access_key",
        pattern: r#"(?i)aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#,
        replace: Replace::Group,
    },
    Builtin {
        name: "google_api_key",
        pattern: r"\bAIza[0-9A-Za-z_-]{35}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "azure_storage_key",
        pattern: r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
        replace: Replace::Group,
    },
    Builtin {
        name: "github_token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "gitlab_token",
        pattern: r"\bglpat-[A-Za-z0-9_-]{20,}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "slack_token",
        pattern: r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "stripe_key",
        pattern: r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "api_key",
        // OpenAI-, Anthropic- and similar `sk-…` keys.
        pattern: r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "bearer_token",
        pattern: r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)",
        replace: Replace::Group,
    },
    Builtin {
        name: "url_password",
        pattern: r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*:([^\s/?#@]+)@",
        replace: Replace::Group,
    },
    Builtin {
        name: "secret_assignment",
        // `password = hunter2`, `"api_key": "…"`, `CLIENT_SECRET=…` in text (config files, logs).
        pattern: r#"(?i)\b(?:password|passwd|pwd|secret|client_secret|api_?key|access_?token|auth_?token|secret_?key)["']?\s*[:=]\s*["']?([^\s"',;]{6,})"#,
        replace: Replace::Group,
    },
    Builtin {
        name: "email",
        pattern: r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        replace: Replace::Whole,
    },
    Builtin {
        name: "card_number",
        pattern: r"\b\d(?:[ -]?\d){12,18}\b",
        replace: Replace::Luhn,
    },
];

/// JSON object keys whose string values are redacted whole (detector `secret_field`).
pub(crate) const SECRET_FIELDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "id_token",
    "private_key",
    "authorization",
    "secret_key",
];

/// Whether `text` holds 13 to 19 digits (spaces and dashes aside) that pass the Luhn checksum.
pub(crate) fn luhn_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_card_numbers_and_refuses_near_misses() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("5500-0000-0000-0004"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(!luhn_valid("1234"));
        assert!(!luhn_valid("41111111111111111111111"));
    }

    #[test]
    fn every_builtin_has_a_unique_snake_case_name() {
        let mut names: Vec<_> = BUILTINS.iter().map(|b| b.name).collect();
        names.push("secret_field");
        for n in &names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
