//! A tenant's large scan may use a parallel plan, and the workers keep to
//! the tenant: with the extension, whose reader is parallel safe (workers
//! receive the leader's setting and verify nothing themselves), and with
//! bound tokens in a database that has it (their check runs in the
//! leader). The SQL session reads temporary sequences, which PostgreSQL
//! marks parallel unsafe: its statements never get a parallel plan.

use serde_json::Value;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::{TenantId, TenantTx};

use crate::common::{Mechanism, TestDb};

/// Makes even a small table worth a parallel sequential scan.
const FORCE_PARALLEL: &str = "SET LOCAL max_parallel_workers_per_gather = 2; \
     SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; \
     SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL enable_indexscan = off; \
     SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off";

/// 2,000 projects for each of the two tenants.
async fn two_big_tenants(
    mechanism: Mechanism,
    opts: PgConnectOptions,
) -> (TestDb, TenantId, TenantId) {
    let db = TestDb::with_mechanism(opts, mechanism).await;
    let [a, b] = db.tenants;
    db.owner
        .execute(
            format!(
                "INSERT INTO projects (tenant_id, name) SELECT '{a}', 'a-' || g FROM generate_series(1, 2000) g;
                 INSERT INTO projects (tenant_id, name) SELECT '{b}', 'b-' || g FROM generate_series(1, 2000) g;"
            )
            .as_str(),
        )
        .await
        .unwrap();
    db.owner.execute("ANALYZE projects").await.unwrap();
    (db, a, b)
}

/// The plan of `sql` as EXPLAIN (ANALYZE, FORMAT JSON) shows it.
async fn plan(tx: &mut TenantTx, sql: &str) -> Value {
    let explained: Value = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))
        .fetch_one(tx.conn())
        .await
        .unwrap();
    explained[0]["Plan"].clone()
}

/// Workers launched by the plan's Gather nodes.
fn workers_launched(node: &Value) -> i64 {
    let own = if node["Node Type"] == "Gather" {
        node["Workers Launched"].as_i64().unwrap_or(0)
    } else {
        0
    };
    own + node["Plans"]
        .as_array()
        .map_or(0, |children| children.iter().map(workers_launched).sum())
}

async fn count(tx: &mut TenantTx, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(tx.conn()).await.unwrap()
}

async fn workers_keep_to_the_tenant(mechanism: Mechanism, opts: PgConnectOptions) {
    let (db, a, _) = two_big_tenants(mechanism, opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    tx.conn().execute(FORCE_PARALLEL).await.unwrap();
    // Through the policy: its tenant is computed once and handed to the
    // workers.
    let scan = "SELECT count(*) FROM projects";
    let explained = plan(&mut tx, scan).await;
    assert!(
        workers_launched(&explained) > 0,
        "{mechanism:?}: no parallel plan: {explained}"
    );
    assert_eq!(count(&mut tx, scan).await, 2000, "{mechanism:?}");
    // Forged settings reach the workers too, and change nothing.
    tx.conn()
        .execute(sqlx::raw_sql(&format!(
            "SELECT set_config('app.current_tenant', '{}', true)",
            db.tenants[1]
        )))
        .await
        .unwrap();
    assert_eq!(
        count(&mut tx, scan).await,
        2000,
        "{mechanism:?}: forged hint"
    );
    tx.rollback().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn a_large_scan_runs_in_parallel_workers_that_keep_to_the_tenant_extension(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    workers_keep_to_the_tenant(Mechanism::Extension, opts).await;
}

/// Bound tokens in a database with the extension installed: the check runs
/// in the leader (it is parallel restricted), the plan is still parallel.
#[sqlx::test]
async fn a_large_scan_runs_in_parallel_workers_that_keep_to_the_tenant_bound(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::with_mechanism(opts.clone(), Mechanism::Extension).await;
    let [a, b] = db.tenants;
    db.owner
        .execute(
            format!(
                "INSERT INTO projects (tenant_id, name) SELECT '{a}', 'a-' || g FROM generate_series(1, 2000) g;
                 INSERT INTO projects (tenant_id, name) SELECT '{b}', 'b-' || g FROM generate_series(1, 2000) g;
                 ANALYZE projects;"
            )
            .as_str(),
        )
        .await
        .unwrap();
    let bound = Mechanism::Bound
        .pool_options(db.key.clone())
        .max_connections(1)
        .connect_with(Mechanism::Bound.connect(&opts, crate::common::APP_ROLE))
        .await
        .unwrap();
    let mut tx = bound.begin(a).await.unwrap();
    tx.conn().execute(FORCE_PARALLEL).await.unwrap();
    let scan = "SELECT count(*) FROM projects";
    let explained = plan(&mut tx, scan).await;
    assert!(
        workers_launched(&explained) > 0,
        "no parallel plan: {explained}"
    );
    assert_eq!(count(&mut tx, scan).await, 2000);
    tx.rollback().await.unwrap();
    bound.close();
    db.close().await;
}

/// The extension's reader evaluated in the workers themselves, row by row:
/// they hold the leader's verified context.
#[sqlx::test]
async fn workers_read_the_leaders_verified_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, _) = two_big_tenants(Mechanism::Extension, opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    tx.conn().execute(FORCE_PARALLEL).await.unwrap();
    let scan = "SELECT count(*) FROM projects WHERE tenant_id = tenant_context.tenant()";
    let explained = plan(&mut tx, scan).await;
    assert!(
        workers_launched(&explained) > 0,
        "no parallel plan: {explained}"
    );
    assert_eq!(count(&mut tx, scan).await, 2000);
    tx.rollback().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn the_sql_session_gets_no_parallel_plan(_: PgPoolOptions, opts: PgConnectOptions) {
    let (db, a, _) = two_big_tenants(Mechanism::Session, opts).await;
    let mut tx = db.app.begin(a).await.unwrap();
    tx.conn().execute(FORCE_PARALLEL).await.unwrap();
    let scan = "SELECT count(*) FROM projects";
    let explained = plan(&mut tx, scan).await;
    assert_eq!(workers_launched(&explained), 0, "{explained}");
    assert_eq!(count(&mut tx, scan).await, 2000);
    tx.rollback().await.unwrap();
    db.close().await;
}
