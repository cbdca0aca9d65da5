//! The checks made on a compact token before any key is touched: its
//! size, shape, encoding and header. jsonwebtoken would refuse these too,
//! but with one generic error; reading the header here gives each its own
//! [`JwtError`] and lets `alg: none` be named (jsonwebtoken cannot parse
//! it at all).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::{JwtError, TokenPart};

/// The parts of the header the verifier needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TokenHeader {
    /// `alg`, as sent.
    pub(crate) alg: String,
    /// `kid`, when sent.
    pub(crate) kid: Option<String>,
}

/// Checks size, shape and encoding, and reads the header.
pub(crate) fn inspect(token: &str, max_len: usize) -> Result<TokenHeader, JwtError> {
    if token.len() > max_len {
        return Err(JwtError::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(JwtError::SegmentCount { found: parts.len() });
    };
    let header = decode_object(header, TokenPart::Header)?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        Some(_) => return Err(bad_json(TokenPart::Header, "alg is not a string")),
        None => return Err(bad_json(TokenPart::Header, "it has no alg")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if let Some(crit) = header.get("crit") {
        return Err(JwtError::CriticalHeader {
            crit: super::cut(&crit.to_string(), 64),
        });
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(bad_json(TokenPart::Header, "kid is not a string")),
        None => None,
    };
    decode_object(payload, TokenPart::Payload)?;
    if signature.is_empty() || URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(JwtError::BadBase64 {
            part: TokenPart::Signature,
        });
    }
    Ok(TokenHeader { alg, kid })
}

fn decode_object(part: &str, which: TokenPart) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::BadBase64 { part: which })?;
    serde_json::from_slice(&bytes).map_err(|e| JwtError::BadJson {
        part: which,
        reason: e.to_string(),
    })
}

fn bad_json(part: TokenPart, reason: &str) -> JwtError {
    JwtError::BadJson {
        part,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str, sig: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), sig)
    }

    #[test]
    fn each_malformation_has_its_own_error() {
        let ok = token(r#"{"alg":"HS256","kid":"k1"}"#, r#"{"sub":"u"}"#, "c2ln");
        let header = inspect(&ok, 8192).unwrap();
        assert_eq!(
            (header.alg.as_str(), header.kid.as_deref()),
            ("HS256", Some("k1"))
        );

        assert_eq!(
            inspect(&ok, 10),
            Err(JwtError::TooLarge {
                len: ok.len(),
                max: 10
            })
        );
        assert_eq!(
            inspect("a.b", 100),
            Err(JwtError::SegmentCount { found: 2 })
        );
        assert_eq!(
            inspect("a.b.c.d.e", 100),
            Err(JwtError::SegmentCount { found: 5 })
        );
        assert_eq!(
            inspect("!!.e30.c2ln", 100),
            Err(JwtError::BadBase64 {
                part: TokenPart::Header
            })
        );
        let no_sig = token(r#"{"alg":"HS256"}"#, "{}", "");
        assert_eq!(
            inspect(&no_sig, 100),
            Err(JwtError::BadBase64 {
                part: TokenPart::Signature
            })
        );
        let bad_payload = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64("[1]"));
        assert!(matches!(
            inspect(&bad_payload, 100),
            Err(JwtError::BadJson {
                part: TokenPart::Payload,
                ..
            })
        ));
        for alg in ["none", "None", "NONE"] {
            let unsigned = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}", "");
            assert_eq!(inspect(&unsigned, 100), Err(JwtError::AlgNone));
        }
        let crit = token(r#"{"alg":"HS256","crit":["exp"]}"#, "{}", "c2ln");
        assert!(matches!(
            inspect(&crit, 100),
            Err(JwtError::CriticalHeader { .. })
        ));
        let no_alg = token(r#"{"kid":"x"}"#, "{}", "c2ln");
        assert!(matches!(
            inspect(&no_alg, 100),
            Err(JwtError::BadJson { .. })
        ));
    }
}
