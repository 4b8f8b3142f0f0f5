//! Parameters of a query string or `application/x-www-form-urlencoded` body.
//!
//! RFC 6749 §3.1: parameters sent without a value are treated as omitted, and a parameter
//! must not appear more than once (except `resource`, which RFC 8707 lets repeat).

use std::collections::BTreeMap;

use crate::error::ErrorResponse;

/// Longest query string or form body read, in bytes.
pub const MAX_PARAMS_BYTES: usize = 64 * 1024;
/// Most distinct parameters read.
const MAX_PARAMS: usize = 64;
/// Parameters that may repeat.
const REPEATABLE: &[&str] = &["resource"];

/// Decoded parameters: each name maps to its values (one, or several for `resource`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(BTreeMap<String, Vec<String>>);

impl Params {
    /// Decodes `input`, refusing oversized input and repeated parameters.
    pub(crate) fn parse(input: &[u8]) -> Result<Self, ErrorResponse> {
        if input.len() > MAX_PARAMS_BYTES {
            return Err(ErrorResponse::invalid_request(format!(
                "parameters are longer than {MAX_PARAMS_BYTES} bytes"
            )));
        }
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            let values = map.entry(name.clone().into_owned()).or_default();
            if !values.is_empty() && !REPEATABLE.contains(&name.as_ref()) {
                return Err(ErrorResponse::invalid_request(format!(
                    "parameter `{}` appears more than once",
                    shorten(&name)
                )));
            }
            values.push(value.into_owned());
            if map.len() > MAX_PARAMS {
                return Err(ErrorResponse::invalid_request("too many parameters"));
            }
        }
        Ok(Self(map))
    }

    /// The value of a parameter that appears at most once.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    /// Every value of a repeatable parameter.
    pub(crate) fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// The value of a required parameter, or `invalid_request` naming it.
    pub(crate) fn require(&self, name: &str) -> Result<&str, ErrorResponse> {
        self.get(name).ok_or_else(|| {
            ErrorResponse::invalid_request(format!("the `{name}` parameter is required"))
        })
    }

    /// The value of a parameter, refused when longer than `max` bytes.
    pub(crate) fn bounded(&self, name: &str, max: usize) -> Result<Option<&str>, ErrorResponse> {
        match self.get(name) {
            Some(v) if v.len() > max => Err(ErrorResponse::invalid_request(format!(
                "the `{name}` parameter is longer than {max} bytes"
            ))),
            other => Ok(other),
        }
    }
}

/// A name shortened and stripped of control characters for an error message.
pub(crate) fn shorten(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_treats_empty_values_as_absent() {
        let p = Params::parse(b"a=1&b=&c=x%20y+z").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y z"));
    }

    #[test]
    fn repeated_parameters_are_refused_except_resource() {
        assert!(Params::parse(b"code=a&code=b").is_err());
        let p = Params::parse(b"resource=a&resource=b").unwrap();
        assert_eq!(p.all("resource"), ["a", "b"]);
    }

    #[test]
    fn oversized_input_is_refused() {
        assert!(Params::parse(&vec![b'a'; MAX_PARAMS_BYTES + 1]).is_err());
        let many: String = (0..100).map(|i| format!("p{i}=1&")).collect();
        assert!(Params::parse(many.as_bytes()).is_err());
    }
}
