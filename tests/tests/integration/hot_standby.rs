//! Tenant reads on a streaming hot standby, with the same isolation as on
//! the primary: a TenantPool connected to the standby chooses the
//! extension (kept in backend memory, nothing written) or, without it,
//! bound tokens (nothing kept at all). `scripts/test-services.sh` makes
//! the pair: a primary on 127.0.0.1:5434 and its standby on 5435, made
//! with pg_basebackup (clusters of their own, so `DATABASE_URL`'s server
//! keeps its settings). They are reached as `DATABASE_URL`'s role (it
//! creates the test's database and applies the migration) on those ports;
//! `TENANT_TEST_PRIMARY_URL` and `TENANT_TEST_STANDBY_URL` override where
//! they are. Every read is the application role's, on the standby.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Executor as _};
use tenant_runtime::tx::ContextMechanism;
use tenant_runtime::{SystemPool, TenantPool, TenantTx};
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};

use crate::common::rls_ddl;

/// `var`'s URL, else `DATABASE_URL`'s role on 127.0.0.1:`port`.
fn url(var: &str, port: u16) -> PgConnectOptions {
    let options = match std::env::var(var) {
        Ok(url) => PgConnectOptions::from_str(&url).unwrap_or_else(|e| panic!("{var}: {e}")),
        Err(_) => {
            let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
                panic!("set {var}, or DATABASE_URL (a role that creates databases)")
            });
            PgConnectOptions::from_str(&url)
                .unwrap_or_else(|e| panic!("DATABASE_URL: {e}"))
                .host("127.0.0.1")
                .port(port)
                .database("postgres")
        }
    };
    options.disable_statement_logging()
}

/// A database of its own on the primary, and the same database's options
/// on the standby; dropped on the primary at the end.
struct Pair {
    primary: PgPool,
    primary_opts: PgConnectOptions,
    standby_opts: PgConnectOptions,
    admin: PgPool,
    name: String,
}

