//! The web console: static files embedded in the binary, served at `/console/` (and `/` leads
//! there).
//!
//! The console is plain ES modules and vendored libraries (`bins/mcp-server/console/`), so
//! `cargo build` needs no JavaScript tool. Every answer here carries a strict
//! Content-Security-Policy (scripts, styles and connections from this origin only, no inline
//! code, no framing) and the other browser hardening headers; files are revalidated with an
//! `ETag` (`Cache-Control: no-cache`), so a new binary's console is picked up at once.
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorBody};

/// The policy of every console answer: nothing inline, nothing from another origin, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file: the name it is served under, its bytes and its media type.
struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($name:literal, $file:literal, $type:expr) => {
        Asset {
            name: $name,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $file)),
            content_type: $type,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file of the console. The vendored libraries keep their licence texts beside them.
const ASSETS: &[Asset] = &[
    asset!("index.html", "index.html", "text/html; charset=utf-8"),
    asset!("console.css", "console.css", CSS),
    asset!("favicon.svg", "favicon.svg", "image/svg+xml"),
    asset!("app.js", "app.js", JS),
    asset!("api.js", "api.js", JS),
    asset!("session.js", "session.js", JS),
    asset!("features.js", "features.js", JS),
    asset!("dom.js", "dom.js", JS),
    asset!("editor.js", "editor.js", JS),
    asset!("graph-drawing.js", "graph-drawing.js", JS),
    asset!("page-tools.js", "page-tools.js", JS),
    asset!("page-graph.js", "page-graph.js", JS),
    asset!("page-audit.js", "page-audit.js", JS),
    asset!("page-users.js", "page-users.js", JS),
    asset!("page-status.js", "page-status.js", JS),
    asset!("page-gateway.js", "page-gateway.js", JS),
    asset!("page-connections.js", "page-connections.js", JS),
    asset!("connections.js", "connections.js", JS),
    asset!("codemirror.js", "vendor/codemirror/codemirror.js", JS),
    asset!("codemirror.css", "vendor/codemirror/codemirror.css", CSS),
    asset!("cm-python.js", "vendor/codemirror/mode/python.js", JS),
    asset!(
        "cm-javascript.js",
        "vendor/codemirror/mode/javascript.js",
        JS
    ),
    asset!("cm-shell.js", "vendor/codemirror/mode/shell.js", JS),
    asset!("LICENSE-codemirror.txt", "vendor/codemirror/LICENSE", TEXT),
];

fn find(name: &str) -> Option<(usize, &'static Asset)> {
    ASSETS.iter().enumerate().find(|(_, a)| a.name == name)
}

/// The strong `ETag` of each asset (by position), hashed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..32]))
            .collect()
    })
}

/// Adds the browser hardening headers every console answer carries.
fn hardened(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
        .insert_header((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ));
    builder
}

fn serve(req: &HttpRequest, index: usize, asset: &'static Asset) -> HttpResponse {
    let etag = &etags()[index];
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut builder = hardened(if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    });
    builder
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ));
    if fresh {
        builder.finish()
    } else {
        builder.content_type(asset.content_type).body(asset.body)
    }
}

/// The front page: leads a browser to the console, and links the API reference and the OpenAPI
/// document (`Link`, RFC 8631 `service-doc` and `service-desc`).
#[utoipa::path(get, path = "/", tag = "console", responses(
    (status = 303, description = "redirect to the web console at /console/")))]
pub async fn root() -> HttpResponse {
    hardened(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, "/console/"))
        .insert_header((
            header::LINK,
            "</api-docs/>; rel=\"service-doc\", </api-docs/openapi.json>; rel=\"service-desc\"",
        ))
        .content_type(TEXT)
        .body(
            "The web console is at /console/\nThe API reference is at /api-docs/ \
             (OpenAPI document: /api-docs/openapi.json)\n",
        )
}

/// `/console` without its slash: the console's relative links need the slash.
#[utoipa::path(get, path = "/console", tag = "console", responses(
    (status = 308, description = "redirect to /console/")))]
pub async fn console_redirect() -> HttpResponse {
    hardened(HttpResponse::PermanentRedirect())
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

/// The web console's page (sign-in, then tools, graph, audit, users and status).
#[utoipa::path(get, path = "/console/", tag = "console", responses(
    (status = 200, description = "the console's HTML page", content_type = "text/html"),
    (status = 304, description = "not modified since the ETag given in If-None-Match")))]
pub async fn index(req: HttpRequest) -> HttpResponse {
    match find("index.html") {
        Some((i, asset)) => serve(&req, i, asset),
        None => HttpResponse::InternalServerError().finish(),
    }
}

/// One of the console's files (scripts, styles, vendored libraries and their licences).
#[utoipa::path(get, path = "/console/{file}", tag = "console",
    params(("file" = String, Path, description = "file name, such as `app.js`")),
    responses(
    (status = 200, description = "the file, with its media type"),
    (status = 304, description = "not modified since the ETag given in If-None-Match"),
    (status = 404, body = ErrorBody, description = "no such file")))]
pub async fn file(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match find(&name) {
        Some((i, asset)) => Ok(serve(&req, i, asset)),
        None => Err(ApiError::NotFound(format!(
            "no console file `{}`",
            name.chars().take(100).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_name_is_unique_and_a_single_path_segment() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.name.contains('/'), "{}", a.name);
            assert!(
                ASSETS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert!(!a.body.is_empty(), "{} is empty", a.name);
        }
    }

    #[test]
    fn the_page_loads_no_inline_script_or_style() {
        let (_, page) = find("index.html").expect("index.html");
        let page = std::str::from_utf8(page.body).expect("utf-8");
        assert!(!page.contains("<style"), "inline <style>");
        assert!(!page.contains(" style="), "inline style attribute");
        for script in page.split("<script").skip(1) {
            let tag = &script[..script.find('>').expect("tag ends")];
            assert!(tag.contains("src="), "inline <script>: {tag}");
        }
        let handler = page
            .split(|c: char| c.is_whitespace() || c == '<')
            .find(|word| word.to_ascii_lowercase().starts_with("on") && word.contains('='));
        assert_eq!(handler, None, "event-handler attribute");
    }

    #[test]
    fn every_script_the_page_and_modules_import_is_embedded() {
        for a in ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".html") || a.name.ends_with(".js"))
        {
            let text = std::str::from_utf8(a.body).expect("utf-8");
            for quote in ["src=\"", "href=\"", "from './"] {
                for rest in text.split(quote).skip(1) {
                    let end = rest.find(['"', '\'']).expect("quote ends");
                    let target = rest[..end].trim_start_matches("./");
                    if a.name.starts_with("codemirror") || a.name.starts_with("cm-") {
                        continue;
                    }
                    if target.starts_with('#') || target.starts_with('/') || target.contains(':') {
                        continue;
                    }
                    assert!(find(target).is_some(), "{} refers to {target}", a.name);
                }
            }
        }
    }
}
