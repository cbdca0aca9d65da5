//! The attacker of SECURITY.md: arbitrary SQL as the application role
//! inside a tenant transaction (through `tx.conn()`, as an injection in a
//! raw query would run it), with two tenants. Each test is one attack;
//! each failed on the design before the signed context (a setting any SQL
//! could write, and a connection returned to the pool as the SQL left it).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, Row};
use tenant_runtime::{Error, TenantId, TenantPool, TenantTx, UserId};

use crate::common::{APP_ROLE, TestDb, insert_project};

/// The SQLSTATE of a failed statement (the test fails on success).
fn code_of<T: std::fmt::Debug>(result: Result<T, sqlx::Error>) -> String {
    let err = result.expect_err("the statement must be refused");
    err.as_database_error()
        .and_then(|db| db.code())
        .unwrap_or_else(|| panic!("not a database error: {err}"))
        .into_owned()
}

/// Runs `sql` behind a savepoint, so a refusal leaves the transaction
/// usable, and returns the SQLSTATE it failed with.
async fn refused(tx: &mut TenantTx, sql: &str) -> String {
    tx.conn().execute("SAVEPOINT attack").await.unwrap();
    let code = code_of(tx.conn().execute(sqlx::raw_sql(sql)).await);
    tx.conn()
        .execute("ROLLBACK TO SAVEPOINT attack")
        .await
        .unwrap();
    code
}

async fn names(tx: &mut TenantTx) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
        .fetch_all(tx.conn())
        .await
        .unwrap()
}

/// A's and B's projects, one each.
async fn two_tenants(opts: PgConnectOptions) -> (TestDb, TenantId, TenantId) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    insert_project(&db.app, a, "a-secret").await;
    insert_project(&db.app, b, "b-secret").await;
    (db, a, b)
}

