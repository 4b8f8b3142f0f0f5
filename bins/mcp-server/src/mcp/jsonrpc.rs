//! Checks a raw message before rmcp sees it, so that every bad message gets a JSON-RPC error
//! (rmcp answers malformed JSON over HTTP with a plain-text 415 and drops it over stdio).
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorCode};
use serde_json::{Value, json};

/// A message that cannot be handed to rmcp, with the error response to send instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The JSON-RPC error code.
    pub code: ErrorCode,
    /// The full error response (`{"jsonrpc": "2.0", "id": …, "error": {…}}`).
    pub response: Value,
}

/// A JSON-RPC error response.
pub fn error_response(id: Value, code: ErrorCode, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code.0, "message": message } })
}

fn reject(id: Value, code: ErrorCode, message: String) -> Rejected {
    Rejected {
        code,
        response: error_response(id, code, &message),
    }
}

/// The error for a message over `limit` bytes.
pub fn too_large(limit: usize) -> Rejected {
    reject(
        Value::Null,
        ErrorCode::INVALID_REQUEST,
        format!("Invalid Request: message larger than {limit} bytes"),
    )
}

/// Methods rmcp knows; a known method whose message does not parse has bad params.
fn is_known_method(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "server/discover"
            | "completion/complete"
            | "logging/setLevel"
            | "prompts/get"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "tools/call"
            | "tools/list"
            | "subscriptions/listen"
            | "tasks/get"
            | "tasks/update"
            | "tasks/cancel"
    ) || method.starts_with("notifications/")
}

/// Why a known request does not parse as its own type (rmcp's typed request, without the
/// custom-request fallback).
fn known_request_error(value: &Value) -> Option<String> {
    use rmcp::model::{CallToolRequest, GetPromptRequest, JsonRpcRequest, ReadResourceRequest};
    let method = value.get("method")?.as_str()?;
    let v = value.clone();
    let err = match method {
        "tools/call" => serde_json::from_value::<JsonRpcRequest<CallToolRequest>>(v).err(),
        "prompts/get" => serde_json::from_value::<JsonRpcRequest<GetPromptRequest>>(v).err(),
        "resources/read" => serde_json::from_value::<JsonRpcRequest<ReadResourceRequest>>(v).err(),
        _ => None,
    };
    err.map(|e| e.to_string())
}

/// Accepts `bytes` if rmcp can parse it as one client message; otherwise says which JSON-RPC
/// error to answer: -32700 (not JSON), -32600 (not a JSON-RPC message, or a batch), -32602
/// (a known method with params of the wrong shape).
pub fn check(bytes: &[u8]) -> Result<(), Rejected> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        reject(
            Value::Null,
            ErrorCode::PARSE_ERROR,
            format!("Parse error: {e}"),
        )
    })?;
    let Value::Object(map) = &value else {
        let what = if value.is_array() {
            "batches are not supported"
        } else {
            "a message must be a JSON object"
        };
        return Err(reject(
            Value::Null,
            ErrorCode::INVALID_REQUEST,
            format!("Invalid Request: {what}"),
        ));
    };
    let id = match map.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    };
    if map.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(reject(
            id,
            ErrorCode::INVALID_REQUEST,
            "Invalid Request: `jsonrpc` must be \"2.0\"".into(),
        ));
    }
    if let Some(method) = map.get("method")
        && !method.is_string()
    {
        return Err(reject(
            id,
            ErrorCode::INVALID_REQUEST,
            "Invalid Request: `method` must be a string".into(),
        ));
    }
    if let Some(raw_id) = map.get("id")
        && !(raw_id.is_string() || raw_id.is_number())
    {
        return Err(reject(
            Value::Null,
            ErrorCode::INVALID_REQUEST,
            "Invalid Request: `id` must be a string or a number".into(),
        ));
    }
    match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
        // rmcp keeps a known method whose params do not fit as a custom request, which would
        // be answered "method not found"; it is a params error.
        Ok(ClientJsonRpcMessage::Request(request))
            if matches!(request.request, ClientRequest::CustomRequest(_))
                && is_known_method(request.request.method()) =>
        {
            let method = request.request.method().to_owned();
            let detail = match known_request_error(&value) {
                Some(e) => format!(": {e}"),
                None => String::new(),
            };
            Err(reject(
                id,
                ErrorCode::INVALID_PARAMS,
                format!("Invalid params for {method}{detail}"),
            ))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            let method = map.get("method").and_then(Value::as_str);
            match method {
                Some(m) if is_known_method(m) => Err(reject(
                    id,
                    ErrorCode::INVALID_PARAMS,
                    format!("Invalid params for {m}: {e}"),
                )),
                _ => Err(reject(
                    id,
                    ErrorCode::INVALID_REQUEST,
                    format!("Invalid Request: {e}"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(bytes: &str) -> Option<i32> {
        check(bytes.as_bytes()).err().map(|r| r.code.0)
    }

    #[test]
    fn malformed_json_is_a_parse_error_with_a_null_id() {
        let r = check(b"{\"jsonrpc\": \"2.0\", ").unwrap_err();
        assert_eq!(r.code, ErrorCode::PARSE_ERROR);
        assert_eq!(r.response["id"], Value::Null);
        assert_eq!(r.response["error"]["code"], -32700);
    }

    #[test]
    fn valid_requests_and_notifications_pass() {
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            None
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#), None);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}"#),
            None
        );
    }

    #[test]
    fn an_unknown_method_is_left_to_the_server_for_method_not_found() {
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":3,"method":"no/such"}"#), None);
    }

    #[test]
    fn non_messages_are_invalid_requests_and_keep_their_id() {
        assert_eq!(code("[]"), Some(-32600));
        assert_eq!(code("42"), Some(-32600));
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), Some(-32600));
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            Some(-32600)
        );
        let r = check(br#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#).unwrap_err();
        assert_eq!(r.response["id"], 9);
    }

    #[test]
    fn a_known_method_with_bad_params_is_invalid_params() {
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5}}"#),
            Some(-32602)
        );
    }
}
