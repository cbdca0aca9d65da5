//! The example service over real HTTP, as the application role, with two
//! tenants.

mod common;
mod members;
mod upgrade;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenant_saas_example::auth;
use tenant_testing::{SigningKey, TestTokens};

use common::{SECRET, Service};

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_tenant_never_sees_or_reaches_another_tenants_rows() {
    let s = Service::start().await;
    let (a, b) = (s.token(0), s.token(1));
    let made = s
        .post(
            "/projects",
            &a,
            json!({"name": "Apollo", "tasks": ["launch"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.json);
    assert_eq!(made.json["tenant_id"], s.id(0).to_string());
    assert_eq!(made.json["tasks"][0]["title"], "launch");
    let id = made.json["id"].as_i64().unwrap();
    s.post("/projects", &b, json!({"name": "Gemini"})).await;

    assert_eq!(names(&s.get("/projects", &a).await.json), ["Apollo"]);
    assert_eq!(names(&s.get("/projects", &b).await.json), ["Gemini"]);
    let path = format!("/projects/{id}");
    assert_eq!(s.get(&path, &a).await.json["name"], "Apollo");
    for reach in [
        s.get(&path, &b).await,
        s.get(&format!("{path}/tasks"), &b).await,
        s.post(&format!("{path}/tasks"), &b, json!({"title": "sabotage"}))
            .await,
    ] {
        assert_eq!(reach.refusal(), (404, "project_not_found"), "{reach:?}");
    }
    assert_eq!(s.count_all("tasks", "title = 'sabotage'").await, 0);

    // Under /t/{tenant}, the path must name the token's tenant.
    let own = s.get(&format!("/t/{}/projects", s.slug(0)), &a).await;
    assert_eq!(names(&own.json), ["Apollo"]);
    let other = s.get(&format!("/t/{}/projects", s.slug(1)), &a).await;
    assert_eq!(other.refusal(), (400, "tenant_conflict"));
    let tasks = s.get(&format!("/t/{}{path}/tasks", s.slug(0)), &a).await;
    assert_eq!(tasks.json["items"][0]["title"], "launch");
    s.stop().await;
}

#[tokio::test]
async fn pages_follow_each_other_and_bad_pages_are_refused() {
    let s = Service::start().await;
    let a = s.token(0);
    let expected: Vec<String> = (0..7).map(|i| format!("project {i}")).collect();
    for name in &expected {
        let made = s.post("/projects", &a, json!({ "name": name })).await;
        assert_eq!(made.status, StatusCode::CREATED);
    }
    s.post("/projects", &s.token(1), json!({"name": "not acme's"}))
        .await;
    let mut seen = Vec::new();
    let mut path = "/projects?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = s.get(&path, &a).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.json);
        let items = names(&page.json);
        assert!(items.len() <= 3);
        seen.extend(items);
        pages += 1;
        match page.json["next_after"].as_i64() {
            Some(after) => path = format!("/projects?limit=3&after={after}"),
            None => break,
        }
    }
    assert_eq!((seen, pages), (expected, 3));
    let all = s.get("/projects", &a).await;
    assert_eq!(
        (names(&all.json).len(), &all.json["next_after"]),
        (7, &Value::Null)
    );

    for bad in ["limit=0", "limit=101", "limit=ten", "after=x"] {
        let got = s.get(&format!("/projects?{bad}"), &a).await;
        assert_eq!(got.refusal(), (400, "invalid_page"), "{bad}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_failed_request_leaves_none_of_its_writes() {
    let s = Service::start().await;
    let a = s.token(0);
    // The project and the first task are written before the empty title
    // is found; the 400 rolls both back.
    let failed = s
        .post(
            "/projects",
            &a,
            json!({"name": "Doomed", "tasks": ["fine", " "]}),
        )
        .await;
    assert_eq!(failed.refusal(), (400, "invalid_text"));
    assert!(
        failed.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tasks[1]")
    );
    assert_eq!(s.count_all("projects", "name = 'Doomed'").await, 0);
    assert_eq!(s.count_all("tasks", "title = 'fine'").await, 0);

    // A duplicate name fails in the database: 409, and the transaction
    // (with the rows before it) is rolled back too.
    s.post("/projects", &a, json!({"name": "Once"})).await;
    let twice = s
        .post("/projects", &a, json!({"name": "Once", "tasks": []}))
        .await;
    assert_eq!(twice.refusal(), (409, "taken"));
    assert_eq!(s.count_all("projects", "name = 'Once'").await, 1);
    // The same name in another tenant is fine.
    let other = s
        .post("/projects", &s.token(1), json!({"name": "Once"}))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    s.stop().await;
}

#[tokio::test]
async fn each_refusal_has_its_status_and_code() {
    let s = Service::start().await;
    let a = s.token(0);
    let t = &s.tokens;
    let stranger = t.sign(&t.claims(Some(uuid::Uuid::new_v4().into()), "x"));
    let expired = t.mint_expired(s.id(0), s.owners[0]);
    let not_a_user = t.sign(&t.claims(Some(s.id(0)), "dev@example.com"));
    // Signed with another secret: the service's verifier refuses it, so
    // the minter is built without its check.
    let other_key = SigningKey::hs256("another-secret-another-secret-123").unwrap();
    let verifier = auth::verifier(SECRET).unwrap();
    let forged = TestTokens::unchecked(&verifier, other_key).sign(&t.claims(Some(s.id(0)), "x"));
    let mut claims = t.claims(None, "x");
    claims.insert(auth::TENANT_CLAIM.to_owned(), "Not A Tenant!".into());
    let bad_claim = t.sign(&claims);
    let cases = [
        (
            "/t/Not_A_Slug/projects",
            Some(a.as_str()),
            400,
            "malformed_tenant",
        ),
        ("/projects/abc", Some(a.as_str()), 400, "invalid_path"),
        ("/projects", None, 401, "missing_token"),
        (
            "/projects",
            Some(forged.as_str()),
            401,
            "token_bad_signature",
        ),
        ("/projects", Some(expired.as_str()), 401, "token_expired"),
        ("/projects", Some("not-a-token"), 401, "token_malformed"),
        (
            "/projects",
            Some(bad_claim.as_str()),
            401,
            "token_tenant_claim",
        ),
        (
            "/projects",
            Some(stranger.as_str()),
            404,
            "tenant_not_found",
        ),
        (
            "/projects/999999",
            Some(a.as_str()),
            404,
            "project_not_found",
        ),
        // A valid token whose sub is no user id acts for nobody.
        ("/projects", Some(not_a_user.as_str()), 403, "not_a_member"),
        ("/me/organisations", None, 401, "missing_token"),
        (
            "/me/organisations",
            Some("not-a-token"),
            401,
            "token_malformed",
        ),
        (
            "/me/organisations",
            Some(not_a_user.as_str()),
            401,
            "token_invalid_claim",
        ),
    ];
    for (path, token, status, code) in cases {
        let got = s.call(Method::GET, path, token, None).await;
        assert_eq!(got.refusal(), (status, code), "{path}: {:?}", got.json);
        assert!(!got.json["error"]["message"].as_str().unwrap().is_empty());
    }
    let health = s.call(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);

    // The database goes away (the pool is closed): 503 with Retry-After.
    s.app.close();
    let down = s.get("/projects", &a).await;
    assert_eq!(down.refusal(), (503, "database_unavailable"));
    assert!(down.retry_after);
    s.stop().await;
}
