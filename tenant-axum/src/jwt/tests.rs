//! One test per refusal of [`JwtVerifier::verify`], and the happy paths.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
pub(crate) const RSA_PRIVATE: &[u8] = include_bytes!("../../tests/keys/rsa_private.pem");
pub(crate) const RSA_PUBLIC: &[u8] = include_bytes!("../../tests/keys/rsa_public.pem");
const RSA2_PRIVATE: &[u8] = include_bytes!("../../tests/keys/rsa2_private.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../../tests/keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../../tests/keys/ec_public.pem");

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> Value {
    json!({"sub": "user-1", "tenant_id": "acme", "exp": now() + 600, "aud": "api", "iss": "https://idp"})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).expect("test token")
}

fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
}

pub(crate) fn rs(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        kid,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
}

fn es(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::ES256,
        kid,
        claims,
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
}

fn hs_verifier() -> JwtVerifier {
    JwtVerifier::new(JwtKeys::hs256(SECRET).unwrap())
        .audience(["api"])
        .issuer(["https://idp"])
}

pub(crate) fn jwk(private: &[u8], alg: Algorithm, kid: &str) -> Jwk {
    let key = match alg.family() {
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(private),
        _ => EncodingKey::from_rsa_pem(private),
    };
    let mut jwk = Jwk::from_encoding_key(&key.unwrap(), alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn key_set() -> JwkSet {
    JwkSet {
        keys: vec![
            jwk(RSA_PRIVATE, Algorithm::RS256, "rsa-1"),
            jwk(EC_PRIVATE, Algorithm::ES256, "ec-1"),
        ],
    }
}

#[tokio::test]
async fn accepts_valid_tokens_of_each_algorithm() {
    let c = hs_verifier().verify(&hs(&claims())).await.unwrap();
    assert_eq!(
        (c.sub(), c.str("tenant_id"), c.iss()),
        (Some("user-1"), Some("acme"), Some("https://idp"))
    );
    assert_eq!(c.algorithm(), Algorithm::HS256);

    let rs256 = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    let c = rs256.verify(&rs(None, &claims())).await.unwrap();
    assert_eq!(c.algorithm(), Algorithm::RS256);

    let es256 = JwtVerifier::new(JwtKeys::es256_pem(EC_PUBLIC).unwrap());
    assert_eq!(
        es256.verify(&es(None, &claims())).await.unwrap().sub(),
        Some("user-1")
    );

    let set = JwtVerifier::new(JwtKeys::jwk_set(&key_set()).unwrap());
    let c = set.verify(&rs(Some("rsa-1"), &claims())).await.unwrap();
    assert_eq!(c.key_id(), Some("rsa-1"));
    let c = set.verify(&es(Some("ec-1"), &claims())).await.unwrap();
    assert_eq!(c.algorithm(), Algorithm::ES256);

    #[derive(serde::Deserialize)]
    struct Mine {
        tenant_id: String,
    }
    assert_eq!(c.deserialize::<Mine>().unwrap().tenant_id, "acme");
}

#[tokio::test]
async fn refuses_unsigned_tokens() {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
    assert_eq!(hs_verifier().verify(&token).await, Err(JwtError::AlgNone));
}

#[tokio::test]
async fn refuses_an_hmac_token_signed_with_the_rsa_public_key() {
    let forged = sign(
        Algorithm::HS256,
        None,
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC).unwrap(),
    );
    let rs256 = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    assert!(matches!(
        rs256.verify(&forged).await,
        Err(JwtError::KeyConfusion { .. })
    ));
    let set = JwtVerifier::new(JwtKeys::jwk_set(&key_set()).unwrap());
    let forged = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC).unwrap(),
    );
    assert!(matches!(
        set.verify(&forged).await,
        Err(JwtError::KeyConfusion { .. })
    ));
    // An asymmetric token against a shared secret is the same confusion.
    assert!(matches!(
        hs_verifier().verify(&rs(None, &claims())).await,
        Err(JwtError::KeyConfusion { .. })
    ));
    // And a token whose kid names a key of another type.
    let wrong_type = es(Some("rsa-1"), &claims());
    let got = JwtVerifier::new(JwtKeys::jwk_set(&key_set()).unwrap())
        .verify(&wrong_type)
        .await;
    assert!(matches!(got, Err(JwtError::KeyConfusion { .. })), "{got:?}");
}

