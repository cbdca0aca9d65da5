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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

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
        assert!(uuid::Uuid::parse_str(fresh.as_str()).is_ok());
        assert_ne!(fresh, RequestId::generate());
    }
}
