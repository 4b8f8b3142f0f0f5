//! A framework-free HTTP response: status, headers and body, for the embedding server to
//! copy onto its own response type.

/// What the embedding server sends: copy the status, every header and the body as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values, in order (names may repeat, e.g. `Set-Cookie`).
    pub headers: Vec<(String, String)>,
    /// The body (JSON or HTML text; empty for redirects and 200 revocations).
    pub body: String,
}

impl HttpResponse {
    /// An empty response with a status.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// A JSON response that no cache may keep (`Cache-Control: no-store`, as RFC 6749 §5.1
    /// requires of token responses and as suits every OAuth response).
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Cache-Control".into(), "no-store".into()),
                ("Pragma".into(), "no-cache".into()),
            ],
            body,
        }
    }

    /// A JSON document that may be cached publicly for `max_age` seconds (metadata).
    pub fn public_json(body: String, max_age: u32) -> Self {
        Self {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Cache-Control".into(), format!("public, max-age={max_age}")),
                ("Access-Control-Allow-Origin".into(), "*".into()),
            ],
            body,
        }
    }

    /// Adds a header.
    pub fn push_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
