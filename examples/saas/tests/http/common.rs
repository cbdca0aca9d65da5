//! A fresh database per test, made and set up by tenant-testing
//! (`TestDb::create`: a random name, so a checkout running the same tests
//! on the same server never collides with these) the way the README
//! deploys: roles of the test's own (what `saas-tenant roles --apply`
//! makes), the committed migrations applied by the owner, the grants
//! again, a context key; then two tenants with an owner each (Ada of
//! Acme, Dan of Globex), and the service on an ephemeral port of
//! 127.0.0.1, connected as the application role (and the system role,
//! for sign-up). Tokens come from tenant-testing's minter for the
//! service's own verifier. Under `#[sqlx::test(migrations = false)]`,
//! `.setup(&opts)` in place of `.create()` sets up sqlx's database.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenant_members::{Membership, Role};
use tenant_runtime::{SystemPool, Tenant, TenantId, TenantPool, UserId};
use tenant_saas_example::{auth, db, router};
use tenant_testing::{SigningKey, TestDb, TestTokens};

pub(crate) const SECRET: &str = "test-secret-test-secret-test-secret!";

pub(crate) struct Service {
    pub(crate) addr: SocketAddr,
    pub(crate) app: TenantPool,
    pub(crate) system: SystemPool,
    /// Acme (`acme`) and Globex (`globex`).
    pub(crate) tenants: [Tenant; 2],
    /// Their owners: Ada (ada@example.com) and Dan (dan@example.com).
    pub(crate) owners: [UserId; 2],
    /// Tokens the service's verifier accepts.
    pub(crate) tokens: TestTokens,
    db: TestDb,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Service {
    pub(crate) async fn start() -> Service {
        let db = TestDb::builder()
            .migrations(&db::MIGRATOR)
            .tenants(["Acme", "Globex"])
            .create()
            .await
            .expect("the test database is set up");
        let (app, system) = (db.app().clone(), db.system().clone());
        let tenants = [db.tenant(0).clone(), db.tenant(1).clone()];
        let tx = system.begin().await.unwrap();
        let mut owners = Vec::new();
        for (tenant, email) in [
            (&tenants[0], "ada@example.com"),
            (&tenants[1], "dan@example.com"),
        ] {
            let user = UserId::new_v4();
            tenant_members::users::create_user(&tx, user, email, "")
                .await
                .unwrap();
            Membership::system(&tx)
                .insert(&Membership::new(tenant.id, user, Role::Owner))
                .await
                .unwrap();
            owners.push(user);
        }
        tx.commit().await.unwrap();
        let verifier = auth::verifier(SECRET).expect("valid secret");
        let tokens = TestTokens::new(&verifier, SigningKey::hs256(SECRET).unwrap())
            .await
            .expect("the service's verifier accepts the test tokens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = router(app.clone(), system.clone(), SECRET).expect("valid layer");
        // The listener is bound, so requests queue until serve accepts them.
        let server = tokio::spawn(async move {
            axum::serve(listener, routes).await.expect("serves");
        });
        Service {
            addr,
            app,
            system,
            tenants,
            owners: [owners[0], owners[1]],
            tokens,
            db,
            client: reqwest::Client::new(),
            server,
        }
    }

    pub(crate) fn id(&self, n: usize) -> TenantId {
        self.tenants[n].id
    }

    pub(crate) fn slug(&self, n: usize) -> &str {
        &self.tenants[n].slug
    }

    /// A valid token for tenant `n`'s owner there.
    pub(crate) fn token(&self, n: usize) -> String {
        self.token_as(n, self.owners[n])
    }

    /// A valid token for `user` in tenant `n`.
    pub(crate) fn token_as(&self, n: usize, user: UserId) -> String {
        self.tokens.mint(self.id(n), user)
    }

    /// `method path` with `token` as bearer and `body` as JSON.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.addr));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let retry_after = response.headers().contains_key("retry-after");
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            json,
            retry_after,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub(crate) async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Every row of `table` (any tenant), read as the system role.
    pub(crate) async fn count_all(&self, table: &str, filter: &str) -> i64 {
        let tx = self.system.begin().await.unwrap();
        let sql = format!("SELECT count(*) FROM {table} WHERE {filter}");
        let (n,): (i64,) = tx.raw(&sql).fetch_one().await.unwrap();
        tx.commit().await.unwrap();
        n
    }

    pub(crate) async fn stop(self) {
        self.server.abort();
        self.db.close().await.expect("the test roles are dropped");
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) json: Value,
    pub(crate) retry_after: bool,
}

impl Answer {
    pub(crate) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// `(status, error code)`, to compare in one assertion.
    pub(crate) fn refusal(&self) -> (u16, &str) {
        (self.status.as_u16(), self.code())
    }
}
