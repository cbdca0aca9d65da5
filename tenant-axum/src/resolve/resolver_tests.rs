//! Unit tests of each resolver and of the chain's order and modes.

use axum::http::Request;
use axum::http::request::Parts;
use serde_json::json;

use super::*;
use crate::jwt::{Algorithm, VerifiedClaims};
use crate::tenant_ref::Resolved;

const ID: &str = "3f333df6-90a4-4fda-8dd3-9485d27cee36";

fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(()).expect("test request").into_parts().0
}

fn id() -> TenantRef {
    TenantRef::Id(TenantId::parse(ID).unwrap())
}

fn slug(s: &str) -> TenantRef {
    TenantRef::Slug(Slug::parse(s).unwrap())
}

fn claims(value: serde_json::Value) -> VerifiedClaims {
    let serde_json::Value::Object(map) = value else {
        panic!("claims must be an object")
    };
    VerifiedClaims::new(map, Algorithm::HS256, None)
}

#[test]
fn header_reads_one_value() {
    let r = HeaderResolver::default();
    let head = |h: &[(&str, &str)]| r.resolve(&RequestHead::new(&parts("/", h), None));
    assert_eq!(head(&[]), Ok(None));
    assert_eq!(head(&[("x-tenant-id", ID)]), Ok(Some(id())));
    assert_eq!(head(&[("x-tenant-id", "acme")]), Ok(Some(slug("acme"))));
    assert!(matches!(
        head(&[("x-tenant-id", "a"), ("x-tenant-id", "b")]),
        Err(ResolveError::RepeatedHeader { .. })
    ));
    assert!(matches!(
        head(&[("x-tenant-id", &"a".repeat(129))]),
        Err(ResolveError::TooLong {
            len: 129,
            max: 128,
            ..
        })
    ));
    assert!(matches!(
        head(&[("x-tenant-id", "")]),
        Err(ResolveError::InvalidTenantRef { .. })
    ));
    let named = HeaderResolver::named("x-org").unwrap().accept(Accept::Id);
    let p = parts("/", &[("x-org", "acme")]);
    assert!(matches!(
        named.resolve(&RequestHead::new(&p, None)),
        Err(ResolveError::InvalidId { .. })
    ));
    assert!(HeaderResolver::named("x org").is_err());
}

#[test]
fn header_refuses_non_text_bytes() {
    let mut p = parts("/", &[]);
    p.headers.insert(
        "x-tenant-id",
        axum::http::HeaderValue::from_bytes(b"acme\xff").unwrap(),
    );
    let got = HeaderResolver::default().resolve(&RequestHead::new(&p, None));
    assert!(
        matches!(got, Err(ResolveError::HeaderNotText { .. })),
        "{got:?}"
    );
}

#[test]
fn path_reads_the_segment_after_the_prefix() {
    let r = PathResolver::default();
    let at = |path: &str| r.resolve_path(path);
    assert_eq!(at("/t/acme/projects"), Ok(Some(slug("acme"))));
    assert_eq!(at("/t/acme"), Ok(Some(slug("acme"))));
    assert_eq!(at(&format!("/t/{ID}/x")), Ok(Some(id())));
    for outside in [
        "/",
        "/health",
        "/tx/acme",
        "//t/acme",
        "/x/../t/acme",
        "t/acme",
        "",
    ] {
        assert_eq!(at(outside), Ok(None), "{outside}");
    }
    for empty in ["/t", "/t/", "/t//acme"] {
        assert!(
            matches!(at(empty), Err(ResolveError::EmptyPathSegment { .. })),
            "{empty}"
        );
    }
    for dots in ["/t/../acme", "/t/./acme"] {
        assert!(
            matches!(at(dots), Err(ResolveError::DotSegment { .. })),
            "{dots}"
        );
    }
    for encoded in ["/t/acme%2fglobex/x", "/t/%61cme", "/t/%2e%2e/x"] {
        assert!(
            matches!(at(encoded), Err(ResolveError::EncodedPathSegment { .. })),
            "{encoded}"
        );
    }
    assert!(matches!(
        at(&format!("/t/{}", "a".repeat(200))),
        Err(ResolveError::TooLong { .. })
    ));

    let orgs = PathResolver::new("/api/orgs/").unwrap();
    assert_eq!(orgs.prefix(), "/api/orgs");
    assert_eq!(
        orgs.resolve_path("/api/orgs/acme/x"),
        Ok(Some(slug("acme")))
    );
    assert_eq!(orgs.resolve_path("/api/acme"), Ok(None));
    for bad in ["t", "/", "//t", "/t/../x", "/t%2f"] {
        assert!(PathResolver::new(bad).is_err(), "{bad}");
    }
}

