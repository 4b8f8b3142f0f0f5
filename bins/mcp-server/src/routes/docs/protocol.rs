//! The OAuth protocol endpoints (`/oauth/*`, `/.well-known/*`) in the document.
//!
//! They are routes of this server, so the document lists them, but their contract is the RFCs
//! (6749, 7009, 7591, 8414, 9728), not the REST API's: their errors have the OAuth shape
//! `{"error": "invalid_grant", "error_description": …}`, the browser endpoints answer HTML pages
//! and redirects, and their request bodies are forms. OAuth clients find them through the
//! metadata documents; this module states each one's statuses, bodies and content types as the
//! handlers answer them, so that a client generator or a fuzzer reading the document sees the
//! truth. The REST rules of `exact` (the `ErrorBody` shape) are not applied to them, except
//! where the answer is the server's own (`404` when OAuth is off, `413`, `503` time-outs).
use serde_json::{Value, json};

use super::exact::{error_response, json_content, operation, schema_ref};

/// Whether `path` is one of the OAuth protocol endpoints described here.
pub(super) fn is_protocol(path: &str) -> bool {
    path.starts_with("/oauth/") || path.starts_with("/.well-known/")
}

fn oauth_error(description: &str) -> Value {
    json!({ "description": description, "content": json_content(schema_ref("OAuthError")) })
}

fn page(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

fn redirect(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "Location": { "description": "where the browser goes next", "schema": { "type": "string" } } },
    })
}

/// An optional field of a JSON body: `null` means absent.
fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

