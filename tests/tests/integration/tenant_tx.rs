//! `TenantPool` / `TenantTx`: beginning, ending, and what cannot leak.

use std::time::Duration;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use tenant_runtime::{Error, SystemPool, TenantId, TenantPool};
use tenant_tests::Project;
use tenant_tests::wire::RoundTripProxy;

use crate::common::{APP_ROLE, SYSTEM_ROLE, TestDb};

fn project(tenant: TenantId, name: &str) -> Project {
    Project {
        id: 0,
        tenant_id: tenant,
        name: name.to_owned(),
    }
}

async fn count_projects(pool: &TenantPool, tenant: TenantId) -> i64 {
    let tx = pool.begin(tenant).await.unwrap();
    Project::scoped(&tx).count().await.unwrap()
}

/// A tenant pool of exactly one connection, so every transaction reuses it.
async fn pool_of_one(db: &TestDb) -> TenantPool {
    db.tenant_pool(1).await
}

#[sqlx::test]
async fn unknown_and_deleted_tenants_cannot_begin(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let pool = pool_of_one(&db).await;
    let stranger = TenantId::from(uuid::Uuid::new_v4());
    assert!(
        matches!(pool.begin(stranger).await, Err(Error::TenantNotFound { tenant }) if tenant == stranger)
    );
    // The failed begin left the only connection idle, not in an aborted
    // transaction: the next begin on it works.
    pool.begin(a).await.unwrap().commit().await.unwrap();

    let sys = db.system.begin().await.unwrap();
    sys.tenants().delete(b).await.unwrap();
    sys.commit().await.unwrap();
    assert!(matches!(pool.begin(b).await, Err(Error::TenantDeleted { tenant }) if tenant == b));
    pool.begin(a).await.unwrap().commit().await.unwrap();
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn with_tenant_commits_on_ok_and_rolls_back_on_err(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let kept: Result<i64, Error> = db
        .app
        .with_tenant(a, async |tx| {
            assert_eq!(tx.tenant(), a);
            Ok(Project::scoped(tx).insert(&project(a, "kept")).await?.id)
        })
        .await;
    assert!(kept.unwrap() > 0);

    #[derive(Debug)]
    enum AppError {
        Tenant(#[allow(dead_code)] Error),
        Refused,
    }
    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            AppError::Tenant(e)
        }
    }
    let refused: Result<(), AppError> = db
        .app
        .with_tenant(a, async |tx| {
            Project::scoped(tx).insert(&project(a, "discarded")).await?;
            Err(AppError::Refused)
        })
        .await;
    assert!(matches!(refused, Err(AppError::Refused)));
    assert_eq!(count_projects(&db.app, a).await, 1);
    db.close().await;
}

