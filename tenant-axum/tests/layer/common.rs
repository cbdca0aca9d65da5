//! A fresh database per test (from `#[sqlx::test]`), the RLS DDL of the
//! model below applied by the owner, two tenants, and the application
//! role's pool, which is what the layer runs as: LOGIN, not superuser, no
//! BYPASSRLS, owns no table (the same roles as the workspace's tests).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Row};
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{SystemPool, Tenant, TenantId, TenantPool, TenantScoped, ddl, registry};
use tower::ServiceExt;

pub(crate) const APP_ROLE: &str = "tenant_rt_app";
pub(crate) const SYSTEM_ROLE: &str = "tenant_rt_system";

/// A tenant's project; names are unique within a tenant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects", unique(tenant_id, name))]
pub(crate) struct Project {
    #[tenant(primary_key, generated)]
    pub(crate) id: i64,
    pub(crate) tenant_id: TenantId,
    pub(crate) name: String,
}

pub(crate) struct TestDb {
    pub(crate) owner: PgPool,
    pub(crate) app: TenantPool,
    pub(crate) system: SystemPool,
    /// Acme Corp (`acme-corp`) and Globex (`globex`).
    pub(crate) tenants: [Tenant; 2],
}

impl TestDb {
    pub(crate) async fn new(connect: PgConnectOptions) -> TestDb {
        let owner = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(connect.clone())
            .await
            .expect("owner connects");
        ensure_roles(&owner).await;
        let tables = registry::tables().expect("the test model registers");
        let mut tx = owner.begin().await.unwrap();
        tx.execute(ddl::emit(tables).as_str())
            .await
            .expect("DDL applies");
        tx.commit().await.unwrap();
        // Least privilege as `tenant roles` sets it: table grants, no TEMP
        // (a temporary table could stand in for the tenancy session), and
        // a context key for the tenant pool.
        let grant = format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SYSTEM_ROLE};
             DO $$ BEGIN EXECUTE format('REVOKE TEMP ON DATABASE %I FROM PUBLIC', current_database()); END $$;"
        );
        owner.execute(grant.as_str()).await.unwrap();
        let key = ContextKey::generate(1);
        sqlx::query("INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2)")
            .bind(key.id())
            .bind(key.expose_bytes())
            .execute(&owner)
            .await
            .unwrap();
        let app = TenantPool::options()
            .context_key(key)
            .max_connections(4)
            .connect_with(connect.clone().username(APP_ROLE))
            .await
            .expect("the app role is subject to RLS");
        let system = SystemPool::options()
            .max_connections(2)
            .connect_with(connect.clone().username(SYSTEM_ROLE))
            .await
            .expect("the system role bypasses RLS");
        let tx = system.begin().await.unwrap();
        let a = tx.tenants().create("Acme Corp").await.unwrap();
        let b = tx.tenants().create("Globex").await.unwrap();
        tx.commit().await.unwrap();
        TestDb {
            owner,
            app,
            system,
            tenants: [a, b],
        }
    }

    pub(crate) fn id(&self, n: usize) -> TenantId {
        self.tenants[n].id
    }

    pub(crate) fn slug(&self, n: usize) -> &str {
        &self.tenants[n].slug
    }

    /// The project names of tenant `n`, read in a transaction of its own.
    pub(crate) async fn projects(&self, n: usize) -> Vec<String> {
        let tx = self.app.begin(self.id(n)).await.unwrap();
        let mut names: Vec<String> = Project::scoped(&tx)
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        names.sort();
        names
    }

    pub(crate) async fn delete_tenant(&self, n: usize) {
        let tx = self.system.begin().await.unwrap();
        tx.tenants().delete(self.id(n)).await.unwrap();
        tx.commit().await.unwrap();
    }

    pub(crate) async fn close(self) {
        self.app.close();
        self.system.close();
        self.owner.close().await;
    }
}

/// Roles are cluster-wide and tests run in parallel, so a concurrent
/// creation is tolerated; then what the tests rely on is checked.
async fn ensure_roles(owner: &PgPool) {
    for (role, attrs) in [
        (APP_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE"),
        (SYSTEM_ROLE, "LOGIN NOSUPERUSER BYPASSRLS"),
    ] {
        let sql = format!(
            "DO $$ BEGIN CREATE ROLE {role} {attrs}; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        );
        owner.execute(sql.as_str()).await.unwrap();
    }
    let row = sqlx::query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
        .bind(APP_ROLE)
        .fetch_one(owner)
        .await
        .unwrap();
    let (is_super, bypass): (bool, bool) = (row.get(0), row.get(1));
    assert!(!is_super && !bypass, "{APP_ROLE} must be subject to RLS");
}

/// A response, read whole.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) json: Value,
}

impl Answer {
    pub(crate) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub(crate) async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer {
        status,
        headers,
        json,
    }
}

pub(crate) fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder().uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(Body::empty()).unwrap()
}

pub(crate) fn post(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = get(uri, headers);
    *request.method_mut() = axum::http::Method::POST;
    request
}
