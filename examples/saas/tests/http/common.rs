//! A fresh, empty database per test (`#[sqlx::test(migrations = false)]`:
//! sqlx would otherwise apply `migrations/` as the superuser), set up the
//! way the README does it: the roles from `saas-tenant roles --apply`
//! (under test names), the committed migrations applied by the owner at
//! start-up, the roles again for the tables the migration made; then two
//! tenants with an owner each (Ada of Acme, Dan of Globex), and the
//! service on an ephemeral port of 127.0.0.1, connected as the
//! application role (and the system role, for sign-up).

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use tenant_members::{Membership, Role};
use tenant_runtime::{SystemPool, Tenant, TenantId, TenantPool, UserId};
use tenant_saas_example::db::RoleNames;
use tenant_saas_example::{auth, db, router};

pub(crate) const OWNER_ROLE: &str = "saas_test_owner";
pub(crate) const APP_ROLE: &str = "saas_test_app";
pub(crate) const SYSTEM_ROLE: &str = "saas_test_system";
pub(crate) const SECRET: &str = "test-secret-test-secret-test-secret!";

/// Roles are cluster-wide and `roles` alters them: one test at a time.
pub(crate) static ROLES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) struct Service {
    pub(crate) addr: SocketAddr,
    pub(crate) app: TenantPool,
    pub(crate) system: SystemPool,
    /// Acme (`acme`) and Globex (`globex`).
    pub(crate) tenants: [Tenant; 2],
    /// Their owners: Ada (ada@example.com) and Dan (dan@example.com).
    pub(crate) owners: [UserId; 2],
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Service {
    pub(crate) async fn start(opts: PgConnectOptions) -> Service {
        {
            let _one_at_a_time = ROLES.lock().await;
            let roles = RoleNames {
                owner: OWNER_ROLE,
                app: APP_ROLE,
                system: SYSTEM_ROLE,
            };
            db::apply_roles(&opts, roles).await.expect("roles applies");
            db::migrate(opts.clone().username(OWNER_ROLE))
                .await
                .expect("the owner applies the migrations");
            db::apply_roles(&opts, roles).await.expect("roles applies");
        }
        let key = db::new_context_key(opts.clone().username(OWNER_ROLE))
            .await
            .expect("the owner installs a context key");
        let system = SystemPool::options()
            .max_connections(1)
            .connect_with(opts.clone().username(SYSTEM_ROLE))
            .await
            .expect("the system role bypasses RLS");
        let tx = system.begin().await.unwrap();
        let a = tx.tenants().create("Acme").await.unwrap();
        let b = tx.tenants().create("Globex").await.unwrap();
        let mut owners = Vec::new();
        for (tenant, email) in [(&a, "ada@example.com"), (&b, "dan@example.com")] {
            let user = UserId::new(uuid::Uuid::new_v4());
            tenant_members::users::create_user(&tx, *user.as_uuid(), email, "")
                .await
                .unwrap();
            Membership::system(&tx)
                .insert(&Membership::new(tenant.id, *user.as_uuid(), Role::Owner))
                .await
                .unwrap();
            owners.push(user);
        }
        tx.commit().await.unwrap();
        let app = db::tenant_pool(opts.username(APP_ROLE), 4, key)
            .await
            .expect("the application role is subject to RLS");
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
            tenants: [a, b],
            owners: [owners[0], owners[1]],
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
        auth::mint(SECRET, self.id(n), &user.to_string(), 600).unwrap()
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
        self.app.close();
        self.system.close();
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