#[sqlx::test]
async fn with_tenant_rolls_back_on_panic(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let pool = pool_of_one(&db).await;
    // tokio::spawn also proves the with_tenant future is Send.
    let spawned = pool.clone();
    let joined = tokio::spawn(async move {
        spawned
            .with_tenant(a, async |tx| {
                Project::scoped(tx).insert(&project(a, "doomed")).await?;
                if tx.tenant() == a {
                    panic!("handler bug");
                }
                Ok::<_, Error>(())
            })
            .await
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(
        count_projects(&pool, a).await,
        0,
        "the insert was rolled back"
    );
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn dropping_an_uncommitted_transaction_rolls_back(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let pool = pool_of_one(&db).await;
    let tx = pool.begin(a).await.unwrap();
    Project::scoped(&tx)
        .insert(&project(a, "dropped"))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(count_projects(&pool, a).await, 0);
    pool.close();
    db.close().await;
}

/// After the only connection of `pool` served tenant `a`, a query with no
/// tenant on the next transaction must fail closed.
async fn assert_no_context_left(pool: &TenantPool) {
    let mut tx = pool.begin_global().await.unwrap();
    let err = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projects")
        .fetch_one(tx.conn())
        .await
        .unwrap_err();
    let err = Error::from(err);
    assert!(matches!(err, Error::NoTenantContext), "{err:?}");
}

#[sqlx::test]
async fn no_tenant_context_survives_on_a_pooled_connection(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let pool = pool_of_one(&db).await;

    // Committed.
    let tx = pool.begin(a).await.unwrap();
    Project::scoped(&tx)
        .insert(&project(a, "committed"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_no_context_left(&pool).await;

    // Rolled back by an error inside with_tenant.
    let _: Result<(), Error> = pool
        .with_tenant(a, async |tx| {
            Project::scoped(tx).insert(&project(a, "committed")).await?;
            Ok(())
        })
        .await;
    assert_no_context_left(&pool).await;

    // Cancelled mid-statement: the future is dropped while the server is
    // still running the query.
    let slow = pool.with_tenant(a, async |tx| {
        sqlx::query("SELECT pg_sleep(0.5)")
            .execute(tx.conn())
            .await?;
        Ok::<_, Error>(())
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(50), slow)
            .await
            .is_err(),
        "cancelled"
    );
    assert_no_context_left(&pool).await;

    // Cancelled between statements.
    let (started, wait) = tokio::sync::oneshot::channel::<()>();
    let parked = pool.with_tenant(a, async |tx| {
        Project::scoped(tx).insert(&project(a, "never")).await?;
        let _ = started.send(());
        std::future::pending::<()>().await;
        Ok::<_, Error>(())
    });
    tokio::select! {
        _ = parked => unreachable!("pending forever"),
        _ = wait => {}
    }
    assert_no_context_left(&pool).await;
    assert_eq!(
        count_projects(&pool, a).await,
        1,
        "only the committed row exists"
    );
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn sql_inside_a_tenant_transaction_cannot_escape_it(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    for (tenant, name) in [(a, "a1"), (b, "b1")] {
        let tx = db.app.begin(tenant).await.unwrap();
        Project::scoped(&tx)
            .insert(&project(tenant, name))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let visible = async |escape: &str| -> Result<Vec<String>, String> {
        let mut tx = db.app.begin(a).await.unwrap();
        let conn = tx.conn();
        let outcome = async {
            conn.execute(escape).await?;
            sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
                .fetch_all(&mut *conn)
                .await
        }
        .await;
        outcome.map_err(|e| e.to_string())
    };

    // The system role is another login; the app role is not a member of it.
    let err = visible(&format!("SET ROLE {SYSTEM_ROLE}"))
        .await
        .unwrap_err();
    assert!(err.contains("permission denied to set role"), "{err}");
    let err = visible(&format!("SET SESSION AUTHORIZATION {SYSTEM_ROLE}"))
        .await
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    // better-tenant's bypass setting means nothing here.
    assert_eq!(
        visible("SELECT set_config('app.bypass_rls', 'true', true)")
            .await
            .unwrap(),
        ["a1"]
    );
    assert_eq!(
        visible("SET LOCAL app.bypass_rls = 'true'").await.unwrap(),
        ["a1"]
    );
    // The setting is only a hint: clearing it leaves the verified tenant.
    for reset in [
        "RESET app.current_tenant",
        "RESET ALL",
        "SELECT set_config('app.current_tenant', '', true)",
    ] {
        assert_eq!(visible(reset).await.unwrap(), ["a1"], "{reset}");
    }
    // Turning row security off makes RLS-filtered queries error, not pass.
    let err = visible("SET LOCAL row_security = off").await.unwrap_err();
    assert!(err.contains("row-level security"), "{err}");
    db.close().await;
}

#[sqlx::test]
async fn pools_refuse_the_wrong_role(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let err = TenantPool::options()
        .context_key(db.key.clone())
        .connect_with(db.connect_as(SYSTEM_ROLE))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RoleBypassesRls { role } if role == SYSTEM_ROLE),
        "{err:?}"
    );
    let err = SystemPool::connect_with(db.connect_as(APP_ROLE))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::SystemRoleLacksBypass { role } if role == APP_ROLE),
        "{err:?}"
    );
    db.close().await;
}

#[sqlx::test]
async fn a_tenant_transaction_costs_no_extra_round_trip(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts.clone()).await;
    let a = db.tenants[0];
    let upstream = format!("{}:{}", opts.get_host(), opts.get_port());
    let upstream = tokio::net::lookup_host(upstream)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = RoundTripProxy::start(upstream).await.unwrap();
    let through_proxy = opts
        .clone()
        .host("127.0.0.1")
        .port(proxy.port())
        .ssl_mode(PgSslMode::Disable);
    let pool = TenantPool::options()
        .context_key(db.key.clone())
        .max_connections(1)
        .connect_with(through_proxy.clone().username(APP_ROLE))
        .await
        .unwrap();
    let sql = "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT 50";
    let scoped_once = async || {
        let tx = pool.begin(a).await.unwrap();
        Project::scoped(&tx).page(50, 0).await.unwrap();
        tx.commit().await.unwrap();
    };
    // The same work written by hand in a plain transaction (as the system
    // role, since without a tenant set the app role sees nothing).
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(through_proxy.username(SYSTEM_ROLE))
        .await
        .unwrap();
    let by_hand_once = async || {
        let mut tx = plain.begin().await.unwrap();
        sqlx::query(sql).bind(a).fetch_all(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    };
    // Warm the statement caches, as a long-running service would be.
    for _ in 0..2 {
        scoped_once().await;
        by_hand_once().await;
    }
    // Waits until both connections are back in their pools, which sqlx
    // does after a ping, so that ping is counted with the request it ends.
    let settled = async || {
        while pool.status().idle < 1 || plain.num_idle() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.round_trips()
    };
    let before = settled().await;
    scoped_once().await;
    let scoped = settled().await - before;
    let before = settled().await;
    by_hand_once().await;
    let by_hand = settled().await - before;
    // begin (with the tenant check and setting), the query, commit. The
    // tenant pool puts a connection back without sqlx's ping on release
    // (it closes one whose transaction did not end cleanly instead), so
    // the scoped request takes one round trip fewer than the plain one.
    assert_eq!(scoped, 3, "begin, query, commit");
    assert_eq!(by_hand, 4, "begin, query, commit, release ping");
    pool.close();
    plain.close().await;
    db.close().await;
}

#[tokio::test]
async fn an_unreachable_database_is_its_own_error() {
    // Nothing listens on port 1; give up after half a second, not sqlx's 30.
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(1)
        .username(APP_ROLE);
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_with(options)
        .await;
    let err = Error::from(pool.unwrap_err());
    assert!(matches!(err, Error::DatabaseUnavailable(_)), "{err:?}");
    assert!(err.to_string().starts_with("database unavailable"), "{err}");
}

/// Log lines written by the work of a tenant transaction, and by its
/// statements, carry the tenant: they run in the transaction's span.
#[sqlx::test]
async fn a_tenant_transaction_logs_in_a_span_with_its_tenant(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for tenant in [a, b] {
        db.app
            .with_tenant(tenant, async |tx| {
                tracing::info!("handler work");
                Project::scoped(tx).count().await
            })
            .await
            .unwrap();
    }
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    for tenant in [a, b] {
        let line = text
            .lines()
            .find(|l| l.contains("handler work") && l.contains(&tenant.to_string()))
            .unwrap_or_else(|| panic!("no log line of tenant {tenant} in:\n{text}"));
        assert!(
            line.contains(&format!("tenant_tx{{tenant={tenant}}}")),
            "{line}"
        );
    }
    db.close().await;
}

#[sqlx::test]
async fn static_select_takes_one_select_and_reads_under_the_policy(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    crate::common::insert_project(&db.app, a, "a-only").await;
    crate::common::insert_project(&db.app, b, "b-only").await;
    let tx = db.app.begin(b).await.unwrap();
    for bad in [
        "UPDATE projects SET name = 'x'",
        "SELECT 1; SELECT 2",
        "  WITH x AS (DELETE FROM projects RETURNING id) SELECT 1",
    ] {
        match tx.static_select::<(i64,)>(bad) {
            Err(Error::NotAStaticSelect { sql }) => assert_eq!(sql, bad),
            Err(other) => panic!("{bad}: {other:?}"),
            Ok(_) => panic!("{bad}: accepted"),
        }
    }
    let names: Vec<(String,)> = tx
        .static_select("SELECT name FROM projects ORDER BY name")
        .unwrap()
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(names, [("b-only".to_owned(),)]);
    tx.commit().await.unwrap();
    db.close().await;
}
