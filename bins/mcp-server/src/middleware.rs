//! The one app-wide middleware: request id, tracing span, timeout, metrics and an access log.
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use tracing::Instrument;

use crate::error::ApiError;
use crate::request_id;
use crate::state::AppState;

/// Wraps every request: picks its id (kept from `X-Request-Id` or new), runs it inside a
/// `request` span and the id's scope, bounds it by the configured timeout (503), turns inner
/// errors into the JSON error shape, sets `X-Request-Id` on the response, and records metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id::accept_or_make(
        req.headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    // Metric labels and span fields: the route pattern (a fixed set) or `unmatched`; the
    // client-chosen method and path are bounded by the one rule (`mcp_core::bounded`).
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = mcp_core::bounded::text(req.method().as_str()).into_owned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let timeout = state.as_ref().map_or(Duration::from_secs(60), |s| {
        Duration::from_secs(s.config.http.request_timeout_secs)
    });
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        path = %mcp_core::bounded::text(req.path()),
    );
    let scoped_id = id.clone();
    let outcome = request_id::scope(id.clone(), async move {
        match tokio::time::timeout(timeout, next.call(req)).await {
            Ok(Ok(res)) => Ok(res.map_into_boxed_body()),
            Ok(Err(err)) => Err(err),
            // The request was moved into the handler; answer through an error that carries
            // the id itself (rendered outside the id's scope).
            Err(_) => Err(ScopedError {
                error: ApiError::Timeout,
                request_id: scoped_id,
            }
            .into()),
        }
    })
    .instrument(span.clone())
    .await;
    let mut res = match outcome {
        Ok(res) => res,
        Err(err) => {
            let status = err.as_response_error().status_code().as_u16();
            record(
                state.as_ref(),
                &span,
                &route,
                &method,
                status,
                started.elapsed(),
            );
            return Err(err);
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    let status = res.status().as_u16();
    record(
        state.as_ref(),
        &span,
        &route,
        &method,
        status,
        started.elapsed(),
    );
    Ok(res)
}

fn record(
    state: Option<&web::Data<AppState>>,
    span: &tracing::Span,
    route: &str,
    method: &str,
    status: u16,
    elapsed: Duration,
) {
    if let Some(state) = state {
        state
            .metrics
            .observe_request(route, method, status, elapsed.as_secs_f64());
    }
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    span.in_scope(|| tracing::info!(status, latency_ms, "request finished"));
}

/// An [`ApiError`] rendered outside the request's scope, with its request id attached.
#[derive(Debug)]
struct ScopedError {
    error: ApiError,
    request_id: String,
}

impl std::fmt::Display for ScopedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for ScopedError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut res = self.error.response_with_id(self.request_id.clone());
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            res.headers_mut()
                .insert(HeaderName::from_static(request_id::HEADER), value);
        }
        res
    }
}