#[sqlx::test]
async fn setting_the_tenant_from_sql_switches_nothing(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, b) = two_tenants(opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    for forge in [
        format!("SELECT set_config('app.current_tenant', '{b}', true)"),
        format!("SELECT set_config('app.current_tenant', '{b}', false)"),
        format!("SET LOCAL app.current_tenant = '{b}'"),
        format!("SET app.current_tenant = '{b}'"),
    ] {
        // The policies never read the setting: still A's rows only.
        tx.conn().execute(sqlx::raw_sql(&forge)).await.unwrap();
        assert_eq!(names(&mut tx).await, ["a-secret"], "{forge}");
        // The column default follows the forged setting; the policy's
        // WITH CHECK refuses the row it makes.
        let write = "INSERT INTO projects (name) VALUES ('planted')";
        assert_eq!(refused(&mut tx, write).await, "TN003", "{forge}");
        let named = format!("INSERT INTO projects (tenant_id, name) VALUES ('{b}', 'planted')");
        assert_eq!(refused(&mut tx, &named).await, "TN003", "{forge}");
        let moved = format!("UPDATE projects SET tenant_id = '{b}'");
        assert_eq!(refused(&mut tx, &moved).await, "TN003", "{forge}");
    }
    assert_eq!(names(&mut tx).await, ["a-secret"]);
    tx.commit().await.unwrap();

    let mut tx = db.app.begin(b).await.unwrap();
    assert_eq!(names(&mut tx).await, ["b-secret"], "nothing was planted");
    tx.commit().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn a_transaction_ended_by_sql_leaves_no_tenant_behind(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(opts).await;
    for escape in [
        "COMMIT; SELECT name FROM projects",
        "COMMIT; BEGIN; SELECT name FROM projects",
        "ROLLBACK; SELECT name FROM projects",
    ] {
        let mut tx = db.app.begin(a).await.unwrap();
        let code = code_of(tx.conn().execute(sqlx::raw_sql(escape)).await);
        assert_eq!(code, "TN001", "{escape}");
        drop(tx);
    }
    db.close().await;
}

#[sqlx::test]
async fn calling_enter_with_a_made_up_token_is_refused(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, b) = two_tenants(opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    let zero_mac = "0".repeat(64);
    for call in [
        format!("CALL tenancy.enter('{b}'::uuid, NULL::uuid, 1000::int8, '{zero_mac}'::text)"),
        format!(
            "CALL tenancy.enter('{b}'::uuid, NULL::uuid, 9223372036854775807::int8, '{zero_mac}'::text)"
        ),
        format!("CALL tenancy.enter('{b}'::uuid, '{b}'::uuid, 5::int8, 'not hex'::text)"),
        "CALL tenancy.enter(NULL, NULL, NULL, NULL)".to_owned(),
    ] {
        let read = format!("{call}; SELECT name FROM projects");
        assert_eq!(refused(&mut tx, &read).await, "TN007", "{call}");
    }
    // The procedure that switched tenant for anyone is gone.
    assert_eq!(
        refused(&mut tx, &format!("CALL tenancy.enter_tenant('{b}')")).await,
        "42883"
    );
    assert_eq!(names(&mut tx).await, ["a-secret"]);
    tx.commit().await.unwrap();
    db.close().await;
}

/// The begin message of the transaction open on backend `pid`, as
/// `pg_stat_activity` shows it to any session of the same role, without
/// its trailing `BEGIN`.
async fn token_of(tx: &mut TenantTx, pid: i32) -> String {
    // The statistics views are a snapshot taken once per transaction.
    tx.conn()
        .execute("SELECT pg_stat_clear_snapshot()")
        .await
        .unwrap();
    let query: String = sqlx::query_scalar("SELECT query FROM pg_stat_activity WHERE pid = $1")
        .bind(pid)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let call = query
        .strip_suffix("; BEGIN")
        .unwrap_or_else(|| panic!("the begin message is visible: {query}"));
    call.to_owned()
}

async fn backend_pid(tx: &mut TenantTx) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(tx.conn())
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_token_read_from_pg_stat_activity_cannot_be_replayed(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(opts).await;
    // The victim's pool has one connection, so the attacker's later
    // requests through it land on the backend the token was made for.
    let victim_pool = db.tenant_pool(1).await;
    let mut attacker = db.app.begin(a).await.unwrap();

    for victim_ends_with_commit in [false, true] {
        // (The last round's failed replay closed its connection.)
        let mut first = victim_pool.begin(b).await.unwrap();
        let pid = backend_pid(&mut first).await;
        first.commit().await.unwrap();
        // The victim's transaction has run nothing yet: its backend's
        // query text is the begin message.
        let victim = victim_pool.begin(b).await.unwrap();
        let call = token_of(&mut attacker, pid).await;
        assert!(call.contains(&b.to_string()), "{call}");

        // While the victim's transaction is open, on another backend.
        let steal = format!("{call}; SELECT name FROM projects");
        assert_eq!(refused(&mut attacker, &steal).await, "TN007", "{call}");

        if victim_ends_with_commit {
            victim.commit().await.unwrap();
        } else {
            // A rollback does not give the token back: its counter was
            // spent outside the transaction.
            victim.rollback().await.unwrap();
        }
        // On the victim's own backend, in a later request of tenant A: in
        // the transaction, and as a begin message of its own after COMMIT.
        let mut later = victim_pool.begin(a).await.unwrap();
        assert_eq!(backend_pid(&mut later).await, pid, "same backend");
        assert_eq!(refused(&mut later, &steal).await, "TN007");
        let code = code_of(
            later
                .conn()
                .execute(sqlx::raw_sql(&format!(
                    "COMMIT; {call}; BEGIN; SELECT name FROM projects"
                )))
                .await,
        );
        assert_eq!(code, "TN007");
        drop(later);
    }
    assert_eq!(names(&mut attacker).await, ["a-secret"]);
    attacker.commit().await.unwrap();
    victim_pool.close();
    db.close().await;
}

/// The user a transaction acts for is signed into its token with the
/// tenant: SQL reads it and cannot change it, and it is valid in that
/// transaction only.
#[sqlx::test]
async fn the_user_is_signed_in_like_the_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, _) = two_tenants(opts).await;
    let (ada, bob) = (
        UserId::new(uuid::Uuid::new_v4()),
        UserId::new(uuid::Uuid::new_v4()),
    );
    let pool = db.tenant_pool(1).await;

    let mut tx = pool.begin_as(a, ada).await.unwrap();
    assert_eq!(tx.user(), Some(ada));
    let read: Option<uuid::Uuid> = sqlx::query_scalar("SELECT tenancy.current_user_id()")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(read, Some(*ada.as_uuid()));
    let zero_mac = "0".repeat(64);
    let forge =
        format!("CALL tenancy.enter('{a}'::uuid, '{bob}'::uuid, 1000::int8, '{zero_mac}'::text)");
    assert_eq!(refused(&mut tx, &forge).await, "TN007");
    assert_eq!(
        refused(
            &mut tx,
            &format!("CALL tenancy.enter(NULL, '{bob}'::uuid, 1000, '{zero_mac}')")
        )
        .await,
        "TN007"
    );
    tx.commit().await.unwrap();

    // The next transaction on the same connection, begun without a user,
    // has none; one begun for a user without a tenant has the user and
    // still no tenant.
    let mut tx = pool.begin(a).await.unwrap();
    assert_eq!(tx.user(), None);
    let read: Option<uuid::Uuid> = sqlx::query_scalar("SELECT tenancy.current_user_id()")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(read, None);
    tx.commit().await.unwrap();
    let mut global = pool.begin_global_as(bob).await.unwrap();
    assert_eq!(global.user(), Some(bob));
    let read: Option<uuid::Uuid> = sqlx::query_scalar("SELECT tenancy.current_user_id()")
        .fetch_one(global.conn())
        .await
        .unwrap();
    assert_eq!(read, Some(*bob.as_uuid()));
    let code = code_of(
        sqlx::query("SELECT name FROM projects")
            .fetch_all(global.conn())
            .await,
    );
    assert_eq!(code, "TN001");
    global.rollback().await.unwrap();
    let mut global = pool.begin_global().await.unwrap();
    let read: Option<uuid::Uuid> = sqlx::query_scalar("SELECT tenancy.current_user_id()")
        .fetch_one(global.conn())
        .await
        .unwrap();
    assert_eq!(read, None);
    global.rollback().await.unwrap();

    // A transaction that SQL starts has no user.
    let mut tx = pool.begin_as(a, ada).await.unwrap();
    let row = tx
        .conn()
        .fetch_one(sqlx::raw_sql(
            "COMMIT; BEGIN; SELECT tenancy.current_user_id()",
        ))
        .await
        .unwrap();
    assert_eq!(row.get::<Option<uuid::Uuid>, _>(0), None);
    drop(tx);
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn a_deleted_tenant_cannot_be_entered(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, b) = two_tenants(opts).await;
    let tx = db.system.begin().await.unwrap();
    tx.tenants().delete(b).await.unwrap();
    tx.commit().await.unwrap();

    let refused_begin = db.app.begin(b).await.unwrap_err();
    assert!(
        matches!(refused_begin, Error::TenantDeleted { tenant } if tenant == b),
        "{refused_begin:?}"
    );
    // Nor by naming it, from a transaction of A or from no transaction.
    let mut tx = db.app.begin(a).await.unwrap();
    let forged =
        format!("SELECT set_config('app.current_tenant', '{b}', true); SELECT name FROM projects");
    tx.conn().execute(sqlx::raw_sql(&forged)).await.unwrap();
    assert_eq!(names(&mut tx).await, ["a-secret"]);
    tx.commit().await.unwrap();
    let raw = db.pool_as(APP_ROLE, 1).await;
    let mut conn = raw.acquire().await.unwrap();
    let code = code_of(
        conn.execute(sqlx::raw_sql(&format!("BEGIN; {forged}")))
            .await,
    );
    assert_eq!(code, "TN001");
    drop(conn);
    raw.close().await;
    db.close().await;
}