impl Pair {
    async fn new() -> Pair {
        let primary_admin = url("TENANT_TEST_PRIMARY_URL", 5434);
        let standby_admin = url("TENANT_TEST_STANDBY_URL", 5435);
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(primary_admin.clone())
            .await
            .unwrap_or_else(|e| {
                panic!("the replica tests' primary is not reachable ({e}): run scripts/test-services.sh")
            });
        let name = format!("tenant_standby_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let primary_opts = primary_admin.database(&name);
        let primary = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(primary_opts.clone())
            .await
            .unwrap();
        Pair {
            primary,
            primary_opts,
            standby_opts: standby_admin.database(&name),
            admin,
            name,
        }
    }

    /// Waits until the standby has replayed everything the primary wrote.
    async fn caught_up(&self) {
        let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&self.primary)
            .await
            .unwrap();
        let standby = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(self.standby_opts.clone().database("postgres"))
            .await
            .unwrap_or_else(|e| {
                panic!("the hot standby is not reachable ({e}): run scripts/test-services.sh")
            });
        let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&standby)
            .await
            .unwrap();
        assert!(in_recovery, "the standby URL is not a hot standby");
        for _ in 0..600 {
            let replayed: bool =
                sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                    .bind(&lsn)
                    .fetch_one(&standby)
                    .await
                    .unwrap();
            if replayed {
                standby.close().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the standby did not replay {lsn} within 30 s");
    }

    async fn drop(self) {
        self.primary.close().await;
        self.admin
            .execute(format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
        self.admin.close().await;
    }
}

async fn names(tx: &mut TenantTx) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
        .fetch_all(tx.conn())
        .await
        .unwrap()
}

/// The migration, two tenants with a project each, on the primary;
/// then, on the standby, each tenant reads its own project only, through
/// the mechanism the pool chose there, and SQL cannot switch tenant.
async fn reads_on_the_standby_are_isolated(extension: bool, expect: ContextMechanism) {
    let pair = Pair::new().await;
    let key = setup::install(&pair.primary, &rls_ddl()).await.unwrap();
    if extension {
        setup::install_extension(&pair.primary).await.unwrap();
    } else {
        setup::remove_extension(&pair.primary).await.unwrap();
    }
    let system = SystemPool::options()
        .max_connections(1)
        .connect_with(pair.primary_opts.clone().username(SYSTEM_ROLE))
        .await
        .unwrap();
    let tx = system.begin().await.unwrap();
    let a = tx.tenants().create("Acme").await.unwrap().id;
    let b = tx.tenants().create("Globex").await.unwrap().id;
    tx.commit().await.unwrap();
    system.close();
    pair.primary
        .execute(
            format!(
                "INSERT INTO projects (tenant_id, name) VALUES ('{a}', 'a-secret'), ('{b}', 'b-secret')"
            )
            .as_str(),
        )
        .await
        .unwrap();
    pair.caught_up().await;

    let replica = TenantPool::options()
        .context_key(key)
        .max_connections(1)
        .connect_with(pair.standby_opts.clone().username(APP_ROLE))
        .await
        .unwrap();
    assert_eq!(replica.mechanism(), Some(expect));
    // The reads below are the application role's: no superuser, no
    // BYPASSRLS, not the tables' owner (any of which skips the policies).
    let mut tx = replica.begin(a).await.unwrap();
    let (superuser, bypass, owner): (bool, bool, bool) = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls, \
                pg_has_role(current_user, c.relowner, 'USAGE') \
           FROM pg_roles r, pg_class c \
          WHERE r.rolname = current_user AND c.oid = 'public.projects'::regclass",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert!(
        !superuser && !bypass && !owner,
        "the standby's reads must be subject to RLS"
    );
    drop(tx);
    for (mine, theirs) in [(a, b), (b, a)] {
        let mut tx = replica.begin(mine).await.unwrap();
        let own = format!("{}-secret", if mine == a { "a" } else { "b" });
        assert_eq!(names(&mut tx).await, [own.as_str()]);
        // The forgeries of the attacks, on a standby.
        for forge in [
            format!("SELECT set_config('app.current_tenant', '{theirs}', true)"),
            format!(
                "SET LOCAL tenancy.token = 'b1.1.{theirs}..{}'",
                "0".repeat(64)
            ),
        ] {
            // Own rows still, or none at all (a forged token replaces the
            // transaction's own): never the other tenant's.
            tx.conn().execute("SAVEPOINT forge").await.unwrap();
            tx.conn().execute(sqlx::raw_sql(&forge)).await.unwrap();
            let read: Result<Vec<String>, _> =
                sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
                    .fetch_all(tx.conn())
                    .await;
            match read {
                Ok(read) => assert_eq!(read, [own.as_str()], "{forge}"),
                Err(e) => assert_eq!(
                    e.as_database_error().and_then(|d| d.code()).as_deref(),
                    Some("TN001"),
                    "{forge}"
                ),
            }
            tx.conn()
                .execute("ROLLBACK TO SAVEPOINT forge")
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    // A standby takes no writes, of any tenant.
    let mut tx = replica.begin(a).await.unwrap();
    let err = sqlx::query("INSERT INTO projects (name) VALUES ('x')")
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("25006")
    );
    drop(tx);
    // Outside a tenant transaction: nothing.
    let mut global = replica.begin_global().await.unwrap();
    let err = sqlx::query("SELECT name FROM projects")
        .fetch_all(global.conn())
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("TN001")
    );
    global.rollback().await.unwrap();
    // A deleted tenant cannot be entered on the standby once the deletion
    // is replayed.
    let system = SystemPool::options()
        .max_connections(1)
        .connect_with(pair.primary_opts.clone().username(SYSTEM_ROLE))
        .await
        .unwrap();
    let tx = system.begin().await.unwrap();
    tx.tenants().delete(b).await.unwrap();
    tx.commit().await.unwrap();
    system.close();
    pair.caught_up().await;
    let err = replica.begin(b).await.unwrap_err();
    assert!(
        matches!(err, tenant_runtime::Error::TenantDeleted { tenant } if tenant == b),
        "{err:?}"
    );
    replica.close();
    pair.drop().await;
}

#[tokio::test]
async fn reads_on_a_hot_standby_are_isolated_with_the_extension() {
    reads_on_the_standby_are_isolated(true, ContextMechanism::Extension).await;
}

#[tokio::test]
async fn reads_on_a_hot_standby_are_isolated_with_bound_tokens() {
    reads_on_the_standby_are_isolated(false, ContextMechanism::Bound).await;
}
