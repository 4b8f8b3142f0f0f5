//! Query strings: read into a typed struct, and refused with 400 naming the parameter and the
//! form it expects.
//!
//! actix's `web::Query` reports "invalid digit found in string" without saying which parameter;
//! [`Query`] reads through `serde_path_to_error`, so the message starts with the parameter, and
//! the fields' own deserializers ([`rfc3339`], [`bounded`]) say what form they expect.
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The query string of a request, read as `T` (400 `bad_request` otherwise, naming the
/// parameter).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    /// The parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse(req.query_string()).map(Query))
    }
}

/// Reads `T` from a query string; a parameter given twice is refused.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(ApiError::BadRequest(format!(
                "query parameter `{name}` is given more than once"
            )));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path.is_empty() || path == "." {
            ApiError::BadRequest(format!("invalid query parameters: {inner}"))
        } else {
            ApiError::BadRequest(format!("query parameter `{path}`: {inner}"))
        }
    })
}

/// An optional RFC 3339 time (`2026-01-31T12:00:00Z`), with an error that shows the form.
pub fn rfc3339<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(de)? else {
        return Ok(None);
    };
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            D::Error::custom(format!(
                "`{}` is not an RFC 3339 time ({e}); expected a form such as \
                 2026-01-31T12:00:00Z or 2026-01-31T13:00:00+01:00",
                shorten(&text)
            ))
        })
}

/// An optional boolean written `true` or `false` (or a JSON boolean).
pub fn boolean<'de, D: Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }
    match Option::<Raw>::deserialize(de)? {
        None => Ok(None),
        Some(Raw::Bool(b)) => Ok(Some(b)),
        Some(Raw::Text(t)) if t == "true" => Ok(Some(true)),
        Some(Raw::Text(t)) if t == "false" => Ok(Some(false)),
        Some(Raw::Text(other)) => Err(D::Error::custom(format!(
            "`{}` is not a boolean; expected true or false",
            shorten(&other)
        ))),
    }
}

/// An optional integer from 0 to [`AUDIT_LIMIT_MAX`].
pub fn audit_limit<'de, D: Deserializer<'de>>(de: D) -> Result<Option<usize>, D::Error> {
    bounded(de, 0, AUDIT_LIMIT_MAX)
}

/// An optional audit `seq` cursor: an integer from 0 to 2^63 - 1.
pub fn seq<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    const MAX: usize = i64::MAX as usize;
    Ok(bounded(de, 0, MAX)?.map(|n| n as u64))
}

/// The largest `limit` of an audit query.
pub const AUDIT_LIMIT_MAX: usize = mcp_audit::AuditFilter::MAX_LIMIT;

/// An optional integer within `min..=max`, with an error that names the range.
pub fn bounded<'de, D: Deserializer<'de>>(
    de: D,
    min: usize,
    max: usize,
) -> Result<Option<usize>, D::Error> {
    let Some(text) = Option::<Loose>::deserialize(de)? else {
        return Ok(None);
    };
    let text = text.0;
    match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(D::Error::custom(format!(
            "`{}` is not an integer from {min} to {max}",
            shorten(&text)
        ))),
    }
}

/// A value read as text whether the input holds a string or a number (a query string holds
/// strings; the MCP tool's arguments hold numbers).
#[derive(Debug, Clone, Serialize)]
struct Loose(String);

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Unsigned(u64),
            Signed(i64),
            Float(f64),
        }
        Ok(Loose(match Raw::deserialize(de)? {
            Raw::Text(t) => t,
            Raw::Unsigned(n) => n.to_string(),
            Raw::Signed(n) => n.to_string(),
            Raw::Float(n) => n.to_string(),
        }))
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        #[serde(default, deserialize_with = "rfc3339")]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default, deserialize_with = "audit_limit")]
        limit: Option<usize>,
        #[serde(default, deserialize_with = "boolean")]
        success: Option<bool>,
    }

    fn err(query: &str) -> String {
        parse::<Q>(query).unwrap_err().to_string()
    }

    #[test]
    fn each_error_names_the_parameter_and_the_form() {
        let e = err("since=yesterday");
        assert!(e.contains("`since`") && e.contains("RFC 3339"), "{e}");
        let e = err("limit=1001");
        assert!(e.contains("`limit`") && e.contains("from 0 to 1000"), "{e}");
        let e = err("limit=-1");
        assert!(e.contains("`limit`"), "{e}");
        let e = err("success=yes");
        assert!(
            e.contains("`success`") && e.contains("true or false"),
            "{e}"
        );
        let e = err("nope=1");
        assert!(e.contains("nope"), "{e}");
        let e = err("limit=1&limit=2");
        assert!(e.contains("more than once"), "{e}");
    }

    #[test]
    fn good_values_are_read() {
        let q: Q = parse("since=2026-01-31T13:00:00%2B01:00&limit=0&success=false").unwrap();
        assert_eq!(q.since.unwrap().to_rfc3339(), "2026-01-31T12:00:00+00:00");
        assert_eq!((q.limit, q.success), (Some(0), Some(false)));
        let q: Q = parse("").unwrap();
        assert!(q.since.is_none() && q.limit.is_none());
    }
}
