//! Benchmark: what `#[tenant(no_statistics)]` costs the plans of queries
//! that filter by the marked column, as one tenant runs them (EXPLAIN
//! ANALYZE, median of 15 runs), with the column's statistics and without
//! (after the DDL emit-rls writes for the attribute).
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench no_statistics
//! ```
//!
//! It creates (and drops) `tenant_bench_no_statistics` with the example
//! models (`tasks.title` is marked) and 100 tenants: one with 200,000
//! tasks, 99 with 2,000; 30% of each tenant's titles are "Weekly review",
//! 30% five titles of its own, 40% one-off. The queries run with the
//! model's indexes, then with an index on (tenant_id, title), then on
//! (tenant_id, title, id) instead.

use serde_json::Value;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool};
use tenant_runtime::{SystemPool, TenantId, TenantPool, ddl, registry};
use tenant_tests::bench::{BoxError, with_fresh_database};
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};

struct Db {
    owner: PgPool,
    app: TenantPool,
}

/// `attstattarget` of tasks.title, -1 for the default.
async fn stat_target(owner: &PgPool) -> Result<i32, BoxError> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(attstattarget, -1)::int4 FROM pg_attribute \
         WHERE attrelid = 'public.tasks'::regclass AND attname = 'title'",
    )
    .fetch_one(owner)
    .await?)
}

