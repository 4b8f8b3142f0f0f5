//! JSON request bodies: always a JSON object.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array, matched to the fields
//! by position (`["python", "print(1)"]` would be read as `{"language", "code"}`). Every request
//! body of the API is an object with named fields, so anything else (array, string, number,
//! boolean, null) is refused with 422 `invalid_input` before the body's type is read.
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, serde_error};

/// A request body of type `T`, read from a JSON object.
///
/// The body goes through the app's `web::JsonConfig` (size limit, content type, and the error
/// mapping of [`crate::error::json_error`]); then a body that is not a JSON object gets 422,
/// and one that does not fit `T` gets 422 as well.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            Ok(Self(from_object(value)?))
        })
    }
}

/// Reads `T` from `value`, which must be a JSON object (422 otherwise).
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    let kind = match &value {
        Value::Object(_) => return serde_json::from_value(value).map_err(|e| serde_error(&e)),
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    };
    Err(ApiError::Unprocessable(format!(
        "invalid request body: expected a JSON object, got {kind}"
    )))
}

/// Reads `T` from the JSON text `bytes`, which must be an object: malformed JSON is 400, any
/// other value or a mismatch with `T` is 422 (for bodies read without [`JsonBody`]).
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = serde_json::from_slice::<Value>(bytes).map_err(|e| serde_error(&e))?;
    from_object(value)
}

#[cfg(test)]
mod tests {
    use actix_web::test as actix_test;
    use serde::Deserialize;

    use super::*;
    use crate::config::{Backend, Config, Secret};
    use crate::state::{AppState, Backends};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        language: String,
        code: String,
    }

    #[test]
    fn a_struct_is_read_only_from_an_object() {
        let pair: Pair = parse_object(br#"{"language": "python", "code": "print(1)"}"#).unwrap();
        assert_eq!(
            (pair.language.as_str(), pair.code.as_str()),
            ("python", "print(1)")
        );
        for (body, kind) in [
            (r#"["python", "print(1)"]"#, "an array"),
            (r#""python""#, "a string"),
            ("42", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            let err = parse_object::<Pair>(body.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, ApiError::Unprocessable(m) if m.ends_with(&format!("got {kind}"))),
                "{body}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_json_stays_a_bad_request_and_a_wrong_field_is_unprocessable() {
        assert!(matches!(
            parse_object::<Pair>(b"[1,"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_object::<Pair>(b""),
            Err(ApiError::BadRequest(_))
        ));
        let err = parse_object::<Pair>(br#"{"language": "python", "code": 42}"#).unwrap_err();
        assert!(matches!(err, ApiError::Unprocessable(_)), "{err:?}");
    }

    /// Routes with a JSON body, one or more of each group, and a body each that the route takes
    /// (`{…}`) and the same values as an array, which serde would take field by field.
    const ROUTES: &[(&str, &str, &str, &str)] = &[
        (
            "POST",
            "/api/v1/execute",
            r#"{"language": "python", "code": "print(1)"}"#,
            r#"["python", "print(1)"]"#,
        ),
        (
            "POST",
            "/api/v1/graph/nodes",
            r#"{"label": "Person", "key": "ada"}"#,
            r#"["Person", "ada"]"#,
        ),
        (
            "POST",
            "/api/v1/users",
            r#"{"username": "dana", "password": "a long password"}"#,
            r#"["dana", "a long password", []]"#,
        ),
        (
            "POST",
            "/api/v1/users/admin/roles",
            r#"{"role": "developer"}"#,
            r#"["developer"]"#,
        ),
        (
            "POST",
            "/auth/token",
            r#"{"username": "admin", "password": "wrong password"}"#,
            r#"["admin", "wrong password"]"#,
        ),
        ("POST", "/auth/revoke", r#"{"token": null}"#, "[null]"),
    ];

    #[actix_web::test]
    async fn every_json_route_refuses_a_body_that_is_not_an_object_with_422() {
        let mut config = Config::default();
        config.storage.backend = Backend::Memory;
        config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
        let state = AppState::assemble(config, Backends::memory()).expect("state");
        let admin = state
            .users
            .create("admin", "not-a-hash")
            .await
            .expect("user");
        let az = state.authorizer().expect("authorizer");
        az.assign_role(&admin.id, mcp_rbac::role::ADMIN)
            .await
            .expect("role");
        let roles = az.roles_of(&admin.id).await.expect("roles");
        let token = state.issuer.issue(&admin.id, roles).expect("token").token;
        let app = actix_test::init_service(crate::app(web::Data::new(state))).await;
        for &(method, path, object, array) in ROUTES {
            let send = |body: &str| {
                actix_test::TestRequest::default()
                    .method(method.parse().expect("method"))
                    .uri(path)
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("Content-Type", "application/json"))
                    .set_payload(body.to_owned())
                    .to_request()
            };
            for body in [array, r#""text""#, "42", "true", "null", " [] "] {
                let res = actix_test::call_service(&app, send(body)).await;
                let status = res.status().as_u16();
                let reply: Value = actix_test::read_body_json(res).await;
                assert_eq!(status, 422, "{method} {path} {body}: {reply}");
                assert_eq!(reply["error"]["code"], "invalid_input", "{path} {body}");
                let message = reply["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("expected a JSON object"),
                    "{path} {body}: {message}"
                );
                assert!(
                    reply["error"]["request_id"]
                        .as_str()
                        .is_some_and(|id| !id.is_empty()),
                    "{path} {body}: {reply}"
                );
            }
            // The object gets past the body check (whatever the route then answers).
            let res = actix_test::call_service(&app, send(object)).await;
            let status = res.status().as_u16();
            let reply: Value = actix_test::read_body_json(res).await;
            assert!(
                !reply["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("expected a JSON object")
                    && status != 500,
                "{path} {object}: {status} {reply}"
            );
        }
    }
}