fn form(schema: Value, example: Value) -> Value {
    json!({
        "required": true,
        "content": { "application/x-www-form-urlencoded": { "schema": schema, "example": example } },
    })
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// The answers every protocol endpoint shares: OAuth off (404), a time-out (503).
fn common(responses: &mut serde_json::Map<String, Value>, with_body: bool) {
    responses.insert(
        "404".into(),
        json!({ "description": "OAuth is not configured, or the built-in authorization server is off (`not_found`)",
                "content": json_content(schema_ref("ErrorBody")) }),
    );
    if with_body {
        responses.insert("413".into(), error_response(413));
    }
    responses.insert(
        "503".into(),
        json!({ "description": "the request took longer than `http.request_timeout_secs` (`timeout`), or a store is down",
                "content": json_content(json!({ "anyOf": [schema_ref("ErrorBody"), schema_ref("OAuthError")] })) }),
    );
}

/// The per-address allowance of an endpoint anyone can call (`[oauth.rate_limits]`): 429 with
/// `Retry-After`, as an error page (browser endpoints) or the OAuth error
/// `temporarily_unavailable`. The log-in form's 429 (lock-out) already says it.
fn limited(responses: &mut serde_json::Map<String, Value>, html: bool) {
    let description =
        "too many requests from this address: see `Retry-After` (`[oauth.rate_limits]`)";
    let mut answer = if html {
        page(description)
    } else {
        oauth_error(&format!("`temporarily_unavailable`: {description}"))
    };
    answer["headers"] = json!({ "Retry-After": {
        "description": "seconds until a request can pass", "schema": { "type": "integer" } } });
    responses.entry("429").or_insert(answer);
}

/// The 429 of an endpoint's per-address allowance, if it has one.
#[derive(Clone, Copy)]
enum Allowance {
    /// Not limited per address (or limited elsewhere).
    None,
    /// A browser endpoint: an error page.
    Page,
    /// A client endpoint: the OAuth error `temporarily_unavailable`.
    OAuthError,
}

/// Sets the responses of `op`: its own `answers` (status, answer) in order, then those every
/// protocol endpoint shares ([`common`]) and its allowance's 429 ([`limited`]).
fn respond<const N: usize>(
    op: &mut Value,
    answers: [(&str, Value); N],
    with_body: bool,
    allowance: Allowance,
) {
    let mut responses = serde_json::Map::new();
    for (status, answer) in answers {
        responses.insert(status.into(), answer);
    }
    common(&mut responses, with_body);
    match allowance {
        Allowance::None => {}
        Allowance::Page => limited(&mut responses, true),
        Allowance::OAuthError => limited(&mut responses, false),
    }
    op["responses"] = Value::Object(responses);
}

/// A `POST` endpoint with a form body: its body (`schema`, `example`), answers and allowance.
fn form_endpoint<const N: usize>(
    doc: &mut Value,
    path: &str,
    body: (Value, Value),
    answers: [(&str, Value); N],
    allowance: Allowance,
) {
    if let Some(op) = operation(doc, "post", path) {
        op["requestBody"] = form(body.0, body.1);
        respond(op, answers, true, allowance);
    }
}

/// Replaces what the handlers' attributes say about the protocol endpoints by what they answer.
pub(super) fn describe(doc: &mut Value) {
    doc["components"]["schemas"]["OAuthError"] = json!({
        "type": "object",
        "description": "An OAuth error response (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7591 §3.2.2).",
        "properties": {
            "error": { "type": "string", "enum": [
                "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope", "server_error", "temporarily_unavailable",
                "invalid_target", "invalid_redirect_uri", "invalid_client_metadata",
                "unsupported_token_type", "access_denied", "invalid_token"] },
            "error_description": { "type": "string", "description": "for the client's developer" },
        },
        "required": ["error"],
    });
    let metadata =
        json!({ "type": "object", "description": "the metadata document (JSON object)" });
    for (path, rfc) in [
        (
            "/.well-known/oauth-protected-resource",
            "RFC 9728 metadata of the REST API",
        ),
        (
            "/.well-known/oauth-protected-resource/mcp",
            "RFC 9728 metadata of the MCP endpoint",
        ),
        (
            "/.well-known/oauth-authorization-server",
            "RFC 8414 metadata of the built-in authorization server",
        ),
        (
            "/.well-known/openid-configuration",
            "the RFC 8414 metadata at the OpenID discovery path",
        ),
    ] {
        if let Some(op) = operation(doc, "get", path) {
            let mut content = json_content(metadata.clone());
            content["application/json"]["example"] = if path.contains("protected-resource") {
                json!({ "resource": "https://mcp.example.com", "authorization_servers": ["https://mcp.example.com"],
                        "bearer_methods_supported": ["header"], "scopes_supported": ["tools:execute", "graph:query"] })
            } else {
                json!({ "issuer": "https://mcp.example.com", "authorization_endpoint": "https://mcp.example.com/oauth/authorize",
                        "token_endpoint": "https://mcp.example.com/oauth/token", "response_types_supported": ["code"],
                        "code_challenge_methods_supported": ["S256"] })
            };
            let metadata = json!({ "description": rfc, "content": content });
            respond(op, [("200", metadata)], false, Allowance::None);
        }
    }

    if let Some(op) = operation(doc, "get", "/oauth/authorize") {
        let param = |name: &str, required: bool, schema: Value| json!({ "name": name, "in": "query", "required": required, "schema": schema });
        op["parameters"] = json!([
            param(
                "response_type",
                true,
                json!({ "type": "string", "enum": ["code"] })
            ),
            param(
                "client_id",
                true,
                text("a registered client id, or the https URL of a Client ID Metadata Document")
            ),
            param(
                "redirect_uri",
                false,
                text(
                    "one of the client's registered redirect URIs (required if it registered several)"
                )
            ),
            param(
                "code_challenge",
                true,
                json!({ "type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$", "description": "PKCE (RFC 7636)" })
            ),
            param(
                "code_challenge_method",
                true,
                json!({ "type": "string", "enum": ["S256"] })
            ),
            param("state", false, text("returned to the client unchanged")),
            param("scope", false, text("space-separated permissions")),
            param(
                "resource",
                false,
                text("RFC 8707 resource indicator: this server's URL or its /mcp endpoint")
            ),
        ]);
        op["parameters"][1]["example"] = json!("b5f0c8e2-6d3a-4f9e-9c1b-2a7d4e8f0a13");
        respond(
            op,
            [
                ("200", page("the log-in page")),
                (
                    "302",
                    redirect("to the client's redirect URI with `error`, `state` and `iss`"),
                ),
                (
                    "400",
                    page(
                        "an error page: the client or its redirect URI is not known good, so the browser is not redirected",
                    ),
                ),
                (
                    "403",
                    page("an error page: the client may not use this server"),
                ),
            ],
            false,
            Allowance::Page,
        );
    }

    let login = json!({
        "type": "object",
        "properties": {
            "username": text("the user's name"),
            "password": { "type": "string", "format": "password" },
            "action": { "type": "string", "enum": ["login", "cancel"] },
            "csrf_token": text("from the log-in page"),
            "request": text("the signed request state from the log-in page"),
        },
        "required": ["csrf_token", "request"],
    });
    form_endpoint(
        doc,
        "/oauth/login",
        (
            login,
            json!({"username": "dana", "password": "a long password", "action": "login", "csrf_token": "…", "request": "…"}),
        ),
        [
            ("200", page("the consent page")),
            (
                "303",
                redirect("to the client's redirect URI (a remembered consent, or cancelled)"),
            ),
            (
                "400",
                page("the log-in page again (fields missing) or an error page (expired form)"),
            ),
            (
                "401",
                page("the log-in page again: wrong user name or password"),
            ),
            (
                "403",
                page("an error page: missing or wrong CSRF token, or a forged request state"),
            ),
            (
                "429",
                page(
                    "the log-in page again: locked out after failed attempts; or an error page: \
                  too many requests from this address (`Retry-After`, `[oauth.rate_limits]`)",
                ),
            ),
        ],
        Allowance::Page,
    );

    let consent = json!({
        "type": "object",
        "properties": {
            "decision": { "type": "string", "enum": ["allow", "deny"] },
            "remember": { "type": "string", "enum": ["yes"] },
            "csrf_token": text("from the consent page"),
            "request": text("the signed request state from the consent page"),
        },
        "required": ["csrf_token", "request"],
    });
    form_endpoint(
        doc,
        "/oauth/consent",
        (
            consent,
            json!({"decision": "allow", "csrf_token": "…", "request": "…"}),
        ),
        [
            (
                "303",
                redirect("to the client's redirect URI with a code or `access_denied`"),
            ),
            (
                "400",
                page("an error page: the form expired or is incomplete"),
            ),
            (
                "403",
                page("an error page: missing or wrong CSRF token, or a forged request state"),
            ),
        ],
        Allowance::Page,
    );

    let client_auth = [
        (
            "client_id",
            text("the client's id (public clients, `client_secret_post`)"),
        ),
        (
            "client_secret",
            json!({ "type": "string", "format": "password", "description": "`client_secret_post` only" }),
        ),
    ];
    let mut token = json!({
        "type": "object",
        "properties": {
            "grant_type": { "type": "string", "enum": ["authorization_code", "refresh_token"] },
            "code": text("authorization_code: the code from the redirect"),
            "redirect_uri": text("authorization_code: the redirect URI of the authorization request"),
            "code_verifier": text("authorization_code: the PKCE verifier"),
            "refresh_token": text("refresh_token: the refresh token"),
            "scope": text("refresh_token: a narrower scope"),
            "resource": text("RFC 8707 resource indicator"),
        },
        "required": ["grant_type"],
    });
    let mut revoke = json!({
        "type": "object",
        "properties": {
            "token": text("the access or refresh token"),
            "token_type_hint": { "type": "string", "enum": ["access_token", "refresh_token"] },
        },
        "required": ["token"],
    });
    for (name, schema) in &client_auth {
        token["properties"][name] = schema.clone();
        revoke["properties"][name] = schema.clone();
    }
    form_endpoint(
        doc,
        "/oauth/token",
        (
            token,
            json!({"grant_type": "authorization_code", "code": "…", "redirect_uri": "http://127.0.0.1:33418/callback",
                   "code_verifier": "…", "client_id": "b5f0c8e2-6d3a-4f9e-9c1b-2a7d4e8f0a13"}),
        ),
        [
            (
                "200",
                json!({ "description": "the tokens (RFC 6749 §5.1)", "content": json_content(json!({
                "type": "object",
                "properties": {
                    "access_token": { "type": "string" },
                    "token_type": { "type": "string", "enum": ["Bearer"] },
                    "expires_in": { "type": "integer", "minimum": 0 },
                    "refresh_token": { "type": "string" },
                    "scope": { "type": "string" },
                },
                "required": ["access_token", "token_type"],
            })) }),
            ),
            (
                "400",
                oauth_error("a missing or wrong parameter, an invalid grant (RFC 6749 §5.2)"),
            ),
            (
                "401",
                oauth_error("client authentication failed (`invalid_client`)"),
            ),
        ],
        Allowance::OAuthError,
    );
    form_endpoint(
        doc,
        "/oauth/revoke",
        (
            revoke,
            json!({"token": "…", "token_type_hint": "refresh_token", "client_id": "b5f0c8e2-6d3a-4f9e-9c1b-2a7d4e8f0a13"}),
        ),
        [
            (
                "200",
                json!({ "description": "revoked (also for an unknown token, RFC 7009 §2.2)" }),
            ),
            ("400", oauth_error("a missing or wrong parameter")),
            (
                "401",
                oauth_error("client authentication failed (`invalid_client`)"),
            ),
        ],
        Allowance::OAuthError,
    );
    if let Some(op) = operation(doc, "post", "/oauth/register") {
        let uris = json!({ "type": "array", "items": { "type": "string" } });
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": {
                "schema": {
                    "type": "object",
                    "description": "RFC 7591 §2 client metadata; other fields are ignored",
                    "properties": {
                        "redirect_uris": { "type": "array", "minItems": 1, "maxItems": 10, "items": { "type": "string" },
                            "description": "https URLs, or http URLs of a loopback address" },
                        "token_endpoint_auth_method": nullable(json!({ "type": "string", "enum": ["none", "client_secret_basic", "client_secret_post"] })),
                        "grant_types": nullable(json!({ "type": "array", "items": { "type": "string", "enum": ["authorization_code", "refresh_token"] },
                            "description": "must include authorization_code" })),
                        "response_types": nullable(json!({ "type": "array", "items": { "type": "string", "enum": ["code"] } })),
                        "client_name": nullable(json!({ "type": "string", "maxLength": 100 })),
                        "client_uri": nullable(json!({ "type": "string", "description": "an https URL" })),
                        "scope": nullable(text("space-separated permissions")),
                        "software_id": nullable(json!({ "type": "string", "maxLength": 2000 })),
                        "software_version": nullable(json!({ "type": "string", "maxLength": 2000 })),
                    },
                    "required": ["redirect_uris"],
                },
                "example": { "redirect_uris": ["http://127.0.0.1:33418/callback"], "client_name": "My agent",
                             "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"] },
            } },
        });
        respond(
            op,
            [
                (
                    "201",
                    json!({ "description": "the registered client (RFC 7591 §3.2.1)", "content": json_content(json!({
                "type": "object",
                "properties": {
                    "client_id": { "type": "string" },
                    "client_secret": { "type": "string" },
                    "client_id_issued_at": { "type": "integer" },
                    "redirect_uris": uris,
                },
                "required": ["client_id", "redirect_uris"],
            })) }),
                ),
                (
                    "400",
                    oauth_error(
                        "`invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2)",
                    ),
                ),
                (
                    "401",
                    oauth_error(
                        "an initial access token is configured and the request lacks it (`invalid_token`)",
                    ),
                ),
                (
                    "403",
                    oauth_error("dynamic client registration is disabled (`access_denied`)"),
                ),
            ],
            true,
            Allowance::OAuthError,
        );
    }
    for path in ["/oauth/token", "/oauth/revoke", "/oauth/register"] {
        if let Some(op) = operation(doc, "options", path) {
            respond(
                op,
                [(
                    "204",
                    json!({ "description": "CORS preflight: any origin may call this endpoint (it uses no cookies)" }),
                )],
                false,
                Allowance::None,
            );
        }
    }
}