/// The emitted statements for tasks.title, as `emit-rls` prints them.
fn emitted_no_statistics() -> Result<String, BoxError> {
    let ddl = ddl::emit(registry::tables()?);
    let start = ddl
        .find("ALTER TABLE \"public\".\"tasks\" ALTER COLUMN \"title\" SET STATISTICS 0;")
        .ok_or("emit-rls sets no statistics on tasks.title")?;
    let end = start
        + ddl[start..]
            .find("$do$;")
            .ok_or("followed by the block that clears old statistics")?
        + "$do$;".len();
    Ok(ddl[start..end].to_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    with_fresh_database("tenant_bench_no_statistics", async |owner, opts| {
        run(owner, &opts).await
    })
    .await
}

async fn run(owner: PgPool, opts: &PgConnectOptions) -> Result<(), BoxError> {
    tenant_tests::link();
    let key = setup::install(&owner, &ddl::emit(registry::tables()?)).await?;
    let system = SystemPool::connect_with(opts.clone().username(SYSTEM_ROLE)).await?;
    let tx = system.begin().await?;
    let big = tx.tenants().create("Big").await?.id;
    let small = tx.tenants().create("Small").await?.id;
    tx.commit().await?;
    system.close();
    let app = TenantPool::options()
        .context_key(key)
        .max_connections(1)
        .connect_with(opts.clone().username(APP_ROLE))
        .await?;
    let db = Db { owner, app };
    let data = format!(
        "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(3, 100) g;
         CREATE TEMPORARY TABLE sizes AS
             SELECT id, row_number() OVER (ORDER BY id = '{big}' DESC, id = '{small}' DESC, id) AS n FROM tenants;
         INSERT INTO projects (tenant_id, name)
             SELECT s.id, 'p' || p FROM sizes s, generate_series(1, CASE WHEN s.n = 1 THEN 200 ELSE 20 END) p;
         INSERT INTO tasks (tenant_id, project_id, title, done)
             SELECT s.id, pr.first + i % pr.count,
                    CASE WHEN i % 10 < 3 THEN 'Weekly review'
                         WHEN i % 10 < 6 THEN 'recurring ' || i % 5 || ' of tenant ' || s.n
                         ELSE 'task ' || i || ' of tenant ' || s.n END,
                    i % 3 = 0
             FROM sizes s
             JOIN (SELECT tenant_id, min(id) AS first, count(*) AS count FROM projects GROUP BY tenant_id) pr
               ON pr.tenant_id = s.id,
             generate_series(1, CASE WHEN s.n = 1 THEN 200000 ELSE 2000 END) i;"
    );
    sqlx::raw_sql(&data).execute(&db.owner).await?;
    db.owner.execute("VACUUM ANALYZE").await?;
    for index in [
        None,
        Some("(tenant_id, title)"),
        Some("(tenant_id, title, id)"),
    ] {
        db.owner
            .execute("DROP INDEX IF EXISTS tasks_title_measured_idx")
            .await?;
        if let Some(columns) = index {
            db.owner
                .execute(
                    format!("CREATE INDEX tasks_title_measured_idx ON tasks {columns}").as_str(),
                )
                .await?;
        }
        for statistics in [true, false] {
            if statistics {
                db.owner
                    .execute("ALTER TABLE tasks ALTER COLUMN title SET STATISTICS -1")
                    .await?;
            } else {
                sqlx::raw_sql(&emitted_no_statistics()?)
                    .execute(&db.owner)
                    .await?;
            }
            db.owner.execute("ANALYZE tasks").await?;
            assert_eq!(
                stat_target(&db.owner).await?,
                if statistics { -1 } else { 0 }
            );
            println!(
                "\n{} statistics on title, {}:\n",
                if statistics { "with" } else { "without" },
                index.map_or("the model's indexes".to_owned(), |c| format!(
                    "and an index on {c}"
                ))
            );
            println!("| query | estimated rows | actual rows | median ms | plan |");
            println!("| --- | --- | --- | --- | --- |");
            measure(&db, big, small).await?;
        }
    }
    db.app.close();
    Ok(())
}

/// One query of the plan measurement: a name, the tenant it runs for
/// (`true`: the big one), and its text.
const MEASURED: [(&str, bool, &str); 6] = [
    (
        "common title, first 20 by id",
        true,
        "SELECT id FROM tasks WHERE title = 'Weekly review' ORDER BY id LIMIT 20",
    ),
    (
        "common title, count",
        true,
        "SELECT count(*) FROM tasks WHERE title = 'Weekly review'",
    ),
    (
        "common title, per project",
        true,
        "SELECT p.name, count(*) FROM tasks t JOIN projects p ON p.tenant_id = t.tenant_id AND p.id = t.project_id \
         WHERE t.title = 'Weekly review' GROUP BY p.name",
    ),
    (
        "one-off title, first 20 by id",
        true,
        "SELECT id FROM tasks WHERE title = 'task 17 of tenant 1' ORDER BY id LIMIT 20",
    ),
    (
        "titles by count, top 5",
        true,
        "SELECT title, count(*) FROM tasks GROUP BY title ORDER BY 2 DESC LIMIT 5",
    ),
    (
        "small tenant: common title, first 20 by id",
        false,
        "SELECT id FROM tasks WHERE title = 'Weekly review' ORDER BY id LIMIT 20",
    ),
];

/// The plan's nodes, depth first (init plans left out), with the index
/// each scan uses.
fn shape(node: &Value) -> Vec<String> {
    let mut name = node["Node Type"].as_str().unwrap_or("?").to_owned();
    if let Some(index) = node["Index Name"].as_str() {
        name = format!("{name} ({index})");
    }
    let mut out = vec![name];
    for child in node["Plans"].as_array().into_iter().flatten() {
        if child["Parent Relationship"] != "InitPlan" {
            out.extend(shape(child));
        }
    }
    out
}

/// The scan of `tasks`: estimated and actual rows, per loop when it runs
/// more than once.
fn tasks_scan(node: &Value) -> Option<(String, String)> {
    if node["Relation Name"] == "tasks" {
        let (estimated, actual) = (node["Plan Rows"].as_f64()?, node["Actual Rows"].as_f64()?);
        return Some(match node["Actual Loops"].as_f64() {
            Some(loops) if loops > 1.0 => (
                format!("{estimated} per loop"),
                format!("{actual} per loop, {loops} loops"),
            ),
            _ => (estimated.to_string(), actual.to_string()),
        });
    }
    node["Plans"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(tasks_scan)
}

/// Median execution time (EXPLAIN ANALYZE, timing of nodes off), the plan
/// and the tasks scan's estimate and actual rows, of each measured query.
async fn measure(db: &Db, big: TenantId, small: TenantId) -> Result<(), BoxError> {
    const RUNS: usize = 15;
    for (name, on_big, sql) in MEASURED {
        let mut tx = db.app.begin(if on_big { big } else { small }).await?;
        let explain = format!("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}");
        let mut times = Vec::with_capacity(RUNS);
        let mut plan = Value::Null;
        for run in 0..RUNS + 2 {
            let explained: Value = sqlx::query_scalar(&explain)
                .fetch_one(tx.conn())
                .await
                .map_err(|e| format!("{sql}: {e}"))?;
            if run >= 2 {
                times.push(
                    explained[0]["Execution Time"]
                        .as_f64()
                        .ok_or("EXPLAIN gives the execution time")?,
                );
            }
            plan = explained[0]["Plan"].clone();
        }
        tx.rollback().await?;
        times.sort_by(f64::total_cmp);
        let (estimated, actual) = tasks_scan(&plan).unwrap_or_default();
        println!(
            "| {name} | {estimated} | {actual} | {:.2} | {} |",
            times[RUNS / 2],
            shape(&plan).join(" > ")
        );
    }
    Ok(())
}
