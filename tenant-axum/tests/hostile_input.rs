//! Property tests: hostile input to every resolver and to the token
//! verifier gets a 4xx error (or "not mine"), never a panic or a 500.

use axum::http::request::Parts;
use axum::http::{HeaderValue, Request};
use proptest::prelude::*;
use tenant_axum::resolve::{
    ClaimResolver, HeaderResolver, PathResolver, RequestHead, SubdomainResolver,
};
use tenant_axum::{
    JwtError, JwtKeys, JwtVerifier, ResolveError, TenantError, TenantKey, tenant_key,
};

fn parts() -> Parts {
    Request::builder().body(()).unwrap().into_parts().0
}

/// A refusal must be the client's fault: 400 or 401.
fn assert_client_error(e: impl Into<TenantError>) {
    let e: TenantError = e.into();
    let status = e.status();
    assert!(status == 400 || status == 401, "status {status}");
}

fn check(result: Result<Option<tenant_axum::TenantRef>, ResolveError>) {
    if let Err(e) = result {
        assert_client_error(e);
    }
}

/// Text with the characters that break parsers: separators, dots,
/// percent signs, control bytes, non-ASCII and long runs.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,300}",
        "[a-z0-9./%:\\-_@\\[\\]]{0,80}",
        "(\\.\\./|%2[fF]|%2[eE]|//|/\\./){1,8}[a-z]{0,8}",
        "[a-z]{1,10}(\\.[a-z0-9\\-]{0,10}){0,6}",
        proptest::collection::vec(any::<char>(), 0..64).prop_map(|c| c.into_iter().collect()),
        "x{1000,5000}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_values(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut p = parts();
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            p.headers.insert("x-tenant-id", value);
        }
        check(HeaderResolver::default().resolve(&RequestHead::new(&p, None)));
    }

    #[test]
    fn header_text(text in hostile_text()) {
        let mut p = parts();
        if let Ok(value) = HeaderValue::from_str(&text) {
            p.headers.insert("x-tenant-id", value);
        }
        check(HeaderResolver::default().resolve(&RequestHead::new(&p, None)));
    }

    #[test]
    fn paths(rest in hostile_text()) {
        let uri = format!("/t/{rest}");
        // Only what http accepts as a URI reaches a resolver.
        if let Ok(request) = Request::builder().uri(uri.as_str()).body(()) {
            let p = request.into_parts().0;
            let got = PathResolver::default().resolve(&RequestHead::new(&p, None));
            if let Ok(Some(tenant_axum::TenantRef::Slug(slug))) = &got {
                // Whatever it accepted is a plain slug: no separator, dot or escape.
                prop_assert!(slug.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
            check(got);
        }
    }

    #[test]
    fn hosts(host in hostile_text(), port in proptest::option::of(any::<u16>())) {
        let full = match port {
            Some(port) => format!("{host}.app.example.com:{port}"),
            None => format!("{host}.app.example.com"),
        };
        let resolver = SubdomainResolver::new("app.example.com").unwrap();
        for candidate in [full.as_str(), host.as_str()] {
            let mut p = parts();
            if let Ok(value) = HeaderValue::from_str(candidate) {
                p.headers.insert("host", value);
            }
            check(resolver.resolve(&RequestHead::new(&p, None)));
        }
    }

    #[test]
    fn raw_host_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut p = parts();
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            p.headers.insert("host", value);
        }
        check(SubdomainResolver::new("app.example.com").unwrap().resolve(&RequestHead::new(&p, None)));
    }

    #[test]
    fn non_uuid_ids(text in hostile_text()) {
        let resolver = HeaderResolver::default().accept(tenant_axum::Accept::Id);
        let mut p = parts();
        if let Ok(value) = HeaderValue::from_str(&text) {
            p.headers.insert("x-tenant-id", value);
        }
        let got = resolver.resolve(&RequestHead::new(&p, None));
        if uuid::Uuid::try_parse(&text).is_err() && !text.is_empty() && p.headers.contains_key("x-tenant-id") {
            prop_assert!(got.is_err(), "{text:?} is not an id");
        }
        check(got);
    }

    #[test]
    fn tokens(token in prop_oneof![
        hostile_text(),
        // Three segments of junk, and wrong segment counts.
        proptest::collection::vec("[A-Za-z0-9_\\-=+/]{0,40}", 0..7).prop_map(|s| s.join(".")),
    ]) {
        let verifier = JwtVerifier::new(JwtKeys::hs256([7u8; 32]).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = runtime.block_on(verifier.verify(&token));
        // Junk never verifies, and is never a server fault.
        let e = got.expect_err("junk is refused");
        let unavailable = matches!(e, JwtError::KeysUnavailable { .. });
        prop_assert!(!unavailable, "junk is never a key-server fault");
        assert_client_error(e);
    }

    #[test]
    fn huge_claims(size in 8_000usize..200_000) {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64(&format!(r#"{{"x":"{}"}}"#, "a".repeat(size))));
        let verifier = JwtVerifier::new(JwtKeys::hs256([7u8; 32]).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = runtime.block_on(verifier.verify(&token));
        prop_assert!(matches!(got, Err(JwtError::TooLarge { .. })), "{got:?}");
    }

    #[test]
    fn claim_values(value in prop_oneof![
        hostile_text().prop_map(serde_json::Value::String),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::json!({"nested": "acme"})),
        Just(serde_json::json!(["acme"])),
        Just(serde_json::Value::Null),
    ]) {
        // Claims are only made by the verifier, so sign a token carrying it.
        use jsonwebtoken::{EncodingKey, Header, encode};
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let claims = serde_json::json!({"org": value, "exp": exp});
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(&[7u8; 32]).unwrap()).unwrap();
        let verifier = JwtVerifier::new(JwtKeys::hs256([7u8; 32]).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        if let Ok(verified) = runtime.block_on(verifier.verify(&token)) {
            let p = parts();
            check(ClaimResolver::new("org").resolve(&RequestHead::new(&p, Some(&verified))));
        }
    }

    /// Two tenants' keys never collide, whatever the key parts hold, even
    /// a key part that spells the other tenant's rendered prefix.
    #[test]
    fn cache_keys_of_two_tenants_never_collide(
        a in any::<u128>(), b in any::<u128>(), ka in hostile_text(), kb in hostile_text(),
    ) {
        prop_assume!(a != b);
        let (ta, tb) = (uuid::Uuid::from_u128(a).into(), uuid::Uuid::from_u128(b).into());
        let forged = format!("{}:{kb}", tb);
        for (x, y) in [(&ka, &kb), (&ka, &ka), (&forged, &kb)] {
            let (left, right): (TenantKey<String>, TenantKey<String>) = (tenant_key(ta, x.clone()), tenant_key(tb, y.clone()));
            prop_assert_ne!(&left, &right);
            prop_assert_ne!(left.to_string(), right.to_string());
        }
    }
}
