//! What the emitted DDL does to raw SQL run as the application role.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, Row};
use tenant_runtime::{Error, TenantId};

use crate::common::{APP_ROLE, TestDb};

/// Runs `sql` in a transaction of `tenant` and returns the error it raised.
async fn fails_in(db: &TestDb, tenant: TenantId, sql: &str) -> Error {
    let mut tx = db.app.begin(tenant).await.unwrap();
    let err = tx.conn().execute(sql).await.expect_err(sql);
    Error::from(err)
}

async fn insert_project(db: &TestDb, tenant: TenantId, name: &str) -> i64 {
    let mut tx = db.app.begin(tenant).await.unwrap();
    let id: i64 = sqlx::query_scalar("INSERT INTO projects (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn project_names(db: &TestDb, tenant: TenantId) -> Vec<String> {
    let mut tx = db.app.begin(tenant).await.unwrap();
    let names = sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    names
}

#[sqlx::test]
async fn the_app_role_is_not_superuser_bypassrls_or_owner(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let row = sqlx::query(
        "SELECT r.rolsuper, r.rolbypassrls, \
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relname IN ('projects', 'users', 'tasks', 'tenants')) \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&db.pool_as(APP_ROLE, 1).await)
    .await
    .unwrap();
    assert!(!row.get::<bool, _>(0), "superuser");
    assert!(!row.get::<bool, _>(1), "bypassrls");
    assert_eq!(row.get::<i64, _>(2), 0, "{APP_ROLE} owns tables");
    db.close().await;
}

#[sqlx::test]
async fn each_tenant_sees_only_its_own_rows(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    insert_project(&db, a, "apollo").await;
    insert_project(&db, a, "artemis").await;
    insert_project(&db, b, "borealis").await;

    assert_eq!(project_names(&db, a).await, ["apollo", "artemis"]);
    assert_eq!(project_names(&db, b).await, ["borealis"]);

    // Even naming the other tenant's id in the WHERE clause finds nothing.
    let mut tx = db.app.begin(b).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(a)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(n, 0);
    drop(tx);

    // Setting the tenant the way @usebetterdev/tenant does (set_config in
    // a transaction) enters nothing for this role: the policies want the
    // context only TenantPool::begin sets (compat.rs covers the opt-in
    // role that may).
    let raw = db.pool_as(APP_ROLE, 1).await;
    let mut conn = raw.acquire().await.unwrap();
    conn.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(b.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = sqlx::query_scalar::<_, String>("SELECT name FROM projects")
        .fetch_all(&mut *conn)
        .await
        .unwrap_err();
    assert!(matches!(Error::from(err), Error::NoTenantContext));
    conn.execute("ROLLBACK").await.unwrap();
    drop(conn);
    raw.close().await;
    db.close().await;
}

#[sqlx::test]
async fn no_tenant_fails_closed_with_the_projects_own_error(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    insert_project(&db, db.tenants[0], "apollo").await;
    let raw = db.pool_as(APP_ROLE, 2).await;
    let pool = &raw;

    // Outside any transaction, after a COMMIT ('' on a pooled connection),
    // with an empty or a malformed setting: never a cast error, never rows.
    for setup in [
        None,
        Some("SELECT set_config('app.current_tenant', '', true)"),
        Some("SELECT set_config('app.current_tenant', 'acme', true)"),
    ] {
        let mut conn = pool.acquire().await.unwrap();
        conn.execute("BEGIN").await.unwrap();
        if let Some(setup) = setup {
            conn.execute(setup).await.unwrap();
        }
        let err = sqlx::query("SELECT * FROM projects")
            .fetch_all(&mut *conn)
            .await
            .unwrap_err();
        let db_err = err.as_database_error().expect("a database error");
        assert_eq!(
            db_err.code().as_deref(),
            Some("TN001"),
            "{setup:?}: {db_err}"
        );
        assert!(
            db_err.message().starts_with("no tenant context"),
            "{}",
            db_err.message()
        );
        assert!(matches!(Error::from(err), Error::NoTenantContext));
        conn.execute("ROLLBACK").await.unwrap();
    }

    // A tenant transaction commits, then the same connection runs with no
    // tenant.
    let pool_of_one = db.tenant_pool(1).await;
    pool_of_one
        .begin(db.tenants[0])
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    let mut global = pool_of_one.begin_global().await.unwrap();
    let setting: String = sqlx::query_scalar("SELECT current_setting('app.current_tenant', true)")
        .fetch_one(global.conn())
        .await
        .unwrap();
    assert_eq!(setting, "", "the pooled connection reads '' after COMMIT");
    let err = sqlx::query("SELECT count(*) FROM projects")
        .fetch_one(global.conn())
        .await
        .unwrap_err();
    assert!(matches!(Error::from(err), Error::NoTenantContext));
    drop(global);

    // The hint says what to do.
    let err = sqlx::query("SELECT 1 FROM users")
        .fetch_all(&raw)
        .await
        .unwrap_err();
    let pg = err
        .as_database_error()
        .unwrap()
        .downcast_ref::<sqlx::postgres::PgDatabaseError>();
    assert!(
        pg.hint().unwrap_or_default().contains("tenant transaction"),
        "{:?}",
        pg.hint()
    );
    pool_of_one.close();
    raw.close().await;
    db.close().await;
}

#[sqlx::test]
async fn insert_without_tenant_id_gets_the_current_tenant(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    for tenant in [a, b] {
        let mut tx = db.app.begin(tenant).await.unwrap();
        let stored: TenantId = sqlx::query_scalar(
            "INSERT INTO users (email, name) VALUES ('x@y.z', 'X') RETURNING tenant_id",
        )
        .fetch_one(tx.conn())
        .await
        .unwrap();
        assert_eq!(stored, tenant);
        tx.commit().await.unwrap();
    }
    db.close().await;
}

#[sqlx::test]
async fn writing_into_another_tenant_is_refused(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let a_project = insert_project(&db, a, "apollo").await;
    insert_project(&db, b, "borealis").await;

    let err = fails_in(
        &db,
        b,
        &format!("INSERT INTO projects (tenant_id, name) VALUES ('{a}', 'planted')"),
    )
    .await;
    // The facts come from the error's fields, not its message.
    let Error::CrossTenantWrite {
        table,
        expected,
        found,
    } = err
    else {
        panic!("insert: {err:?}")
    };
    assert_eq!(
        (table.as_str(), expected, found),
        ("public.projects", Some(b), Some(a))
    );

    // Moving one's own row to another tenant is refused, not silently done.
    let err = fails_in(&db, b, &format!("UPDATE projects SET tenant_id = '{a}'")).await;
    let Error::CrossTenantWrite {
        table,
        expected,
        found,
    } = err
    else {
        panic!("move: {err:?}")
    };
    assert_eq!(
        (table.as_str(), expected, found),
        ("public.projects", Some(b), Some(a))
    );

    // Updating or deleting another tenant's row touches nothing.
    let mut tx = db.app.begin(b).await.unwrap();
    let updated = sqlx::query("UPDATE projects SET name = 'hijacked' WHERE id = $1")
        .bind(a_project)
        .execute(tx.conn())
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(a_project)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!((updated.rows_affected(), deleted.rows_affected()), (0, 0));
    tx.commit().await.unwrap();
    assert_eq!(project_names(&db, a).await, ["apollo"]);
    db.close().await;
}

#[sqlx::test]
async fn even_the_system_role_cannot_move_a_row_between_tenants(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    insert_project(&db, a, "apollo").await;
    let mut tx = db.system.begin().await.unwrap();
    let err = sqlx::query("UPDATE projects SET tenant_id = $1")
        .bind(b)
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(matches!(Error::from(err), Error::CrossTenantWrite { .. }));
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn a_task_cannot_reference_another_tenants_project(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let a_project = insert_project(&db, a, "apollo").await;
    let b_project = insert_project(&db, b, "borealis").await;

    let err = fails_in(
        &db,
        b,
        &format!(
            "INSERT INTO tasks (project_id, title, done) VALUES ({a_project}, 'sneak', false)"
        ),
    )
    .await;
    let Error::ReferenceMissing { table, constraint } = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (table.as_str(), constraint.as_str()),
        ("public.tasks", "tasks_tenant_id_project_id_fkey")
    );

    // The same insert against the tenant's own project works.
    let mut tx = db.app.begin(b).await.unwrap();
    sqlx::query("INSERT INTO tasks (project_id, title, done) VALUES ($1, 'ok', false)")
        .bind(b_project)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn the_same_email_in_two_tenants_is_fine_twice_in_one_is_refused(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let insert = "INSERT INTO users (email, name) VALUES ('ada@example.com', 'Ada')";
    for tenant in db.tenants {
        let mut tx = db.app.begin(tenant).await.unwrap();
        tx.conn().execute(insert).await.unwrap();
        tx.commit().await.unwrap();
    }
    let err = fails_in(&db, db.tenants[0], insert).await;
    let Error::UniqueViolation {
        table, constraint, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (table.as_str(), constraint.as_str()),
        ("public.users", "users_tenant_id_email_key")
    );
    db.close().await;
}

#[sqlx::test]
async fn only_the_system_role_writes_the_tenants_table(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let raw = db.pool_as(APP_ROLE, 1).await;
    let pool = &raw;
    // Readable for resolution...
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 2);
    // ...but not writable, even with table grants.
    let err = sqlx::query("INSERT INTO tenants (name, slug) VALUES ('Evil', 'evil')")
        .execute(pool)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{err}"
    );
    let renamed = sqlx::query("UPDATE tenants SET name = 'pwned'")
        .execute(pool)
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM tenants")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!((renamed.rows_affected(), deleted.rows_affected()), (0, 0));
    raw.close().await;
    db.close().await;
}