/// What the next transaction on the connection sees of the session.
async fn session_state(tx: &mut TenantTx) -> (String, String, String, i64, i64, i64) {
    let row = sqlx::query(
        "SELECT current_setting('search_path'), current_setting('default_transaction_read_only'), \
                coalesce(current_setting('app.current_tenant', true), ''), \
                (SELECT count(*) FROM pg_cursors), \
                (SELECT count(*) FROM pg_listening_channels()), \
                (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    )
}

#[sqlx::test]
async fn nothing_of_a_transaction_reaches_the_next_on_its_connection(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(opts).await;
    let pool = db.tenant_pool(1).await;
    let mut first = pool.begin(b).await.unwrap();
    let before = session_state(&mut first).await;
    let pid = backend_pid(&mut first).await;
    first.commit().await.unwrap();

    for end_with_commit in [true, false] {
        let mut tx = pool.begin(a).await.unwrap();
        tx.conn()
            .execute(sqlx::raw_sql(&format!(
                "SET app.current_tenant = '{b}'; SET search_path = pg_temp, public; \
                 SET default_transaction_read_only = on; \
                 DECLARE kept CURSOR WITH HOLD FOR SELECT name FROM projects; \
                 LISTEN tenant_leak; SELECT pg_advisory_lock(42)"
            )))
            .await
            .unwrap();
        if end_with_commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }

        let mut next = pool.begin(b).await.unwrap();
        assert_eq!(backend_pid(&mut next).await, pid, "same connection");
        let mut after = session_state(&mut next).await;
        // The setting is B's hint now (B's own begin set it).
        assert_eq!(after.2, b.to_string());
        after.2 = before.2.clone();
        assert_eq!(after, before, "commit: {end_with_commit}");
        assert_eq!(
            refused(&mut next, "FETCH ALL FROM kept").await,
            "34000",
            "the cursor with A's rows is gone"
        );
        // Writable (the read-only default did not survive).
        sqlx::query("INSERT INTO projects (name) VALUES ('b-second')")
            .execute(next.conn())
            .await
            .unwrap();
        next.rollback().await.unwrap();

        // A transaction with no tenant on the same connection reads nothing.
        let mut global = pool.begin_global().await.unwrap();
        let code = code_of(
            sqlx::query("SELECT name FROM projects")
                .fetch_all(global.conn())
                .await,
        );
        assert_eq!(code, "TN001");
        global.rollback().await.unwrap();
    }
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn temporary_tables_are_refused_and_a_temp_grant_stops_the_pool(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    for plant in [
        "CREATE TEMP TABLE projects (id bigint, tenant_id uuid, name text)",
        "CREATE TEMP SEQUENCE tenancy_ctx_at",
        "DISCARD TEMP; CREATE TEMP SEQUENCE tenancy_ctx_at",
    ] {
        assert_eq!(refused(&mut tx, plant).await, "42501", "{plant}");
    }
    tx.commit().await.unwrap();

    // A mistaken grant: connections made before it stop at their next
    // begin, and the pool makes no new ones.
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "GRANT TEMP ON DATABASE \"{database}\" TO {APP_ROLE}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let err = db.app.begin(a).await.unwrap_err();
    assert!(matches!(err, Error::RoleCanCreateTemp), "{err:?}");
    let err = TenantPool::options()
        .context_key(db.key.clone())
        .connect_with(db.connect_as(APP_ROLE))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RoleCanCreateTemp), "{err:?}");
    sqlx::raw_sql(&format!(
        "REVOKE TEMP ON DATABASE \"{database}\" FROM {APP_ROLE}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let tx = db.app.begin(a).await.unwrap();
    tx.commit().await.unwrap();
    db.close().await;
}

/// The attack a mistaken TEMP grant opens while a connection is in use:
/// drop the session's temporary objects and plant look-alikes, a context
/// for tenant B and a session whose secret the attacker chose. Neither is
/// trusted, because the tenancy schema's owner did not make them.
#[sqlx::test]
async fn temporary_objects_planted_during_a_temp_grant_are_never_trusted(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(opts).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let mut tx = db.app.begin(a).await.unwrap();
    sqlx::raw_sql(&format!(
        "GRANT TEMP ON DATABASE \"{database}\" TO {APP_ROLE}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let hex = b.as_uuid().simple().to_string();
    let (hi, lo) = hex.split_at(16);
    let plant_context = format!(
        "DISCARD TEMP;
         CREATE TEMP SEQUENCE tenancy_ctx_hi MINVALUE -9223372036854775808;
         CREATE TEMP SEQUENCE tenancy_ctx_lo MINVALUE -9223372036854775808;
         CREATE TEMP SEQUENCE tenancy_ctx_at MINVALUE -9223372036854775808;
         SELECT setval('tenancy_ctx_hi', ('x{hi}')::bit(64)::bigint),
                setval('tenancy_ctx_lo', ('x{lo}')::bit(64)::bigint),
                setval('tenancy_ctx_at', (EXTRACT(EPOCH FROM transaction_timestamp()) * 1000000)::bigint);"
    );
    tx.conn()
        .execute(sqlx::raw_sql(&plant_context))
        .await
        .unwrap();
    assert_eq!(refused(&mut tx, "SELECT name FROM projects").await, "TN001");
    let plant_session = "
        CREATE TEMP TABLE tenancy_session (key_id integer, database_id oid, ipad bytea, opad bytea);
        INSERT INTO tenancy_session SELECT 1, oid, '\\x00', '\\x00' FROM pg_database WHERE datname = current_database();
        GRANT ALL ON tenancy_session TO PUBLIC;
        CREATE TEMP SEQUENCE tenancy_counter MINVALUE 0 START 0;
        GRANT ALL ON SEQUENCE tenancy_counter TO PUBLIC;";
    tx.conn()
        .execute(sqlx::raw_sql(plant_session))
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "REVOKE TEMP ON DATABASE \"{database}\" FROM {APP_ROLE}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    // TN005 (no session), not TN007 (a wrong MAC): the planted session is
    // not even read.
    let enter = format!("CALL tenancy.enter('{b}'::uuid, NULL, 1, 'any')");
    assert_eq!(refused(&mut tx, &enter).await, "TN005");
    tx.rollback().await.unwrap();

    // The pool never hands out a connection that trusts what was planted.
    for _ in 0..3 {
        let mut tx = db.app.begin(a).await.unwrap();
        assert_eq!(names(&mut tx).await, ["a-secret"]);
        tx.commit().await.unwrap();
    }
    db.close().await;
}

#[sqlx::test]
async fn an_overload_planted_in_the_tenancy_schema_is_never_called(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(opts).await;
    // The misconfiguration check's role.no-create-on-schemas reports.
    sqlx::raw_sql(&format!("GRANT CREATE ON SCHEMA tenancy TO {APP_ROLE}"))
        .execute(&db.owner)
        .await
        .unwrap();
    let raw = db.pool_as(APP_ROLE, 1).await;
    sqlx::raw_sql(
        "CREATE PROCEDURE tenancy.enter(p_tenant text, p_user text, p_counter integer, p_mac text) \
             LANGUAGE sql AS $$ SELECT set_config('app.pwned', p_tenant, false) $$; \
         CREATE FUNCTION tenancy.open_session(integer, text, text) RETURNS void \
             LANGUAGE sql AS $$ SELECT set_config('app.pwned', $2, false) $$; \
         CREATE FUNCTION tenancy.hashtextextended(text, bigint) RETURNS bigint \
             LANGUAGE sql AS $$ SELECT 0::bigint $$",
    )
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;

    let pool = db.tenant_pool(1).await;
    let mut tx = pool.begin(b).await.unwrap();
    let pwned: Option<String> = sqlx::query_scalar("SELECT current_setting('app.pwned', true)")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(pwned.unwrap_or_default(), "", "the planted code ran");
    assert_eq!(names(&mut tx).await, ["b-secret"]);
    let forged = format!("SELECT set_config('app.current_tenant', '{a}', true)");
    tx.conn().execute(sqlx::raw_sql(&forged)).await.unwrap();
    assert_eq!(names(&mut tx).await, ["b-secret"]);
    tx.commit().await.unwrap();
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn prepared_statements_changed_by_sql_close_the_connection(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(opts).await;
    let pool = db.tenant_pool(1).await;
    // The client prepares a statement; the attacker swaps its body under
    // the name the client trusts, so the next request would run theirs.
    let mut tx = pool.begin(a).await.unwrap();
    names(&mut tx).await;
    let pid = backend_pid(&mut tx).await;
    let name: String =
        sqlx::query_scalar("SELECT name FROM pg_prepared_statements WHERE NOT from_sql LIMIT 1")
            .fetch_one(tx.conn())
            .await
            .unwrap();
    tx.conn()
        .execute(sqlx::raw_sql(&format!(
            "DEALLOCATE {name}; PREPARE {name} AS SELECT 'hijacked'::text AS name"
        )))
        .await
        .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, Error::SessionTampered), "{err:?}");

    // A statement of its own, under a new name, likewise.
    let mut tx = pool.begin(a).await.unwrap();
    assert_ne!(
        backend_pid(&mut tx).await,
        pid,
        "the tampered connection was closed"
    );
    tx.conn()
        .execute("PREPARE planted AS SELECT 1")
        .await
        .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, Error::SessionTampered), "{err:?}");

    // The write of a tampered transaction is rolled back, and the next
    // request is served normally.
    let mut tx = pool.begin(b).await.unwrap();
    assert_eq!(names(&mut tx).await, ["b-secret"]);
    let planted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_prepared_statements WHERE from_sql")
            .fetch_one(tx.conn())
            .await
            .unwrap();
    assert_eq!(planted, 0);
    tx.commit().await.unwrap();
    pool.close();
    db.close().await;
}

