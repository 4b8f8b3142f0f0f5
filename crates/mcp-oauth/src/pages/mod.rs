//! The log-in and consent pages: plain HTML forms that work without JavaScript, every value
//! escaped, CSRF tokens bound to a cookie, and the security headers to send with them.

mod state;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use minijinja::{Environment, context};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub(crate) use state::{PageKeys, Pending, Unseal};

use crate::http::HttpResponse;

const STYLE: &str = include_str!("templates/style.css");

/// Headers sent with every page, besides `Content-Security-Policy` (which names the page's
/// style hash and where its form may lead) and `Set-Cookie`.
pub const PAGE_SECURITY_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "text/html; charset=utf-8"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    ),
];

/// A page to show: status, HTML, its Content-Security-Policy and an optional cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The HTML document.
    pub html: String,
    /// The `Content-Security-Policy` value: nothing may load, scripts cannot run, the only
    /// style is the page's own (by hash), no framing, forms only to this server (and, for a
    /// form whose answer redirects to the client, the client's origin).
    pub content_security_policy: String,
    /// A `Set-Cookie` value (the CSRF cookie), if one must be set.
    pub set_cookie: Option<String>,
}

impl Page {
    /// The response: status, the security headers, CSP, cookie and HTML.
    pub fn to_http(&self) -> HttpResponse {
        let mut response = HttpResponse::empty(self.status);
        for (name, value) in PAGE_SECURITY_HEADERS {
            response.push_header(*name, *value);
        }
        response.push_header(
            "Content-Security-Policy",
            self.content_security_policy.clone(),
        );
        if let Some(cookie) = &self.set_cookie {
            response.push_header("Set-Cookie", cookie.clone());
        }
        response.body = self.html.clone();
        response
    }
}

/// A redirect back to the client (or an error to it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redirect {
    /// 302 after `GET`, 303 after a form `POST`.
    pub status: u16,
    /// Where to.
    pub location: String,
}

impl Redirect {
    /// The response: status, `Location`, and no caching or referrer.
    pub fn to_http(&self) -> HttpResponse {
        let mut response = HttpResponse::empty(self.status);
        response.push_header("Location", self.location.clone());
        response.push_header("Cache-Control", "no-store");
        response.push_header("Referrer-Policy", "no-referrer");
        response
    }
}

/// What a browser-facing endpoint answers: a page or a redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interaction {
    /// Show this page.
    Page(Page),
    /// Send the browser there.
    Redirect(Redirect),
}

impl Interaction {
    /// The response to send.
    pub fn to_http(&self) -> HttpResponse {
        match self {
            Self::Page(page) => page.to_http(),
            Self::Redirect(redirect) => redirect.to_http(),
        }
    }

    /// The page, if this is one.
    pub fn page(&self) -> Option<&Page> {
        match self {
            Self::Page(page) => Some(page),
            Self::Redirect(_) => None,
        }
    }

    /// The redirect, if this is one.
    pub fn redirect(&self) -> Option<&Redirect> {
        match self {
            Self::Redirect(redirect) => Some(redirect),
            Self::Page(_) => None,
        }
    }
}

/// A scope line on the consent page.
#[derive(Serialize)]
pub(crate) struct ScopeLine<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: Option<&'a str>,
}

/// What the log-in page shows.
pub(crate) struct LoginView<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) unverified: bool,
    pub(crate) username: &'a str,
    pub(crate) error: Option<&'a str>,
    pub(crate) request: &'a str,
    pub(crate) csrf_token: &'a str,
    pub(crate) form_target: Option<String>,
}

/// What the consent page shows.
pub(crate) struct ConsentView<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) unverified: bool,
    pub(crate) username: &'a str,
    pub(crate) redirect_host: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) scopes: Vec<ScopeLine<'a>>,
    pub(crate) withheld: Vec<&'a str>,
    pub(crate) request: &'a str,
    pub(crate) csrf_token: &'a str,
    pub(crate) form_target: Option<String>,
}

/// Renders the pages.
pub(crate) struct Pages {
    env: Environment<'static>,
    server_name: String,
    login_action: String,
    consent_action: String,
    style_source: String,
}