#[tokio::test]
async fn refuses_algorithms_outside_the_allow_list() {
    let rs384 = sign(
        Algorithm::RS384,
        None,
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    );
    let rs256 = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    assert!(matches!(
        rs256.verify(&rs384).await,
        Err(JwtError::AlgorithmNotAllowed { .. })
    ));
    let set = JwtVerifier::new(JwtKeys::jwk_set(&key_set()).unwrap())
        .algorithms([Algorithm::ES256])
        .unwrap();
    let got = set.verify(&rs(Some("rsa-1"), &claims())).await;
    assert!(
        matches!(got, Err(JwtError::AlgorithmNotAllowed { .. })),
        "{got:?}"
    );
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unknown = format!("{}.{}.c2ln", b64(&json!({"alg": "XS999"})), b64(&claims()));
    assert!(matches!(
        rs256.verify(&unknown).await,
        Err(JwtError::AlgorithmNotAllowed { .. })
    ));
}

#[tokio::test]
async fn refuses_a_wrong_signature() {
    let other = sign(
        Algorithm::RS256,
        None,
        &claims(),
        &EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap(),
    );
    let rs256 = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    assert_eq!(rs256.verify(&other).await, Err(JwtError::InvalidSignature));
    let other_secret = sign(
        Algorithm::HS256,
        None,
        &claims(),
        &EncodingKey::from_secret(&[7; 32]).unwrap(),
    );
    assert_eq!(
        hs_verifier().verify(&other_secret).await,
        Err(JwtError::InvalidSignature)
    );
    // A payload swapped under a valid signature.
    let good = hs(&claims());
    let evil = hs(&json!({"sub": "admin", "exp": now() + 600, "aud": "api", "iss": "https://idp"}));
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = evil.split('.').nth(1).unwrap();
    assert_eq!(
        hs_verifier().verify(&parts.join(".")).await,
        Err(JwtError::InvalidSignature)
    );
}

#[tokio::test]
async fn refuses_malformed_tokens() {
    let v = hs_verifier();
    assert_eq!(v.verify("").await, Err(JwtError::SegmentCount { found: 1 }));
    assert_eq!(
        v.verify("a.b").await,
        Err(JwtError::SegmentCount { found: 2 })
    );
    assert_eq!(
        v.verify("a.b.c.d").await,
        Err(JwtError::SegmentCount { found: 4 })
    );
    assert!(matches!(
        v.verify("***.***.***").await,
        Err(JwtError::BadBase64 {
            part: TokenPart::Header
        })
    ));
    let huge = hs(&json!({"exp": now() + 600, "blob": "x".repeat(20_000)}));
    assert!(matches!(
        v.verify(&huge).await,
        Err(JwtError::TooLarge { max: 8192, .. })
    ));
    let small = hs_verifier().max_token_len(64);
    assert!(matches!(
        small.verify(&hs(&claims())).await,
        Err(JwtError::TooLarge { max: 64, .. })
    ));
}

#[tokio::test]
async fn refuses_expired_and_not_yet_valid_tokens_with_leeway() {
    let v = hs_verifier().leeway(Duration::from_secs(30));
    let mut c = claims();
    c["exp"] = json!(now() - 120);
    assert_eq!(v.verify(&hs(&c)).await, Err(JwtError::Expired));
    c["exp"] = json!(now() - 10); // within the leeway
    assert!(v.verify(&hs(&c)).await.is_ok());
    let mut c = claims();
    c["nbf"] = json!(now() + 120);
    assert_eq!(v.verify(&hs(&c)).await, Err(JwtError::NotYetValid));
    c["nbf"] = json!(now() + 10);
    assert!(v.verify(&hs(&c)).await.is_ok());
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        v.verify(&hs(&c)).await,
        Err(JwtError::MissingClaim {
            claim: "exp".into()
        })
    );
    // An exp that is not a number counts as no exp at all.
    c["exp"] = json!("tomorrow");
    assert_eq!(
        v.verify(&hs(&c)).await,
        Err(JwtError::MissingClaim {
            claim: "exp".into()
        })
    );
    let mut c = claims();
    c["nbf"] = json!("yesterday");
    assert_eq!(
        v.verify(&hs(&c)).await,
        Err(JwtError::InvalidClaim {
            claim: "nbf".into()
        })
    );
}

#[tokio::test]
async fn refuses_wrong_audience_and_issuer() {
    let v = hs_verifier();
    let mut c = claims();
    c["aud"] = json!("other-api");
    assert_eq!(v.verify(&hs(&c)).await, Err(JwtError::WrongAudience));
    c["aud"] = json!(["other", "api"]);
    assert!(v.verify(&hs(&c)).await.is_ok());
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        v.verify(&hs(&c)).await,
        Err(JwtError::MissingClaim {
            claim: "aud".into()
        })
    );
    let mut c = claims();
    c["iss"] = json!("https://evil");
    assert_eq!(v.verify(&hs(&c)).await, Err(JwtError::WrongIssuer));
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        v.verify(&hs(&c)).await,
        Err(JwtError::MissingClaim {
            claim: "iss".into()
        })
    );
}