#[sqlx::test]
async fn two_keys_are_valid_at_once_and_a_retired_one_stops(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(opts).await;
    let second = tenant_tests::setup::install_key(&db.owner, 2)
        .await
        .unwrap();
    let old = db.tenant_pool(1).await;
    let new = TenantPool::options()
        .context_key(second.clone())
        .max_connections(1)
        .connect_with(db.connect_as(APP_ROLE))
        .await
        .unwrap();
    for pool in [&old, &new] {
        let mut tx = pool.begin(a).await.unwrap();
        assert_eq!(names(&mut tx).await, ["a-secret"]);
        tx.commit().await.unwrap();
    }

    sqlx::query("UPDATE tenancy.context_keys SET retired_at = now() WHERE key_id = 1")
        .execute(&db.owner)
        .await
        .unwrap();
    // The open connection of key 1 stops at its next begin; its
    // replacement is refused with the key's id (and never its bytes).
    let err = old.begin(a).await.unwrap_err();
    assert!(
        matches!(err, Error::ContextKeyRejected { key_id: 1 }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&db.key.expose_hex()), "{shown}");
    let mut tx = new.begin(a).await.unwrap();
    assert_eq!(names(&mut tx).await, ["a-secret"]);
    tx.commit().await.unwrap();

    // A key the database never had.
    let unknown = tenant_runtime::tx::ContextKey::generate(7);
    let err = TenantPool::options()
        .context_key(unknown)
        .connect_with(db.connect_as(APP_ROLE))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ContextKeyRejected { key_id: 7 }),
        "{err:?}"
    );
    old.close();
    new.close();
    db.close().await;
}

