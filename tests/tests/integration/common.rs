//! A fresh database per test (from `#[sqlx::test]`), the RLS DDL applied by
//! the owner, and pools for the two roles production uses:
//!
//! - `tenant_rt_app`: LOGIN, not superuser, no BYPASSRLS, owns nothing. Every
//!   isolation assertion runs as this role.
//! - `tenant_rt_system`: LOGIN BYPASSRLS, for cross-tenant work; the app role
//!   is not a member of it.
//!
//! The tables are created (and so owned) by the `DATABASE_URL` user; only
//! setup runs as that user.

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{SystemPool, TenantId, TenantPool, ddl, registry};
use tenant_tests::setup;

pub(crate) use tenant_tests::mechanism::Mechanism;

pub(crate) use tenant_tests::setup::{APP_ROLE, SYSTEM_ROLE};

/// One test's database.
pub(crate) struct TestDb {
    /// The owner's pool: setup and catalog reads only.
    pub(crate) owner: PgPool,
    /// The application role's pool.
    pub(crate) app: TenantPool,
    /// The system role's pool.
    pub(crate) system: SystemPool,
    /// Two tenants, created through the system role.
    pub(crate) tenants: [TenantId; 2],
    /// The context key installed in the database.
    pub(crate) key: ContextKey,
    /// How the application role's pools enter tenants.
    pub(crate) mechanism: Mechanism,
    connect: PgConnectOptions,
}

impl TestDb {
    /// Creates the roles if needed, applies the DDL, grants, and makes two tenants.
    pub(crate) async fn new(connect: PgConnectOptions) -> TestDb {
        Self::with_ddl(connect, &rls_ddl()).await
    }

    /// Raw sqlx pool of the application role connected as the test's
    /// mechanism connects (through PgBouncer for that one).
    pub(crate) async fn app_raw_pool(&self, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(self.mechanism.connect(&self.connect, APP_ROLE))
            .await
            .unwrap()
    }

    /// Like [`TestDb::new`], the application role's pools entering
    /// tenants with `mechanism`.
    pub(crate) async fn with_mechanism(connect: PgConnectOptions, mechanism: Mechanism) -> TestDb {
        Self::build(connect, &rls_ddl(), mechanism).await
    }

    /// Like [`TestDb::new`] with other DDL (a broken schema, say).
    pub(crate) async fn with_ddl(connect: PgConnectOptions, sql: &str) -> TestDb {
        Self::build(connect, sql, Mechanism::Session).await
    }

    async fn build(connect: PgConnectOptions, sql: &str, mechanism: Mechanism) -> TestDb {
        let owner = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(connect.clone())
            .await
            .unwrap();
        let key = setup::install(&owner, sql)
            .await
            .unwrap_or_else(|e| panic!("set-up failed: {e}"));
        mechanism
            .install(&owner)
            .await
            .unwrap_or_else(|e| panic!("{mechanism:?} set-up failed: {e}"));
        let app = mechanism
            .pool_options(key.clone())
            .max_connections(4)
            .connect_with(mechanism.connect(&connect, APP_ROLE))
            .await
            .expect("app role is subject to RLS");
        assert_eq!(app.mechanism(), Some(mechanism.expected()));
        let system = SystemPool::options()
            .max_connections(2)
            .connect_with(connect.clone().username(SYSTEM_ROLE))
            .await
            .expect("system role bypasses RLS");
        let tenants = {
            let tx = system.begin().await.unwrap();
            let a = tx.tenants().create("Acme Corp").await.unwrap().id;
            let b = tx.tenants().create("Globex").await.unwrap().id;
            tx.commit().await.unwrap();
            [a, b]
        };
        TestDb {
            owner,
            app,
            system,
            tenants,
            key,
            mechanism,
            connect,
        }
    }

    /// A plain sqlx pool for `role` on this database, for raw SQL outside
    /// the library's transactions.
    pub(crate) async fn pool_as(&self, role: &str, max: u32) -> PgPool {
        role_pool(&self.connect, role, max).await
    }

    /// A tenant pool of its own, of `max` connections (1: every
    /// transaction reuses the same connection).
    pub(crate) async fn tenant_pool(&self, max: usize) -> TenantPool {
        self.tenant_pool_with(self.key.clone(), max).await.unwrap()
    }

    /// A tenant pool of the test's mechanism with `key`, or why it could
    /// not connect.
    pub(crate) async fn tenant_pool_with(
        &self,
        key: ContextKey,
        max: usize,
    ) -> tenant_runtime::Result<TenantPool> {
        self.mechanism
            .pool_options(key)
            .max_connections(max)
            .connect_with(self.mechanism.connect(&self.connect, APP_ROLE))
            .await
    }

    /// Connect options for `role` on this database.
    pub(crate) fn connect_as(&self, role: &str) -> PgConnectOptions {
        self.connect.clone().username(role)
    }

    /// Closes every pool, so `#[sqlx::test]` can drop the database (and
    /// the connections PgBouncer keeps to it).
    pub(crate) async fn close(self) {
        self.app.close();
        self.system.close();
        if self.mechanism == Mechanism::PgBouncer {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&self.owner)
            .await
            .unwrap();
        }
        self.owner.close().await;
    }
}

/// The DDL `emit-rls` prints for the example models.
pub(crate) fn rls_ddl() -> String {
    tenant_tests::link();
    ddl::emit(registry::tables().expect("example models register cleanly"))
}

/// Applies `sql` in one transaction, as a migration would.
pub(crate) async fn apply(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.unwrap();
    tx.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("DDL failed: {e}"));
    tx.commit().await.unwrap();
}

async fn role_pool(connect: &PgConnectOptions, role: &str, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .connect_with(connect.clone().username(role))
        .await
        .unwrap_or_else(|e| panic!("connect as {role}: {e}"))
}

/// Inserts a project named `name` for `tenant` through raw SQL in a
/// tenant transaction of its own.
pub(crate) async fn insert_project(pool: &TenantPool, tenant: TenantId, name: &str) {
    let mut tx = pool.begin(tenant).await.unwrap();
    sqlx::query("INSERT INTO projects (name) VALUES ($1)")
        .bind(name)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}