impl Pages {
    pub(crate) fn new(server_name: &str, login_action: &str, consent_action: &str) -> Self {
        let mut env = Environment::new();
        // `.html` names turn on HTML auto-escaping of every `{{ value }}`.
        let templates = [
            ("layout.html", include_str!("templates/layout.html")),
            ("login.html", include_str!("templates/login.html")),
            ("consent.html", include_str!("templates/consent.html")),
            ("error.html", include_str!("templates/error.html")),
        ];
        for (name, source) in templates {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("built-in template {name} does not parse: {e}"));
        }
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        Self {
            env,
            server_name: server_name.to_owned(),
            login_action: login_action.to_owned(),
            consent_action: consent_action.to_owned(),
            style_source: format!("'sha256-{hash}'"),
        }
    }

    /// The CSP of a page whose forms post here and may redirect to `form_target`.
    fn csp(&self, form_target: Option<&str>) -> String {
        let form_action = match form_target {
            Some(target) => format!("'self' {target}"),
            None => "'self'".to_owned(),
        };
        format!(
            "default-src 'none'; style-src {}; img-src 'none'; script-src 'none'; \
             form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
            self.style_source
        )
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> String {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => html,
            Err(e) => {
                // The templates are built in and tested; this is a bug, not bad input.
                tracing::error!(error = %e, template = name, "page template failed");
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
            }
        }
    }

    pub(crate) fn login(
        &self,
        status: u16,
        view: &LoginView<'_>,
        set_cookie: Option<String>,
    ) -> Page {
        let html = self.render(
            "login.html",
            context! {
                title => "Sign in",
                style => STYLE,
                server_name => self.server_name.as_str(),
                action => self.login_action.as_str(),
                client_name => view.client_name,
                unverified => view.unverified,
                username => view.username,
                error => view.error,
                request => view.request,
                csrf_token => view.csrf_token,
            },
        );
        Page {
            status,
            html,
            content_security_policy: self.csp(view.form_target.as_deref()),
            set_cookie,
        }
    }

    pub(crate) fn consent(&self, view: &ConsentView<'_>, set_cookie: Option<String>) -> Page {
        let html = self.render(
            "consent.html",
            context! {
                title => "Allow access",
                style => STYLE,
                server_name => self.server_name.as_str(),
                action => self.consent_action.as_str(),
                client_name => view.client_name,
                client_id => view.client_id,
                unverified => view.unverified,
                username => view.username,
                redirect_host => view.redirect_host,
                resource => view.resource,
                scopes => minijinja::value::Serde(&view.scopes),
                withheld => minijinja::value::Serde(&view.withheld),
                request => view.request,
                csrf_token => view.csrf_token,
            },
        );
        Page {
            status: 200,
            html,
            content_security_policy: self.csp(view.form_target.as_deref()),
            set_cookie,
        }
    }

    pub(crate) fn error(&self, status: u16, title: &str, message: &str) -> Page {
        let html = self.render(
            "error.html",
            context! {
                title => title,
                style => STYLE,
                server_name => self.server_name.as_str(),
                message => message,
            },
        );
        Page {
            status,
            html,
            content_security_policy: self.csp(None),
            set_cookie: None,
        }
    }
}

/// Scope descriptions for the consent page, by scope.
pub(crate) type Descriptions = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> Pages {
        Pages::new(
            "MCP <server>",
            "https://as.example/oauth/login",
            "https://as.example/oauth/consent",
        )
    }

    #[test]
    fn every_value_is_escaped() {
        let p = pages();
        let view = LoginView {
            client_name: "<script>alert(1)</script>",
            unverified: true,
            username: "\"><img src=x onerror=alert(1)>",
            error: Some("<b>bad</b>"),
            request: "r\"x",
            csrf_token: "t'x",
            form_target: None,
        };
        let page = p.login(200, &view, None);
        assert!(!page.html.contains("<script>alert"), "{}", page.html);
        assert!(!page.html.contains("<img"));
        assert!(!page.html.contains("<b>bad"));
        assert!(page.html.contains("&lt;script&gt;"));
        assert!(page.html.contains("MCP &lt;server&gt;"));
    }

    #[test]
    fn csp_allows_only_the_inline_style_by_hash() {
        let p = pages();
        let page = p.error(400, "Bad", "msg");
        let csp = &page.content_security_policy;
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("script-src 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        // The hash in the CSP is the hash of the style element's exact content.
        let start = page.html.find("<style>").unwrap() + "<style>".len();
        let end = page.html.find("</style>").unwrap();
        let style = &page.html[start..end];
        let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        let http = page.to_http();
        assert_eq!(http.header("x-frame-options"), Some("DENY"));
        assert_eq!(
            http.header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }

    #[test]
    fn forms_work_without_javascript() {
        let p = pages();
        let view = ConsentView {
            client_name: "App",
            client_id: "c1",
            unverified: false,
            username: "alice",
            redirect_host: "127.0.0.1:5000",
            resource: "https://as.example/mcp",
            scopes: vec![ScopeLine {
                name: "tools:read",
                description: Some("List tools"),
            }],
            withheld: vec!["system:admin"],
            request: "sealed",
            csrf_token: "tok",
            form_target: Some("http://127.0.0.1:5000".into()),
        };
        let page = p.consent(&view, None);
        assert!(!page.html.contains("<script"));
        assert!(page.html.contains("method=\"post\""));
        assert!(page.html.contains("name=\"decision\" value=\"allow\""));
        assert!(page.html.contains("name=\"csrf_token\" value=\"tok\""));
        assert!(page.html.contains("system:admin"));
        assert!(
            page.content_security_policy
                .contains("form-action 'self' http://127.0.0.1:5000")
        );
    }
}
