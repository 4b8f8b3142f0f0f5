//! The interactive API reference at `/api-docs/`: Swagger UI (vendored from npm, Apache-2.0,
//! `bins/mcp-server/api-docs/vendor/swagger-ui/`) on this server's OpenAPI document, embedded in
//! the binary so it works without internet.
//!
//! Every answer carries a Content-Security-Policy that fits Swagger UI and nothing more:
//! scripts and styles from this origin only (no inline script), images from this origin and
//! `data:` (the icons of its style sheet), connections to this origin only ("Try it out"), no
//! framing, no forms posting elsewhere.
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorBody};

/// The policy of every API reference answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($name:literal, $file:literal, $type:expr) => {
        Asset {
            name: $name,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/api-docs/", $file)),
            content_type: $type,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file of the page; the vendored library keeps its licence texts beside it.
const ASSETS: &[Asset] = &[
    asset!("index.html", "index.html", "text/html; charset=utf-8"),
    asset!("reference.js", "reference.js", JS),
    asset!("reference.css", "reference.css", CSS),
    asset!(
        "swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        JS
    ),
    asset!("swagger-ui.css", "vendor/swagger-ui/swagger-ui.css", CSS),
    asset!("LICENSE-swagger-ui.txt", "vendor/swagger-ui/LICENSE", TEXT),
    asset!("NOTICE-swagger-ui.txt", "vendor/swagger-ui/NOTICE", TEXT),
    asset!(
        "LICENSES-swagger-ui-bundle.txt",
        "vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
        TEXT
    ),
];

fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..32]))
            .collect()
    })[index]
}

fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return Err(ApiError::NotFound(format!(
            "no file `{}` in the API reference",
            mcp_core::bounded::text(name)
        )));
    };
    let tag = etag(index);
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == tag);
    let mut builder = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag));
    Ok(if fresh {
        builder.finish()
    } else {
        builder.content_type(asset.content_type).body(asset.body)
    })
}

/// The API reference without its trailing slash: a redirect.
#[utoipa::path(get, path = "/api-docs", tag = "system",
    responses((status = 308, description = "to /api-docs/")))]
pub async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/api-docs/"))
        .finish()
}

/// The interactive API reference (Swagger UI on `/api-docs/openapi.json`).
#[utoipa::path(get, path = "/api-docs/", tag = "system", responses(
    (status = 200, description = "the page", content_type = "text/html"),
    (status = 304, description = "not modified (If-None-Match)")))]
pub async fn index(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html")
}

/// A file of the API reference page (its script, styles, Swagger UI and its licences).
#[utoipa::path(get, path = "/api-docs/{file}", tag = "system",
    params(("file" = String, Path, description = "file name, e.g. `swagger-ui.css`")),
    responses(
    (status = 200, description = "the file"),
    (status = 304, description = "not modified (If-None-Match)"),
    (status = 404, body = ErrorBody)))]
pub async fn file(
    req: HttpRequest,
    name: actix_web::web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        for src in page
            .split("src=\"")
            .skip(1)
            .chain(page.split("href=\"").skip(1))
        {
            let target = &src[..src.find('"').unwrap()];
            if target.starts_with('/') {
                continue; // links to other pages of this server
            }
            assert!(
                ASSETS.iter().any(|a| a.name == target),
                "{target} is not embedded"
            );
        }
        assert!(!page.contains("<script>"), "no inline script");
    }
}
