//! The attacker of SECURITY.md: arbitrary SQL as the application role
//! inside a tenant transaction (through `tx.conn()`, as an injection in a
//! raw query would run it), with two tenants. Each test is one attack;
//! each failed on a design before this one. The attacks that hold for
//! every context mechanism run once per mechanism (extension, SQL session,
//! bound tokens directly and through PgBouncer), each in a database of its
//! own.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, Row};
use tenant_runtime::{Error, TenantId, TenantTx, UserId};

use crate::common::{APP_ROLE, Mechanism, TestDb, insert_project};

/// Runs `$attack(mechanism, opts)` once per mechanism, each a test of its
/// own: `attacks::<attack>::<mechanism>`.
macro_rules! under_every_mechanism {
    ($($attack:ident),+ $(,)?) => {$(
        mod $attack {
            use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

            use crate::common::Mechanism;

            #[sqlx::test]
            async fn session(_: PgPoolOptions, opts: PgConnectOptions) {
                super::$attack(Mechanism::Session, opts).await
            }

            #[sqlx::test]
            async fn extension(_: PgPoolOptions, opts: PgConnectOptions) {
                super::$attack(Mechanism::Extension, opts).await
            }

            #[sqlx::test]
            async fn bound(_: PgPoolOptions, opts: PgConnectOptions) {
                super::$attack(Mechanism::Bound, opts).await
            }

            #[sqlx::test]
            async fn pgbouncer(_: PgPoolOptions, opts: PgConnectOptions) {
                super::$attack(Mechanism::PgBouncer, opts).await
            }
        }
    )+};
}

under_every_mechanism!(
    setting_the_tenant_from_sql_switches_nothing,
    forged_tokens_and_calls_enter_nothing,
    a_transaction_ended_by_sql_leaves_no_tenant_behind,
    a_begin_message_read_from_pg_stat_activity_cannot_be_replayed,
    a_begin_cancelled_terminated_or_dropped_leaves_nothing_usable,
    the_user_is_signed_in_like_the_tenant,
    a_deleted_tenant_cannot_be_entered,
    nothing_of_a_transaction_reaches_the_next_on_its_connection,
    sql_that_destroys_the_session_costs_no_later_request,
    a_terminated_connection_costs_no_request,
    temporary_tables_are_refused_and_a_temp_grant_stops_the_pool,
    an_overload_planted_in_the_tenancy_schema_is_never_called,
    two_keys_are_valid_at_once_and_a_retired_one_stops,
    the_key_and_secrets_never_appear_in_query_text,
);

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

/// What SQL reads of the projects after it ran `forge`, behind a
/// savepoint: the names, or the SQLSTATE of the refusal (of the forge or
/// of the read).
async fn after(tx: &mut TenantTx, forge: &str) -> Result<Vec<String>, String> {
    tx.conn().execute("SAVEPOINT attack").await.unwrap();
    let outcome = match tx.conn().execute(sqlx::raw_sql(forge)).await {
        Err(e) => Err(code_of::<()>(Err(e))),
        Ok(_) => sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
            .fetch_all(tx.conn())
            .await
            .map_err(|e| code_of::<()>(Err(e))),
    };
    tx.conn()
        .execute("ROLLBACK TO SAVEPOINT attack")
        .await
        .unwrap();
    outcome
}

/// `forge` gets the attacker nothing: refused, or still only `own`.
async fn harmless(tx: &mut TenantTx, forge: &str, own: &[&str]) {
    match after(tx, forge).await {
        Ok(read) => assert_eq!(read, own, "after {forge}"),
        Err(code) => assert!(
            [
                "TN001", "TN005", "TN006", "TN007", "42501", "42883", "3F000", "22023"
            ]
            .contains(&code.as_str()),
            "{forge}: refused with {code}"
        ),
    }
}

async fn names(tx: &mut TenantTx) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
        .fetch_all(tx.conn())
        .await
        .unwrap()
}

async fn backend_pid(tx: &mut TenantTx) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(tx.conn())
        .await
        .unwrap()
}