#[tokio::test]
async fn key_sets_choose_by_kid() {
    let set = JwtVerifier::new(JwtKeys::jwk_set(&key_set()).unwrap());
    assert_eq!(
        set.verify(&rs(None, &claims())).await,
        Err(JwtError::MissingKeyId)
    );
    assert_eq!(
        set.verify(&rs(Some("rsa-9"), &claims())).await,
        Err(JwtError::UnknownKeyId {
            kid: "rsa-9".into()
        })
    );
    let mut declared = jwk(RSA_PRIVATE, Algorithm::RS256, "rs384-only");
    declared.common.key_algorithm = Some(jsonwebtoken::jwk::KeyAlgorithm::RS384);
    let set = JwtVerifier::new(
        JwtKeys::jwk_set(&JwkSet {
            keys: vec![declared],
        })
        .unwrap(),
    );
    let got = set.verify(&rs(Some("rs384-only"), &claims())).await;
    assert!(matches!(got, Err(JwtError::KeyConfusion { .. })), "{got:?}");
}

#[test]
fn says_what_it_accepts() {
    let v = hs_verifier();
    assert_eq!(v.accepted_audiences(), Some(&["api".to_owned()][..]));
    assert_eq!(v.accepted_issuers(), Some(&["https://idp".to_owned()][..]));
    assert_eq!(v.accepted_algorithms(), &[Algorithm::HS256]);
    let open = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    assert_eq!(open.accepted_audiences(), None);
    assert_eq!(open.accepted_issuers(), None);
    assert_eq!(open.accepted_algorithms(), &[Algorithm::RS256]);
}

#[test]
fn refuses_bad_configuration() {
    assert!(matches!(
        JwtKeys::hs256(b"short"),
        Err(ConfigError::InvalidKey { .. })
    ));
    assert!(matches!(
        JwtKeys::rs256_pem(b"not a pem"),
        Err(ConfigError::InvalidKey { .. })
    ));
    assert!(matches!(
        JwtKeys::es256_pem(RSA_PUBLIC),
        Err(ConfigError::InvalidKey { .. })
    ));
    let mut no_kid = jwk(RSA_PRIVATE, Algorithm::RS256, "x");
    no_kid.common.key_id = None;
    assert!(JwtKeys::jwk_set(&JwkSet { keys: vec![no_kid] }).is_err());
    let secret: Jwk =
        serde_json::from_value(json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"})).unwrap();
    assert!(JwtKeys::jwk_set(&JwkSet { keys: vec![secret] }).is_err());
    let rs256 = JwtVerifier::new(JwtKeys::rs256_pem(RSA_PUBLIC).unwrap());
    assert!(matches!(
        rs256.clone().algorithms([]),
        Err(ConfigError::NoAlgorithms)
    ));
    assert!(matches!(
        rs256.algorithms([Algorithm::HS256]),
        Err(ConfigError::InvalidKey { .. })
    ));
}

#[test]
fn every_refusal_has_its_own_code() {
    let all = [
        JwtError::MissingToken,
        JwtError::TooLarge { len: 1, max: 0 },
        JwtError::SegmentCount { found: 1 },
        JwtError::BadBase64 {
            part: TokenPart::Header,
        },
        JwtError::BadJson {
            part: TokenPart::Header,
            reason: String::new(),
        },
        JwtError::AlgNone,
        JwtError::CriticalHeader {
            crit: String::new(),
        },
        JwtError::AlgorithmNotAllowed {
            alg: String::new(),
            allowed: String::new(),
        },
        JwtError::KeyConfusion {
            alg: String::new(),
            key: String::new(),
        },
        JwtError::MissingKeyId,
        JwtError::UnknownKeyId { kid: String::new() },
        JwtError::InvalidSignature,
        JwtError::Expired,
        JwtError::NotYetValid,
        JwtError::WrongAudience,
        JwtError::WrongIssuer,
        JwtError::MissingClaim {
            claim: String::new(),
        },
        JwtError::InvalidClaim {
            claim: String::new(),
        },
        JwtError::UnusableKey {
            reason: String::new(),
        },
        JwtError::KeysUnavailable {
            reason: String::new(),
        },
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(JwtError::code).collect();
    assert_eq!(codes.len(), all.len());
}