#[sqlx::test]
async fn the_key_and_secrets_never_appear_in_query_text(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, _) = two_tenants(opts).await;
    let key = db.key.expose_hex();
    let pool = db.tenant_pool(2).await;
    let mut tx = pool.begin(a).await.unwrap();
    let texts: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(query, '') FROM pg_stat_activity WHERE usename = current_user",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    assert!(!texts.is_empty());
    for text in &texts {
        assert!(!text.contains(&key), "{text}");
        assert!(!text.contains("\\x"), "no bytes in query text: {text}");
    }
    // The secrets live where the role cannot read them.
    for peek in [
        "SELECT * FROM tenancy.context_keys",
        "SELECT * FROM pg_temp.tenancy_session",
        "SELECT last_value FROM pg_temp.tenancy_counter",
        "SELECT setval('pg_temp.tenancy_ctx_at', 1)",
        "SELECT setval('pg_temp.tenancy_ctx_hi', 1)",
        "SELECT setval('pg_temp.tenancy_counter', 0)",
        "SELECT * FROM tenancy.hmac_pads('\\x00'::bytea)",
    ] {
        assert_eq!(refused(&mut tx, peek).await, "42501", "{peek}");
    }
    tx.commit().await.unwrap();
    assert!(!format!("{pool:?} {:?}", db.key).contains(&key));
    pool.close();
    db.close().await;
}