/// A's and B's projects, one each, in a database of `mechanism`.
async fn two_tenants(mechanism: Mechanism, opts: PgConnectOptions) -> (TestDb, TenantId, TenantId) {
    let db = TestDb::with_mechanism(opts, mechanism).await;
    let [a, b] = db.tenants;
    insert_project(&db.app, a, "a-secret").await;
    insert_project(&db.app, b, "b-secret").await;
    (db, a, b)
}

async fn setting_the_tenant_from_sql_switches_nothing(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
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
        // The column default follows the forged setting, and the policy's
        // WITH CHECK refuses the row it makes; with the extension the
        // default reads the verified tenant, and the row is A's.
        let write = "INSERT INTO projects (name) VALUES ('planted')";
        match after(&mut tx, write).await {
            Ok(read) => {
                assert_eq!(mechanism, Mechanism::Extension, "{forge}");
                assert_eq!(read, ["a-secret", "planted"], "{forge}");
            }
            Err(code) => assert_eq!(code, "TN003", "{forge}"),
        }
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

/// Every way in that SQL can name: each mechanism's setting with a
/// made-up token, `tenancy.enter` and `tenant_context.open_session` with
/// made-up arguments. None of them, under any mechanism, shows B's rows.
async fn forged_tokens_and_calls_enter_nothing(mechanism: Mechanism, opts: PgConnectOptions) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    let zeros = "0".repeat(64);
    let bytes = format!("'\\x{}'::bytea", "00".repeat(32));
    for forge in [
        format!("CALL tenancy.enter('{b}'::uuid, NULL::uuid, 1000::int8, '{zeros}'::text)"),
        format!(
            "CALL tenancy.enter('{b}'::uuid, NULL::uuid, 9223372036854775807::int8, '{zeros}'::text)"
        ),
        format!("CALL tenancy.enter('{b}'::uuid, '{b}'::uuid, 5::int8, 'not hex'::text)"),
        "CALL tenancy.enter(NULL, NULL, NULL, NULL)".to_owned(),
        format!("SET LOCAL tenant_context.token = 's1.{b}..9999.{zeros}'"),
        format!("SELECT set_config('tenant_context.token', 's1.{b}..9999.{zeros}', false)"),
        format!("SET LOCAL tenancy.token = 'b1.1.{b}..{zeros}'"),
        format!("SELECT set_config('tenancy.token', 'b1.1.{b}..{zeros}', false)"),
        format!("SELECT tenant_context.open_session(1, {bytes}, {bytes})"),
        format!("SELECT tenancy.open_session(1, {bytes}, {bytes})"),
    ] {
        harmless(&mut tx, &forge, &["a-secret"]).await;
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

async fn a_transaction_ended_by_sql_leaves_no_tenant_behind(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(mechanism, opts).await;
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

/// The begin message another backend of the role shows while it sits in
/// `pg_stat_activity`, found by the tenant id it names, and what of it
/// SQL could run: its statements but the `BEGIN`.
async fn begin_text_naming(tx: &mut TenantTx, tenant: TenantId) -> (i32, String) {
    for _ in 0..200 {
        // The statistics views are a snapshot taken once per transaction.
        tx.conn()
            .execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        let found: Option<(i32, String)> = sqlx::query_as(
            "SELECT pid, query FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%' \
               AND query NOT LIKE '%pg_stat_activity%' LIMIT 1",
        )
        .bind(tenant.to_string())
        .fetch_optional(tx.conn())
        .await
        .unwrap();
        if let Some((pid, text)) = found {
            let statements: Vec<&str> = text
                .split("; ")
                .filter(|s| !s.trim().eq_ignore_ascii_case("BEGIN"))
                .collect();
            return (pid, statements.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no backend shows a begin message naming {tenant}");
}

async fn a_begin_message_read_from_pg_stat_activity_cannot_be_replayed(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    // The victim's pool has one connection, so the attacker's later
    // requests through it land on the backend the token was made for
    // (through PgBouncer: on whichever backend PgBouncer gives it).
    let victim_pool = db.tenant_pool(1).await;
    let mut attacker = db.app.begin(a).await.unwrap();

    for victim_ends_with_commit in [false, true] {
        // The victim's transaction has run nothing yet: its backend's
        // query text is the begin message.
        let victim = victim_pool.begin(b).await.unwrap();
        let (pid, stolen) = begin_text_naming(&mut attacker, b).await;

        // While the victim's transaction is open, on another backend.
        harmless(&mut attacker, &stolen, &["a-secret"]).await;

        if victim_ends_with_commit {
            victim.commit().await.unwrap();
        } else {
            victim.rollback().await.unwrap();
        }
        // On the victim's own backend, in a later request of tenant A: in
        // the transaction, and as a begin message of its own after COMMIT.
        let mut later = victim_pool.begin(a).await.unwrap();
        if mechanism.keeps_its_backend() {
            assert_eq!(backend_pid(&mut later).await, pid, "same backend");
        }
        harmless(&mut later, &stolen, &["a-secret"]).await;
        let replayed = format!("COMMIT; {stolen}; BEGIN; SELECT name FROM projects");
        match later.conn().fetch_all(sqlx::raw_sql(&replayed)).await {
            Ok(rows) => {
                let read: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
                assert!(
                    !read.iter().any(|n| n == "b-secret"),
                    "{replayed}: {read:?}"
                );
            }
            Err(e) => {
                let code = code_of::<()>(Err(e));
                assert!(
                    ["TN001", "TN007", "TN005"].contains(&code.as_str()),
                    "{code}"
                );
            }
        }
        drop(later);
    }
    assert_eq!(names(&mut attacker).await, ["a-secret"]);
    attacker.commit().await.unwrap();
    victim_pool.close();
    db.close().await;
}

/// How the attacker interrupts a begin it can see.
#[derive(Debug, Clone, Copy)]
enum Interrupt {
    Cancel,
    Terminate,
    /// The victim's own future is dropped (a client gone, a timeout).
    Drop,
}

/// A begin the attacker interrupts after its message reached the server
/// and before it completed: the attacker holds a lock the begin needs (the
/// tenants table), so the victim's begin waits in plain sight in
/// `pg_stat_activity`, then cancels it, terminates its backend, or the
/// victim drops it. The token it carried, replayed on any backend and on
/// every later transaction of the victim's pool (a global one, a system
/// one, one SQL starts), enters nothing: the connection is closed, not
/// returned, and no token outlives the next begin of any kind.
async fn a_begin_cancelled_terminated_or_dropped_leaves_nothing_usable(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    let victim_pool = db.tenant_pool(1).await;
    for interrupt in [Interrupt::Cancel, Interrupt::Terminate, Interrupt::Drop] {
        // A connection to begin on, whose backend is then the victim's.
        victim_pool.begin(b).await.unwrap().commit().await.unwrap();
        let mut attacker = db.app.begin(a).await.unwrap();
        attacker
            .conn()
            .execute("LOCK TABLE public.tenants IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let pool = victim_pool.clone();
        // A dropped begin is one whose caller gave up while it waited.
        let patience = match interrupt {
            Interrupt::Drop => Duration::from_millis(300),
            _ => Duration::from_secs(10),
        };
        let victim =
            tokio::spawn(async move { tokio::time::timeout(patience, pool.begin(b)).await });
        let (pid, stolen) = begin_text_naming(&mut attacker, b).await;
        let stop = match interrupt {
            Interrupt::Cancel => "pg_cancel_backend",
            Interrupt::Terminate => "pg_terminate_backend",
            Interrupt::Drop => "",
        };
        if stop.is_empty() {
            let outcome = victim.await.unwrap();
            assert!(outcome.is_err(), "the begin was not dropped: {outcome:?}");
            harmless(&mut attacker, &stolen, &["a-secret"]).await;
            attacker.rollback().await.unwrap();
        } else {
            let stopped: bool = sqlx::query_scalar(&format!("SELECT {stop}($1)"))
                .bind(pid)
                .fetch_one(attacker.conn())
                .await
                .unwrap();
            assert!(stopped, "{interrupt:?}");
            harmless(&mut attacker, &stolen, &["a-secret"]).await;
            // The lock goes with the attacker's transaction; the victim's
            // begin then fails, or (the pool replaces a connection that
            // cannot begin) completes on a fresh connection.
            attacker.rollback().await.unwrap();
            match victim.await.unwrap() {
                Ok(Ok(mut tx)) => {
                    if mechanism.keeps_its_backend() {
                        assert_ne!(
                            backend_pid(&mut tx).await,
                            pid,
                            "{interrupt:?}: begun on the interrupted backend"
                        );
                    }
                    assert_eq!(names(&mut tx).await, ["b-secret"]);
                    tx.commit().await.unwrap();
                }
                Ok(Err(_refused)) => {}
                Err(elapsed) => panic!("{interrupt:?}: {elapsed}"),
            }
        }

        // Every later transaction of the victim's pool, of any kind.
        let mut later = victim_pool.begin(a).await.unwrap();
        if mechanism.keeps_its_backend() {
            assert_ne!(
                backend_pid(&mut later).await,
                pid,
                "{interrupt:?}: the interrupted connection was reused"
            );
        }
        harmless(&mut later, &stolen, &["a-secret"]).await;
        later.commit().await.unwrap();
        let mut global = victim_pool.begin_global().await.unwrap();
        global.conn().execute("SAVEPOINT s").await.unwrap();
        let replayed = global
            .conn()
            .fetch_all(sqlx::raw_sql(&format!(
                "{stolen}; SELECT name FROM projects"
            )))
            .await;
        match replayed {
            Ok(rows) => panic!(
                "{interrupt:?}: a global transaction read {} rows",
                rows.len()
            ),
            Err(e) => {
                let code = code_of::<()>(Err(e));
                assert!(
                    ["TN001", "TN007", "TN005"].contains(&code.as_str()),
                    "{code}"
                );
            }
        }
        global.rollback().await.unwrap();
        // Behind a pooler the server backend outlives the client's
        // connection; elsewhere it is gone.
        if mechanism.keeps_its_backend() {
            let gone = async {
                loop {
                    let alive: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                    )
                    .bind(pid)
                    .fetch_one(&db.owner)
                    .await
                    .unwrap();
                    if !alive {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), gone)
                .await
                .unwrap_or_else(|_| panic!("{interrupt:?}: backend {pid} was left open"));
        }
    }
    victim_pool.close();
    db.close().await;
}

/// The user a transaction acts for is signed into its token with the
/// tenant: SQL reads it and cannot change it, and it is valid in that
/// transaction only.
async fn the_user_is_signed_in_like_the_tenant(mechanism: Mechanism, opts: PgConnectOptions) {
    let (db, a, _) = two_tenants(mechanism, opts).await;
    let (ada, bob) = (UserId::new_v4(), UserId::new_v4());
    let pool = db.tenant_pool(1).await;
    let user_of = async |tx: &mut sqlx::PgConnection| -> Option<uuid::Uuid> {
        sqlx::query_scalar("SELECT tenancy.current_user_id()")
            .fetch_one(tx)
            .await
            .unwrap()
    };

    let mut tx = pool.begin_as(a, ada).await.unwrap();
    assert_eq!(tx.user(), Some(ada));
    assert_eq!(user_of(tx.conn()).await, Some(*ada.as_uuid()));
    let zeros = "0".repeat(64);
    for forge in [
        format!("CALL tenancy.enter('{a}'::uuid, '{bob}'::uuid, 1000::int8, '{zeros}'::text)"),
        format!("CALL tenancy.enter(NULL, '{bob}'::uuid, 1000, '{zeros}')"),
        format!("SET LOCAL tenant_context.token = 's1.{a}.{bob}.9999.{zeros}'"),
        format!("SET LOCAL tenancy.token = 'b1.1.{a}.{bob}.{zeros}'"),
    ] {
        tx.conn().execute("SAVEPOINT s").await.unwrap();
        if tx.conn().execute(sqlx::raw_sql(&forge)).await.is_ok() {
            assert_ne!(user_of(tx.conn()).await, Some(*bob.as_uuid()), "{forge}");
        }
        tx.conn().execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    }
    tx.commit().await.unwrap();

    // The next transaction on the same connection, begun without a user,
    // has none; one begun for a user without a tenant has the user and
    // still no tenant.
    let mut tx = pool.begin(a).await.unwrap();
    assert_eq!(tx.user(), None);
    assert_eq!(user_of(tx.conn()).await, None);
    tx.commit().await.unwrap();
    let mut global = pool.begin_global_as(bob).await.unwrap();
    assert_eq!(global.user(), Some(bob));
    assert_eq!(user_of(global.conn()).await, Some(*bob.as_uuid()));
    let code = code_of(
        sqlx::query("SELECT name FROM projects")
            .fetch_all(global.conn())
            .await,
    );
    assert_eq!(code, "TN001");
    global.rollback().await.unwrap();
    let mut global = pool.begin_global().await.unwrap();
    assert_eq!(user_of(global.conn()).await, None);
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

async fn a_deleted_tenant_cannot_be_entered(mechanism: Mechanism, opts: PgConnectOptions) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    let tx = db.system.begin().await.unwrap();
    tx.tenants().delete(b).await.unwrap();
    tx.commit().await.unwrap();

    let refused_begin = db.app.begin(b).await.unwrap_err();
    assert!(
        matches!(refused_begin, Error::TenantDeleted { tenant } if tenant == b),
        "{refused_begin:?}"
    );
    let unknown = TenantId::from_uuid(uuid::Uuid::new_v4());
    let refused_begin = db.app.begin(unknown).await.unwrap_err();
    assert!(
        matches!(refused_begin, Error::TenantNotFound { tenant } if tenant == unknown),
        "{refused_begin:?}"
    );
    // A refusal is clean: the connection serves the next request.
    let mut tx = db.app.begin(a).await.unwrap();
    let forged =
        format!("SELECT set_config('app.current_tenant', '{b}', true); SELECT name FROM projects");
    tx.conn().execute(sqlx::raw_sql(&forged)).await.unwrap();
    assert_eq!(names(&mut tx).await, ["a-secret"]);
    tx.commit().await.unwrap();
    // Nor by naming it from no transaction.
    let raw = db.app_raw_pool(1).await;
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
async fn session_state(tx: &mut TenantTx) -> Vec<String> {
    let row = sqlx::query(
        "SELECT current_setting('search_path'), current_setting('default_transaction_read_only'), \
                current_setting('statement_timeout'), current_setting('client_min_messages'), \
                (SELECT count(*) FROM pg_cursors)::text, \
                (SELECT count(*) FROM pg_listening_channels())::text, \
                (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())::text, \
                current_user::text",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    (0..8).map(|i| row.get::<String, _>(i)).collect()
}

/// `random()`'s next value after `setseed(0.25)`, as any session computes it.
async fn random_after_known_seed(db: &TestDb) -> f64 {
    let mut conn = db.owner.acquire().await.unwrap();
    let rows = conn
        .fetch_all(sqlx::raw_sql("SELECT setseed(0.25); SELECT random()"))
        .await
        .unwrap();
    rows.last().expect("random()'s row").get(0)
}

/// Everything a session can change that would outlive its transaction
/// (SECURITY.md, "State that outlives a transaction"), changed by SQL in
/// one request and looked for in the next on the same connection.
async fn nothing_of_a_transaction_reaches_the_next_on_its_connection(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    let known_random = random_after_known_seed(&db).await;
    let pool = db.tenant_pool(1).await;
    let mut first = pool.begin(b).await.unwrap();
    let before = session_state(&mut first).await;
    let pid = backend_pid(&mut first).await;
    first.commit().await.unwrap();

    for end_with_commit in [true, false] {
        let mut tx = pool.begin(a).await.unwrap();
        tx.conn()
            .execute(sqlx::raw_sql(&format!(
                "INSERT INTO projects (name) VALUES ('sets-lastval-{end_with_commit}'); \
                 DECLARE kept CURSOR WITH HOLD FOR SELECT name FROM projects; \
                 LISTEN tenant_leak; SELECT pg_advisory_lock(42); SELECT setseed(0.25); \
                 SET app.current_tenant = '{b}'; SET search_path = pg_temp, public; \
                 SET default_transaction_read_only = on; SET client_min_messages = error; \
                 SET statement_timeout = 1"
            )))
            .await
            .unwrap();
        if end_with_commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }

        let mut next = pool.begin(b).await.unwrap();
        if mechanism.keeps_its_backend() {
            assert_eq!(backend_pid(&mut next).await, pid, "same connection");
        }
        assert_eq!(
            session_state(&mut next).await,
            before,
            "commit: {end_with_commit}"
        );
        assert_eq!(
            refused(&mut next, "FETCH ALL FROM kept").await,
            "34000",
            "the cursor with A's rows is gone"
        );
        assert_eq!(
            refused(&mut next, "SELECT lastval()").await,
            "55000",
            "sequence state"
        );
        let random: f64 = sqlx::query_scalar("SELECT random()")
            .fetch_one(next.conn())
            .await
            .unwrap();
        assert_ne!(random, known_random, "random() follows the attacker's seed");
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

/// SQL that destroys what a connection's context depends on (`DISCARD
/// TEMP` drops the SQL session's objects) in as many requests as the pool
/// has connections: each such connection is replaced before anyone else
/// gets it, and every later request of another tenant is served.
async fn sql_that_destroys_the_session_costs_no_later_request(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    let pool = db.tenant_pool(2).await;
    let held: Vec<TenantTx> = {
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut tx = pool.begin(a).await.unwrap();
            tx.conn().execute("DISCARD TEMP").await.unwrap();
            held.push(tx);
        }
        held
    };
    for tx in held {
        // Ending it says whether its connection is still good; either way
        // the next request must not pay for it.
        let _ = tx.commit().await;
    }
    for _ in 0..4 {
        let mut tx = pool.begin(b).await.unwrap();
        assert_eq!(names(&mut tx).await, ["b-secret"]);
        tx.commit().await.unwrap();
    }
    pool.close();
    db.close().await;
}

/// The server terminates an idle pooled connection (a restart, an admin,
/// another tenant's SQL): the next begin on it finds it dead and is served
/// on a fresh one.
async fn a_terminated_connection_costs_no_request(mechanism: Mechanism, opts: PgConnectOptions) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
    let pool = db.tenant_pool(1).await;
    let mut tx = pool.begin(a).await.unwrap();
    let pid = backend_pid(&mut tx).await;
    tx.commit().await.unwrap();
    // Through PgBouncer the server connection is PgBouncer's; terminating
    // it shows the client a dead backend all the same.
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert!(terminated);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut tx = pool.begin(b).await.expect("served on a fresh connection");
    assert_eq!(names(&mut tx).await, ["b-secret"]);
    tx.commit().await.unwrap();
    pool.close();
    db.close().await;
}

async fn temporary_tables_are_refused_and_a_temp_grant_stops_the_pool(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(mechanism, opts).await;
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
    let err = db.tenant_pool_with(db.key.clone(), 1).await.unwrap_err();
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

/// The attack a mistaken TEMP grant opens while a connection is in use
/// under the SQL session: drop the session's temporary objects and plant
/// look-alikes, a context for tenant B and a session whose secret the
/// attacker chose. Neither is trusted, because the tenancy schema's owner
/// did not make them. (The other mechanisms keep nothing in temporary
/// objects.)
#[sqlx::test]
async fn temporary_objects_planted_during_a_temp_grant_are_never_trusted(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(Mechanism::Session, opts).await;
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

async fn an_overload_planted_in_the_tenancy_schema_is_never_called(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
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
         CREATE FUNCTION tenancy.bound_context(text) RETURNS uuid \
             LANGUAGE sql AS $$ SELECT set_config('app.pwned', $1, false)::uuid $$; \
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

/// Under the mechanisms with named statements (not behind a pooler).
#[sqlx::test]
async fn prepared_statements_changed_by_sql_close_the_connection_session(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    prepared_statements_changed_by_sql_close_the_connection(Mechanism::Session, opts).await;
}

#[sqlx::test]
async fn prepared_statements_changed_by_sql_close_the_connection_extension(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    prepared_statements_changed_by_sql_close_the_connection(Mechanism::Extension, opts).await;
}

async fn prepared_statements_changed_by_sql_close_the_connection(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, b) = two_tenants(mechanism, opts).await;
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

async fn two_keys_are_valid_at_once_and_a_retired_one_stops(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(mechanism, opts).await;
    let second = tenant_tests::setup::install_key(&db.owner, 2)
        .await
        .unwrap();
    let old = db.tenant_pool(1).await;
    let new = db.tenant_pool_with(second.clone(), 1).await.unwrap();
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

    // A key the database never had: refused at connect, or at the first
    // begin where nothing is opened per connection.
    let unknown = tenant_runtime::tx::ContextKey::generate(7);
    let err = match db.tenant_pool_with(unknown, 1).await {
        Err(e) => e,
        Ok(pool) => pool.begin(a).await.unwrap_err(),
    };
    assert!(
        matches!(err, Error::ContextKeyRejected { key_id: 7 }),
        "{err:?}"
    );
    old.close();
    new.close();
    db.close().await;
}

async fn the_key_and_secrets_never_appear_in_query_text(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) {
    let (db, a, _) = two_tenants(mechanism, opts).await;
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
        "SELECT key FROM tenancy.context_keys",
        "SELECT ipad FROM tenancy.context_keys",
        "SELECT * FROM pg_temp.tenancy_session",
        "SELECT last_value FROM pg_temp.tenancy_counter",
        "SELECT setval('pg_temp.tenancy_ctx_at', 1)",
        "SELECT setval('pg_temp.tenancy_ctx_hi', 1)",
        "SELECT setval('pg_temp.tenancy_counter', 0)",
        "SELECT * FROM tenancy.hmac_pads('\\x00'::bytea)",
    ] {
        let code = refused(&mut tx, peek).await;
        assert!(
            ["42501", "42P01", "3F000"].contains(&code.as_str()),
            "{peek}: {code}"
        );
    }
    if mechanism == Mechanism::Extension {
        for peek in [
            "SELECT current_setting('tenant_context.token')",
            "SHOW tenant_context.token",
            "SELECT setting FROM pg_settings WHERE name = 'tenant_context.token' AND setting IS NOT NULL AND setting <> ''",
        ] {
            match after(&mut tx, peek).await {
                Err(code) => assert_eq!(code, "42501", "{peek}"),
                Ok(_) => {
                    let shown: Vec<Option<String>> =
                        sqlx::query_scalar(peek).fetch_all(tx.conn()).await.unwrap();
                    assert!(shown.is_empty(), "{peek}: {shown:?}");
                }
            }
        }
    }
    tx.commit().await.unwrap();
    assert!(!format!("{pool:?} {:?}", db.key).contains(&key));
    pool.close();
    db.close().await;
}

/// A plain pool of the application role never gets the library's pools'
/// kind of transaction: outside `begin`, tenant tables fail closed under
/// every mechanism the database offers.
#[sqlx::test]
async fn a_plain_pool_of_the_application_role_reads_nothing(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let (db, _, _) = two_tenants(Mechanism::Extension, opts).await;
    let raw = db.pool_as(APP_ROLE, 1).await;
    let code = code_of(
        sqlx::query("SELECT name FROM projects")
            .fetch_all(&raw)
            .await,
    );
    assert_eq!(code, "TN001");
    raw.close().await;
    db.close().await;
}
