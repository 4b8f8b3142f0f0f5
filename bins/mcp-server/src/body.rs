//! JSON request bodies: always a JSON object, and a struct inside one only from an object.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array, matched to the fields
//! by position (`["python", "print(1)"]` would be read as `{"language", "code"}`). Every request
//! body of the API is an object with named fields, so anything else (array, string, number,
//! boolean, null) is refused with 422 `invalid_input` before the body's type is read, and the
//! body is read with [`from_value`], which refuses an array in place of a nested struct too
//! (`"from": ["Person", "ada"]`).
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess,
    Visitor,
};
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
        Value::Object(_) => return from_value(value).map_err(|e| serde_error(&e)),
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

/// Reads `T` from `value` like `serde_json::from_value`, except that a struct, at any depth,
/// is read only from a JSON object, never field by field from an array.
///
/// Not covered: a struct inside an internally tagged or untagged enum or a `flatten`ed field
/// (serde reads those from its own buffer).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(Strict(value))
}

/// A JSON value that refuses an array where a struct is expected.
struct Strict(Value);

impl<'de> Deserializer<'de> for Strict {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(StrictSeq(items.into_iter())),
            Value::Object(entries) => visitor.visit_map(StrictMap {
                entries: entries.into_iter(),
                value: None,
            }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => Err(serde_json::Error::custom(format!(
                "invalid type: array, expected a JSON object (struct {name})"
            ))),
            other => Strict(other).deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Strict(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct StrictSeq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for StrictSeq {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct StrictMap {
    entries: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for StrictMap {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(Value::String(key)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a map value was asked for before its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
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

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        pair: Pair,
        pairs: Vec<Pair>,
        maybe: Option<Pair>,
        any: Value,
    }

    #[test]
    fn a_nested_struct_is_read_only_from_an_object_and_other_values_as_before() {
        let ok = r#"{"pair": {"language": "a", "code": "b"}, "pairs": [{"language": "c", "code": "d"}],
                    "maybe": null, "any": [1, {"x": [true]}]}"#;
        let outer: Outer = parse_object(ok.as_bytes()).unwrap();
        assert_eq!(outer.pair.code, "b");
        assert_eq!(outer.pairs[0].language, "c");
        assert!(outer.maybe.is_none());
        assert_eq!(outer.any, serde_json::json!([1, {"x": [true]}]));
        for nested in [
            r#"{"pair": ["a", "b"], "pairs": [], "maybe": null, "any": 1}"#,
            r#"{"pair": {"language": "a", "code": "b"}, "pairs": [["c", "d"]], "maybe": null, "any": 1}"#,
            r#"{"pair": {"language": "a", "code": "b"}, "pairs": [], "maybe": ["e", "f"], "any": 1}"#,
        ] {
            let err = parse_object::<Outer>(nested.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, ApiError::Unprocessable(m) if m.contains("expected a JSON object")),
                "{nested}: {err:?}"
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
        // A nested struct given as an array is refused too.
        let req = actix_test::TestRequest::post()
            .uri("/api/v1/graph/relationships")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(
                r#"{"from": ["Person", "ada"], "type": "KNOWS", "to": ["Person", "alan"]}"#,
            )
            .to_request();
        let res = actix_test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), 422);
        let reply: Value = actix_test::read_body_json(res).await;
        assert_eq!(reply["error"]["code"], "invalid_input", "{reply}");
        // The last route revokes the token when given the object.
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
