//! The fetched key set's refresh rules, against a local HTTP server and a
//! clock the test moves (no sleeping).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;
use crate::jwt::tests::{RSA_PRIVATE, jwk, rs};
use crate::jwt::{JwtKeys, JwtVerifier};

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
}

async fn serve(set: &JwkSet) -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(Mutex::new(serde_json::to_string(set).unwrap()));
    let (h, b) = (hits.clone(), body.clone());
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let body = b.lock().unwrap().clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { url, hits, body }
}

fn set(kids: &[&str]) -> JwkSet {
    JwkSet {
        keys: kids
            .iter()
            .map(|k| jwk(RSA_PRIVATE, Algorithm::RS256, k))
            .collect(),
    }
}

fn with_clock(url: &str) -> (JwksUrl, Arc<Mutex<Instant>>) {
    let clock = Arc::new(Mutex::new(Instant::now()));
    let mut jwks = JwksUrl::new(url)
        .unwrap()
        .refresh_interval(Duration::from_secs(600))
        .min_refetch_interval(Duration::from_secs(30));
    Arc::get_mut(&mut jwks.inner).unwrap().clock.manual = Some(clock.clone());
    (jwks, clock)
}

fn advance(clock: &Mutex<Instant>, by: u64) {
    *clock.lock().unwrap() += Duration::from_secs(by);
}

fn token(kid: &str) -> String {
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    rs(Some(kid), &json!({"sub": "u", "exp": exp}))
}

#[tokio::test]
async fn fetches_once_then_refreshes_after_the_interval() {
    let server = serve(&set(&["k1"])).await;
    let (jwks, clock) = with_clock(&server.url);
    let verifier = JwtVerifier::new(JwtKeys::jwks_url(jwks));
    for _ in 0..3 {
        verifier.verify(&token("k1")).await.unwrap();
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    advance(&clock, 599);
    verifier.verify(&token("k1")).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    advance(&clock, 2);
    verifier.verify(&token("k1")).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_per_interval() {
    let server = serve(&set(&["k1"])).await;
    let (jwks, clock) = with_clock(&server.url);
    let verifier = JwtVerifier::new(JwtKeys::jwks_url(jwks));
    verifier.verify(&token("k1")).await.unwrap();
    advance(&clock, 31);
    // The issuer rotates to k2: the first k2 token triggers a fetch.
    *server.body.lock().unwrap() = serde_json::to_string(&set(&["k1", "k2"])).unwrap();
    verifier.verify(&token("k2")).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    // Made-up kids do not make it fetch again within the interval.
    for kid in ["x1", "x2", "x3"] {
        assert_eq!(
            verifier.verify(&token(kid)).await,
            Err(JwtError::UnknownKeyId { kid: kid.into() })
        );
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    advance(&clock, 31);
    assert!(verifier.verify(&token("x4")).await.is_err());
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn keeps_old_keys_when_a_refresh_fails() {
    let server = serve(&set(&["k1"])).await;
    let (jwks, clock) = with_clock(&server.url);
    let verifier = JwtVerifier::new(JwtKeys::jwks_url(jwks.clone()));
    verifier.verify(&token("k1")).await.unwrap();
    *server.body.lock().unwrap() = "not json".to_owned();
    advance(&clock, 601);
    verifier.verify(&token("k1")).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    assert!(matches!(
        jwks.prefetch().await,
        Err(JwtError::KeysUnavailable { .. })
    ));
}

#[tokio::test]
async fn no_keys_at_all_is_unavailable_not_unauthorized() {
    // Nothing listens on this port once the listener is dropped.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    drop(listener);
    let (jwks, _clock) = with_clock(&url);
    let verifier = JwtVerifier::new(JwtKeys::jwks_url(jwks));
    let got = verifier.verify(&token("k1")).await;
    assert!(
        matches!(got, Err(JwtError::KeysUnavailable { .. })),
        "{got:?}"
    );
}

#[test]
fn url_must_be_http_and_https_needs_tls() {
    assert!(matches!(
        JwksUrl::new("ftp://x/jwks"),
        Err(ConfigError::InvalidJwksUrl { .. })
    ));
    assert!(matches!(
        JwksUrl::new("not a url"),
        Err(ConfigError::InvalidJwksUrl { .. })
    ));
    let https = JwksUrl::new("https://idp.example.com/jwks.json");
    if cfg!(feature = "rustls") {
        assert!(https.is_ok());
    } else {
        assert!(matches!(https, Err(ConfigError::HttpsWithoutTls { .. })));
        let client = reqwest::Client::new();
        assert!(JwksUrl::with_client(client, "https://idp.example.com/jwks.json").is_ok());
    }
}