#[test]
fn subdomain_reads_one_label_above_the_base() {
    let r = SubdomainResolver::new("App.Example.com.")
        .unwrap()
        .ignore(["www"]);
    assert_eq!(r.base(), "app.example.com");
    let host = |h: &str| r.resolve_host(h.as_bytes());
    for h in [
        "acme.app.example.com",
        "ACME.App.Example.COM",
        "acme.app.example.com.",
        "acme.app.example.com:8443",
        "acme.app.example.com.:443",
    ] {
        assert_eq!(host(h), Ok(Some(slug("acme"))), "{h}");
    }
    assert_eq!(host(&format!("{ID}.app.example.com")), Ok(Some(id())));
    for not_ours in [
        "app.example.com",
        "app.example.com:80",
        "www.app.example.com",
        "acme.example.com",
        "acmeapp.example.com",
        "127.0.0.1:8080",
        "[::1]:8080",
        "localhost",
    ] {
        assert_eq!(host(not_ours), Ok(None), "{not_ours}");
    }
    assert!(matches!(
        host("a.b.app.example.com"),
        Err(ResolveError::NestedSubdomain { .. })
    ));
    assert!(matches!(
        host("xn--mnchen-3ya.app.example.com"),
        Err(ResolveError::InternationalizedLabel { .. })
    ));
    for malformed in [
        "münchen.app.example.com",
        "acme.app.example.com:http",
        "acme.app.example.com:",
        "acme..app.example.com",
        ".app.example.com",
        "ac_me.app.example.com",
        "-acme.app.example.com",
        "",
    ] {
        assert!(
            matches!(host(malformed), Err(ResolveError::MalformedHost { .. })),
            "{malformed}: {:?}",
            host(malformed)
        );
    }
    assert!(matches!(
        host("a--b.app.example.com"),
        Err(ResolveError::InvalidTenantRef { .. })
    ));
    assert!(matches!(
        r.resolve_host(&vec![b'a'; 300]),
        Err(ResolveError::TooLong { .. })
    ));
    assert!(matches!(
        r.resolve_host(b"\xff.app.example.com"),
        Err(ResolveError::MalformedHost { .. })
    ));
}

#[test]
fn subdomain_prefers_the_uri_authority_to_the_host_header() {
    let r = SubdomainResolver::new("app.example.com").unwrap();
    let p = parts(
        "http://acme.app.example.com/x",
        &[("host", "globex.app.example.com")],
    );
    assert_eq!(
        r.resolve(&RequestHead::new(&p, None)),
        Ok(Some(slug("acme")))
    );
    let p = parts("/x", &[("host", "globex.app.example.com")]);
    assert_eq!(
        r.resolve(&RequestHead::new(&p, None)),
        Ok(Some(slug("globex")))
    );
    let p = parts("/x", &[("x-forwarded-host", "acme.app.example.com")]);
    assert_eq!(r.resolve(&RequestHead::new(&p, None)), Ok(None));
}

#[test]
fn subdomain_base_must_be_plain_ascii() {
    for bad in ["bücher.example", "", ".", "a..b", "-a.com", "a_b.com"] {
        assert!(SubdomainResolver::new(bad).is_err(), "{bad}");
    }
    assert!(SubdomainResolver::new("xn--bcher-kva.example").is_ok());
}

#[test]
fn claim_reads_verified_claims_only() {
    let r = ClaimResolver::new("org");
    let p = parts("/", &[]);
    assert_eq!(r.resolve(&RequestHead::new(&p, None)), Ok(None));
    let c = claims(json!({"sub": "u1"}));
    assert_eq!(r.resolve(&RequestHead::new(&p, Some(&c))), Ok(None));
    let c = claims(json!({"org": "acme"}));
    assert_eq!(
        r.resolve(&RequestHead::new(&p, Some(&c))),
        Ok(Some(slug("acme")))
    );
    let c = claims(json!({"org": 42}));
    assert!(matches!(
        r.resolve(&RequestHead::new(&p, Some(&c))),
        Err(ResolveError::ClaimNotString { .. })
    ));
    let c = claims(json!({"org": "Not A Slug"}));
    assert!(matches!(
        r.resolve(&RequestHead::new(&p, Some(&c))),
        Err(ResolveError::InvalidClaim { .. })
    ));
    let namespaced = ClaimResolver::new("https://example.com/org");
    let c = claims(json!({"https://example.com/org": ID}));
    assert_eq!(
        namespaced.resolve(&RequestHead::new(&p, Some(&c))),
        Ok(Some(id()))
    );
}

