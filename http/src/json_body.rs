//! Strict JSON request bodies: a body is parsed into its typed struct (`deny_unknown_fields`) with the
//! path of the offending field in the error (`bar_sizes[1]: invalid type ...`), and a JSON object that
//! repeats a key anywhere in the document is refused (serde_json keeps the last one silently).

use crate::api::{ApiError, Request};
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Walks a JSON document and fails on the first object with a repeated key, naming it.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

/// Refuses a document with a repeated object key (400 naming the key).
pub fn reject_duplicate_keys(body: &[u8]) -> Result<(), ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    NoDuplicateKeys::deserialize_from(&mut de).map_err(|e| ApiError::bad_request(format!("request body: {e}")))
}

impl NoDuplicateKeys {
    fn deserialize_from<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        <NoDuplicateKeys as serde::Deserialize>::deserialize(d).map(|_| ())
    }
}

/// Parses a JSON request (Content-Type, emptiness, syntax, repeated keys and object shape checked by
/// [`Request::json_object`]) into `T`, naming the offending field in the 400: unknown fields, wrong
/// types and missing required fields are all refused.
pub fn parse_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let obj = req.json_object()?;
    serde_path_to_error::deserialize(serde_json::Value::Object(obj)).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." | "" => ApiError::bad_request(format!("request body: {}", e.inner())),
            p => ApiError::field(p, e.inner()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        a: u32,
        #[allow(dead_code)]
        b: Option<Vec<String>>,
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        assert!(reject_duplicate_keys(br#"{"a":1,"b":{"x":1,"y":2}}"#).is_ok());
        let e = reject_duplicate_keys(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.detail.contains("duplicate key \"a\""), "{}", e.detail);
        assert!(reject_duplicate_keys(br#"{"a":[{"x":1,"x":1}]}"#).is_err());
    }

    fn req(body: &[u8]) -> Request {
        Request { method: "POST".into(), content_type: Some("application/json".into()), body: body.to_vec(), ..Default::default() }
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_body::<Body>(&req(br#"{"a":"x"}"#)).unwrap_err();
        assert!(e.detail.starts_with("a: invalid type"), "{}", e.detail);
        let e = parse_body::<Body>(&req(br#"{"a":1,"b":["x",2]}"#)).unwrap_err();
        assert!(e.detail.starts_with("b[1]: "), "{}", e.detail);
        let e = parse_body::<Body>(&req(br#"{"a":1,"c":2}"#)).unwrap_err();
        assert!(e.detail.contains("unknown field `c`"), "{}", e.detail);
        let e = parse_body::<Body>(&req(br#"{"b":null}"#)).unwrap_err();
        assert!(e.detail.contains("missing field `a`"), "{}", e.detail);
        let e = parse_body::<Body>(&req(br#"{"a":1,"a":2}"#)).unwrap_err();
        assert!(e.detail.contains("duplicate key"), "{}", e.detail);
        assert_eq!(parse_body::<Body>(&req(br#"{"a":1} x"#)).unwrap_err().status, 400);
    }
}
