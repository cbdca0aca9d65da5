//! [`RequestId`]: the id every request's span and response carry.

use std::fmt;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The header a request id is read from and echoed in.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent request id kept.
const MAX_LEN: usize = 128;

/// The request's id: the client's (or a proxy's) `x-request-id` when it is
/// 1 to 128 characters of ASCII letters, digits and `-_.:`, otherwise a
/// fresh UUID. Anything else is replaced rather than logged, so a client
/// cannot write arbitrary text into the logs.
///
/// It serializes as its text, so a queued [`ForTenant`](crate::job::ForTenant)
/// job can carry it; deserializing applies the same rule (a queue is
/// input too) and refuses anything else.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

/// Text that is not a well-formed request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request id: use 1 to {MAX_LEN} ASCII letters, digits and -_.: (got {len} bytes)")]
pub struct InvalidRequestId {
    len: usize,
}

impl TryFrom<String> for RequestId {
    type Error = InvalidRequestId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        if well_formed(&text) {
            Ok(Self(text))
        } else {
            Err(InvalidRequestId { len: text.len() })
        }
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

impl RequestId {
    /// The id from `headers`, or a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(&REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| well_formed(v))
            .map(|v| Self(v.to_owned()))
            .unwrap_or_else(Self::generate)
    }

    /// A new random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        // Only ASCII letters, digits and -_.: ever get here.
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(value: &str) -> RequestId {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID_HEADER, HeaderValue::from_str(value).unwrap());
        RequestId::from_headers(&headers)
    }

    #[test]
    fn keeps_well_formed_ids_and_replaces_others() {
        assert_eq!(from("req-42_a.b:c").as_str(), "req-42_a.b:c");
        for bad in ["", "a b", "<script>", "x\"y", &"a".repeat(129)] {
            let id = from(bad);
            assert_ne!(id.as_str(), bad);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok(), "{id}");
        }
        let fresh = RequestId::from_headers(&HeaderMap::new());
        let json = serde_json::to_string(&fresh).unwrap();
        assert_eq!(serde_json::from_str::<RequestId>(&json).unwrap(), fresh);
        let refused = serde_json::from_str::<RequestId>("\"a b\"").unwrap_err();
        assert!(
            refused.to_string().contains("invalid request id"),
            "{refused}"
        );
        assert!(uuid::Uuid::parse_str(fresh.as_str()).is_ok());
        assert_ne!(fresh, RequestId::generate());
    }
}