async fn first(
    chain: &Resolvers,
    p: &Parts,
    c: Option<&VerifiedClaims>,
) -> Result<Vec<Resolved>, ResolveError> {
    chain.resolve(&RequestHead::new(p, c)).await
}

fn all_five() -> Resolvers {
    // Added in reverse of the fixed order, to show the order is fixed.
    Resolvers::new()
        .subdomain(SubdomainResolver::new("app.example.com").unwrap())
        .header(HeaderResolver::default())
        .path(PathResolver::default())
        .custom(from_fn("cookie", |head: &RequestHead<'_>| {
            let found = head.headers().get("x-cookie-org").is_some();
            async move { Ok(found.then(|| TenantRef::Slug(Slug::parse("cookie").unwrap()))) }
        }))
        .jwt_claim(ClaimResolver::new("org"))
}

#[tokio::test]
async fn chain_asks_in_the_fixed_order() {
    let chain = all_five();
    let everything = [
        ("host", "sub.app.example.com"),
        ("x-tenant-id", "header"),
        ("x-cookie-org", "1"),
    ];
    let c = claims(json!({"org": "jwt"}));
    let p = parts("/t/path/x", &everything);
    let expect = |source, name: &str| {
        Ok(vec![Resolved {
            tenant: slug(name),
            source,
        }])
    };
    assert_eq!(
        first(&chain, &p, Some(&c)).await,
        expect(Source::Jwt, "jwt")
    );
    assert_eq!(
        first(&chain, &p, None).await,
        expect(Source::Custom("cookie"), "cookie")
    );
    let p = parts("/t/path/x", &everything[..2]);
    assert_eq!(first(&chain, &p, None).await, expect(Source::Path, "path"));
    let p = parts("/x", &everything[..2]);
    assert_eq!(
        first(&chain, &p, None).await,
        expect(Source::Header, "header")
    );
    let p = parts("/x", &everything[..1]);
    assert_eq!(
        first(&chain, &p, None).await,
        expect(Source::Subdomain, "sub")
    );
    let p = parts("/x", &[]);
    assert_eq!(first(&chain, &p, None).await, Ok(vec![]));
}

#[tokio::test]
async fn chain_stops_at_malformed_input() {
    let chain = all_five();
    // The path is malformed; the valid header after it is not used instead.
    let p = parts("/t/%2e%2e/x", &[("x-tenant-id", "acme")]);
    let got = chain.resolve(&RequestHead::new(&p, None)).await;
    assert!(
        matches!(got, Err(ResolveError::EncodedPathSegment { .. })),
        "{got:?}"
    );
}

#[tokio::test]
async fn all_agree_mode_returns_every_answer() {
    let chain = all_five().mode(Mode::AllAgree);
    assert_eq!(chain.current_mode(), Mode::AllAgree);
    let p = parts(
        "/t/acme/x",
        &[("x-tenant-id", ID), ("host", "acme.app.example.com")],
    );
    let got = chain.resolve(&RequestHead::new(&p, None)).await.unwrap();
    let sources: Vec<_> = got.iter().map(|r| r.source).collect();
    assert_eq!(sources, [Source::Path, Source::Header, Source::Subdomain]);
}

#[tokio::test]
async fn custom_errors_are_the_resolvers_own() {
    let chain = Resolvers::new().custom(from_fn("apikey", |_: &RequestHead<'_>| async {
        Err(ResolveError::custom("apikey", "unknown API key"))
    }));
    let p = parts("/", &[]);
    let got = chain
        .resolve(&RequestHead::new(&p, None))
        .await
        .unwrap_err();
    assert_eq!(got.to_string(), "resolver apikey: unknown API key");
}

#[test]
fn no_tenant_says_where_to_look() {
    let message = all_five().no_tenant().to_string();
    for place in [
        "org claim",
        "cookie",
        "/t/<tenant>",
        "x-tenant-id",
        "<tenant>.app.example.com",
    ] {
        assert!(message.contains(place), "{message} lacks {place}");
    }
    assert!(Resolvers::new().is_empty());
    assert!(!all_five().is_empty());
}
