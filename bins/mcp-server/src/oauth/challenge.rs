//! `WWW-Authenticate` on every 401 and step-up 403, with the resource's metadata URL.
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::web;

use crate::access::{self, Access};
use crate::auth::bearer_token;
use crate::state::AppState;

/// Middleware on the whole application: a 401 whose challenge is a bare `Bearer` (every token
/// refusal, from `/mcp` and the REST API alike) gets the resource server's challenge: `Bearer
/// [error="invalid_token", ][scope="<the route's permission>", ]resource_metadata="<URL>"`
/// (RFC 6750 §3, RFC 9728 §5.1); a 403 for a missing scope (`insufficient_scope`) gets the
/// metadata URL added. The URL comes from the configured public URL, never from the request's
/// `Host`. Without a resource server (no public URL) the responses pass unchanged.
pub async fn challenge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let resource_server = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.resource_server.clone());
    let Some(rs) = resource_server else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let mut res = next.call(req).await?.map_into_boxed_body();
    // Only refusals are rewritten; the request is looked at for them alone (after routing,
    // its route is known without matching the path again).
    if !matches!(
        res.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return Ok(res);
    }
    let current = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let req = res.request();
    let replacement = match res.status() {
        StatusCode::UNAUTHORIZED if current.trim() == "Bearer" => {
            let presented = bearer_token(req).is_some();
            let needed = req
                .match_pattern()
                .and_then(|pattern| access::rule(req.method(), &pattern))
                .and_then(|rule| match &rule.access {
                    Access::Permission(p) => Some(p.to_string()),
                    _ => None,
                });
            Some(rs.unauthorized_challenge(req.path(), presented, needed.as_deref()))
        }
        StatusCode::FORBIDDEN
            if current.starts_with("Bearer error=\"insufficient_scope\"")
                && !current.contains("resource_metadata=") =>
        {
            let scope = param(&current, "scope").unwrap_or_default();
            Some(rs.insufficient_scope_challenge(req.path(), &scope))
        }
        _ => None,
    };
    if let Some(value) = replacement.and_then(|v| HeaderValue::from_str(&v).ok()) {
        res.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    Ok(res)
}

/// The value of `name="…"` in a challenge written by this server (no escaped quotes inside).
fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let len = challenge[start..].find('"')?;
    Some(challenge[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_read_from_our_challenges() {
        let c = "Bearer error=\"insufficient_scope\", scope=\"tools:execute\"";
        assert_eq!(param(c, "scope").as_deref(), Some("tools:execute"));
        assert_eq!(param(c, "error").as_deref(), Some("insufficient_scope"));
        assert_eq!(param(c, "realm"), None);
    }
}
