//! The soak of issue 12: many tasks run mixed operations on many tenants
//! through one small [`TenantPool`] of the application role while faults
//! are injected, and a ledger of every acknowledged write is checked
//! against the table at the end.
//!
//! Operations ([`Op`]): scoped inserts, updates and deletes of `users`
//! rows, scoped reads (`find`, `count`), raw reads through `tx.conn()`
//! with hand-written SQL that has no tenant filter (row-level security
//! must limit them), paging (`page` and keyset `after`), and requests
//! through tenant-axum's layer with an HS256 JWT naming the tenant, to a
//! handler that reads through [`RequestTx`].
//!
//! Faults ([`Fault`]): futures dropped mid-transaction, backends of the
//! application role terminated from the owner's connection,
//! `statement_timeout` hits, the pool held exhausted, a tenant
//! soft-deleted and restored, and SQL that tries to leave session state
//! on its connection.
//!
//! Every row's email starts with its tenant's id (a marker the database
//! knows nothing about), so each row read is checked twice against the
//! transaction's tenant, and the final table against the ledger.
//!
//! A module of the integration tests that the soak bench includes too
//! (`#[path]`), so the web stack it drives stays out of the crate that
//! holds the example models and the `emit-rls` binary.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_axum::resolve::{ClaimResolver, Resolvers};
use tenant_axum::{
    CachedDirectory, JwtKeys, JwtVerifier, PgDirectory, RequestTx, TenantError, TenantLayer,
};
use tenant_runtime::{Error, SystemPool, TenantId, TenantPool, TenantTx};
use time::OffsetDateTime;
use tower::ServiceExt as _;

use tenant_tests::User;
use tenant_tests::bench::BoxError;
use tenant_tests::setup::{self, APP_ROLE, SYSTEM_ROLE};

/// What a run does: the load, and how often each fault is injected.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Connect options of a role that can create roles and terminate the
    /// application role's backends (a superuser or the database owner with
    /// `pg_signal_backend`), on a fresh database the run may fill.
    pub(crate) database: PgConnectOptions,
    /// Concurrent worker tasks.
    pub(crate) tasks: usize,
    /// Tenants created, each picked at random.
    pub(crate) tenants: usize,
    /// Connections of the application role's [`TenantPool`].
    pub(crate) pool_size: usize,
    /// Worker operations to run (each iteration of a worker is one).
    pub(crate) operations: u64,
    /// Seed of the workers' generators.
    pub(crate) seed: u64,
    /// The pool's acquire timeout (what an exhausted pool answers after).
    pub(crate) acquire_timeout: Duration,
    /// One transaction in this many checks its connection first.
    pub(crate) check_one_in: u32,
    /// How often a random application-role backend is terminated.
    pub(crate) terminate_every: Duration,
    /// How often the pool is held exhausted.
    pub(crate) exhaust_every: Duration,
    /// How long it is held (longer than `acquire_timeout`).
    pub(crate) exhaust_hold: Duration,
    /// How often a tenant is soft-deleted (then restored).
    pub(crate) delete_every: Duration,
    /// How long it stays deleted.
    pub(crate) deleted_for: Duration,
    /// Print progress to stderr this often.
    pub(crate) progress_every: Option<Duration>,
}

impl Config {
    /// The full soak: 64 tasks, 100 tenants, 8 connections, 1,000,000
    /// operations.
    pub(crate) fn full(database: PgConnectOptions) -> Self {
        Self {
            database,
            tasks: 64,
            tenants: 100,
            pool_size: 8,
            operations: 1_000_000,
            seed: 12,
            acquire_timeout: Duration::from_millis(300),
            check_one_in: 10,
            terminate_every: Duration::from_millis(250),
            exhaust_every: Duration::from_secs(5),
            exhaust_hold: Duration::from_millis(600),
            delete_every: Duration::from_secs(2),
            deleted_for: Duration::from_millis(300),
            progress_every: Some(Duration::from_secs(30)),
        }
    }

    /// The bounded version CI runs: the same load and every fault, for
    /// `operations` operations (the run goes on until every fault kind
    /// was injected at least once).
    pub(crate) fn short(database: PgConnectOptions, operations: u64) -> Self {
        Self {
            operations,
            terminate_every: Duration::from_millis(150),
            exhaust_every: Duration::from_millis(1500),
            exhaust_hold: Duration::from_millis(500),
            delete_every: Duration::from_millis(700),
            deleted_for: Duration::from_millis(250),
            progress_every: None,
            ..Self::full(database)
        }
    }
}

/// The operations of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `User::scoped(&tx).insert`.
    Insert,
    /// `find` then `update` of a row the task wrote.
    Update,
    /// `delete` of a row the task wrote.
    Delete,
    /// `find` of a row the task wrote, or `count`.
    ScopedRead,
    /// Hand-written SQL through `tx.conn()` without a tenant filter.
    RawRead,
    /// `page` and keyset `after`.
    Page,
    /// A request through tenant-axum's layer, read through `RequestTx`.
    Web,
    /// An insert through the layer, acknowledged only by its 201.
    WebWrite,
}

impl Op {
    /// Every operation, in report order.
    pub(crate) const ALL: [Op; 8] = [
        Op::Insert,
        Op::Update,
        Op::Delete,
        Op::ScopedRead,
        Op::RawRead,
        Op::Page,
        Op::Web,
        Op::WebWrite,
    ];

    /// Its name in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::ScopedRead => "scoped read",
            Op::RawRead => "raw read",
            Op::Page => "paging",
            Op::Web => "web read",
            Op::WebWrite => "web write",
        }
    }
}

/// The faults injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A write's future dropped by a tiny `tokio::time::timeout`.
    DroppedFuture,
    /// `pg_terminate_backend` on a random application-role backend.
    TerminatedBackend,
    /// `SET LOCAL statement_timeout = '1ms'` and a `pg_sleep` after a write.
    StatementTimeout,
    /// Every connection of the pool held, and one more `begin` refused.
    PoolExhaustion,
    /// A tenant soft-deleted and restored through the system pool.
    TenantSoftDeleted,
    /// SQL leaving settings, cursors WITH HOLD, LISTEN, advisory locks, a
    /// session-level `app.current_tenant`, or a prepared statement.
    SessionPollution,
}

impl Fault {
    /// Every fault, in report order.
    pub(crate) const ALL: [Fault; 6] = [
        Fault::DroppedFuture,
        Fault::TerminatedBackend,
        Fault::StatementTimeout,
        Fault::PoolExhaustion,
        Fault::TenantSoftDeleted,
        Fault::SessionPollution,
    ];

    /// Its name in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::DroppedFuture => "future dropped mid-transaction",
            Fault::TerminatedBackend => "backend terminated",
            Fault::StatementTimeout => "statement_timeout hit",
            Fault::PoolExhaustion => "pool exhausted",
            Fault::TenantSoftDeleted => "tenant soft-deleted and restored",
            Fault::SessionPollution => "session state polluted",
        }
    }
}

/// What a run did and found. Every count under "required 0" must be 0.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// Worker operations run (fault operations included).
    pub(crate) operations: u64,
    /// Operations run, by [`Op`] index.
    pub(crate) ops: [u64; 8],
    /// Of those, how many failed (a fault hit them), by [`Op`] index.
    pub(crate) failed: [u64; 8],
    /// Faults injected, by [`Fault`] index.
    pub(crate) faults: [u64; 6],
    /// Dropped futures by where they were: acquiring or beginning, in a
    /// statement after `begin`, in the commit, in a web write (anywhere
    /// in the layer or the handler).
    pub(crate) dropped_at: [u64; 4],
    /// Wall time of the load (set-up and final checks excluded).
    pub(crate) duration: Duration,
    /// Required 0: rows a read returned whose tenant column or marker is
    /// not the transaction's tenant.
    pub(crate) wrong_tenant_reads: u64,
    /// Required 0: acknowledged writes missing at the end or during the run
    /// (a row gone, or not in an acknowledged state).
    pub(crate) lost_writes: u64,
    /// Required 0: rows whose tenant is not the one they were written for.
    pub(crate) wrong_tenant_writes: u64,
    /// Required 0: connection checks that found another tenant or session
    /// state left by an earlier transaction.
    pub(crate) dirty_connections: u64,
    /// Required 0: `begin` succeeded for a tenant while it was deleted.
    pub(crate) deleted_tenant_entered: u64,
    /// Required 0: rows whose write was never committed (rolled back, or
    /// refused), or that no operation wrote.
    pub(crate) phantom_writes: u64,
    /// Required 0: an error or answer no fault explains.
    pub(crate) unexpected: u64,
    /// Connections checked at the start of a transaction.
    pub(crate) connection_checks: u64,
    /// `begin`s (and web requests) refused because their tenant was deleted.
    pub(crate) refused_deleted: u64,
    /// `begin`s that waited the whole acquire timeout.
    pub(crate) pool_timeouts: u64,
    /// Operations that failed with `DatabaseUnavailable`.
    pub(crate) unavailable: u64,
    /// Writes acknowledged (committed and answered).
    pub(crate) acknowledged_writes: u64,
    /// Writes whose outcome is unknown (the commit was sent, no answer).
    pub(crate) unknown_writes: u64,
    /// Rows in the table at the end.
    pub(crate) rows_at_end: u64,
    /// The first violations and unexpected errors, described.
    pub(crate) samples: Vec<String>,
}

impl Report {
    /// Operations of kind `op`.
    pub(crate) fn op(&self, op: Op) -> u64 {
        self.ops[op as usize]
    }

    /// Faults of kind `fault`.
    pub(crate) fn fault(&self, fault: Fault) -> u64 {
        self.faults[fault as usize]
    }

    /// The sum of every count that must be 0.
    pub(crate) fn violations(&self) -> u64 {
        self.wrong_tenant_reads
            + self.lost_writes
            + self.wrong_tenant_writes
            + self.dirty_connections
            + self.deleted_tenant_entered
            + self.phantom_writes
            + self.unexpected
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.duration.as_secs_f64();
        writeln!(
            f,
            "- operations: {} in {secs:.1} s ({:.0}/s)",
            self.operations,
            self.operations as f64 / secs.max(1e-9)
        )?;
        for op in Op::ALL {
            writeln!(
                f,
                "  - {}: {} ({} failed under faults)",
                op.name(),
                self.ops[op as usize],
                self.failed[op as usize]
            )?;
        }
        writeln!(f, "- faults injected:")?;
        for fault in Fault::ALL {
            writeln!(f, "  - {}: {}", fault.name(), self.faults[fault as usize])?;
            if fault == Fault::DroppedFuture {
                let [begin, statement, commit, web] = self.dropped_at;
                writeln!(
                    f,
                    "    (while acquiring or beginning: {begin}, mid-statement: {statement}, in the commit: {commit}, in a web write: {web})"
                )?;
            }
        }
        writeln!(
            f,
            "- writes acknowledged: {}, outcome unknown: {}, rows at the end: {}",
            self.acknowledged_writes, self.unknown_writes, self.rows_at_end
        )?;
        writeln!(
            f,
            "- connection checks: {}, begins refused for a deleted tenant: {}, pool timeouts: {}, database unavailable: {}",
            self.connection_checks, self.refused_deleted, self.pool_timeouts, self.unavailable
        )?;
        writeln!(
            f,
            "- rows seen by the wrong tenant: {}",
            self.wrong_tenant_reads
        )?;
        writeln!(f, "- acknowledged writes lost: {}", self.lost_writes)?;
        writeln!(
            f,
            "- rows written to the wrong tenant: {}",
            self.wrong_tenant_writes
        )?;
        writeln!(
            f,
            "- connections handed out carrying a tenant or session state: {}",
            self.dirty_connections
        )?;
        writeln!(
            f,
            "- deleted tenant entered: {}",
            self.deleted_tenant_entered
        )?;
        writeln!(f, "- rows of uncommitted writes: {}", self.phantom_writes)?;
        writeln!(f, "- unexpected errors: {}", self.unexpected)?;
        for sample in &self.samples {
            writeln!(f, "  - {sample}")?;
        }
        Ok(())
    }
}

/// A small deterministic generator (splitmix64), one per task.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn one_in(&mut self, n: u32) -> bool {
        self.below(u64::from(n.max(1))) == 0
    }
}

/// The counters every task adds to.
#[derive(Default)]
struct Stats {
    operations: AtomicU64,
    ops: [AtomicU64; 8],
    failed: [AtomicU64; 8],
    faults: [AtomicU64; 6],
    dropped_at: [AtomicU64; 4],
    wrong_tenant_reads: AtomicU64,
    lost_writes: AtomicU64,
    wrong_tenant_writes: AtomicU64,
    dirty_connections: AtomicU64,
    deleted_tenant_entered: AtomicU64,
    unexpected: AtomicU64,
    connection_checks: AtomicU64,
    refused_deleted: AtomicU64,
    pool_timeouts: AtomicU64,
    unavailable: AtomicU64,
    samples: Mutex<Vec<String>>,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The tenant being deleted, as the deleter announces it: `victim` is
/// set before the deletion commits and cleared after the restore
/// committed; `deleted` only while the deletion is committed and the
/// restore has not begun. `epoch` changes with every step.
#[derive(Debug, Clone, Copy, Default)]
struct Victim {
    tenant: Option<TenantId>,
    deleted: bool,
    epoch: u64,
}

/// What a clean connection shows inside a tenant transaction (the
/// tenant's own id apart), read once at the start.
type TenantState = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
);
/// The same inside a transaction with no tenant.
type GlobalState = (String, String, String, String, String, i64, i64, i64, i64);

/// Foreign rows visible, then the session state a transaction could
/// leave: the settings the pollution changes, cursors, LISTEN channels,
/// advisory locks and SQL-level prepared statements of this backend.
const TENANT_STATE: &str = "SELECT (SELECT count(*) FROM public.users WHERE tenant_id <> $1), \
     coalesce(current_setting('app.soak_polluted', true), ''), \
     current_setting('statement_timeout'), current_setting('search_path'), \
     current_setting('default_transaction_read_only'), \
     coalesce(current_setting('app.current_tenant', true), ''), \
     (SELECT count(*) FROM pg_cursors), (SELECT count(*) FROM pg_listening_channels()), \
     (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
     (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)";
const GLOBAL_STATE: &str = "SELECT coalesce(current_setting('app.soak_polluted', true), ''), \
     current_setting('statement_timeout'), current_setting('search_path'), \
     current_setting('default_transaction_read_only'), \
     coalesce(current_setting('app.current_tenant', true), ''), \
     (SELECT count(*) FROM pg_cursors), (SELECT count(*) FROM pg_listening_channels()), \
     (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
     (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)";
/// Fails closed with no tenant (`NoTenantContext`) unless the connection
/// carries one.
const GLOBAL_PROBE: &str = "SELECT count(*) FROM public.users";
/// A read with no tenant filter: row-level security alone limits it.
const RAW_READ: &str = "SELECT id, tenant_id, email, name FROM users ORDER BY id DESC LIMIT 20";

const JWT_SECRET: &[u8] = b"the soak's HS256 secret, 32 bytes or more";

/// Everything the tasks share.
struct Shared {
    config: Config,
    pool: TenantPool,
    system: SystemPool,
    owner: PgPool,
    app: Router,
    directory: CachedDirectory<PgDirectory>,
    tenants: Vec<TenantId>,
    tokens: HashMap<TenantId, String>,
    stats: Stats,
    victim: Mutex<Victim>,
    remaining: AtomicI64,
    stop: AtomicBool,
    tenant_baseline: TenantState,
    global_baseline: GlobalState,
}

/// Where a row came from, by its email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Its insert was acknowledged (the row is in `rows`).
    Acked,
    /// Its insert's commit was sent but not answered.
    Unknown,
    /// Its insert certainly did not commit.
    RolledBack,
}

/// A row a task inserted, and every state it may be in now: one when the
/// last write was acknowledged, more after writes of unknown outcome.
/// `None` is "deleted".
#[derive(Debug, Clone)]
struct Entry {
    tenant: TenantId,
    email: String,
    states: Vec<Option<String>>,
}

/// One task's ledger; tasks write only their own rows.
#[derive(Debug, Default)]
struct Ledger {
    rows: HashMap<i64, Entry>,
    /// Ids that may still exist, to pick updates and deletes from.
    live: Vec<i64>,
    origins: HashMap<String, Origin>,
    acknowledged: u64,
    unknown: u64,
}

/// How a write transaction ended.
enum Outcome<T> {
    /// Committed and acknowledged.
    Committed(T),
    /// Certainly not committed.
    NotCommitted(Error),
    /// The commit was sent; the answer never came.
    Unknown,
}

/// A sqlx future boxed where its lifetimes are concrete, so the task
/// that awaits it is `Send` (the reason tenant-runtime boxes its own).
fn boxed<'c, T>(
    f: impl Future<Output = T> + Send + 'c,
) -> std::pin::Pin<Box<dyn Future<Output = T> + Send + 'c>> {
    Box::pin(f)
}

/// `sql` as one simple-query message (several statements), boxed like
/// [`boxed`].
fn simple_query<'c>(
    conn: &'c mut sqlx::PgConnection,
    sql: &'c str,
) -> std::pin::Pin<Box<dyn Future<Output = sqlx::Result<sqlx::postgres::PgQueryResult>> + Send + 'c>>
{
    sqlx::Executor::execute(conn, sqlx::raw_sql(sql))
}

/// Where a write is, for a dropped future: acquiring and beginning,
/// running its statements, or committing (outcome unknown from then on).
const STAGE_BEGIN: u8 = 0;
const STAGE_STATEMENTS: u8 = 1;
const STAGE_COMMIT: u8 = 2;

/// The tenant a row's email names.
fn marker(email: &str) -> Option<TenantId> {
    TenantId::parse(email.split('.').next()?).ok()
}

fn sqlstate(e: &Error) -> Option<String> {
    match e {
        Error::Database(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

impl Shared {
    fn sample(&self, what: String) {
        let mut samples = self.stats.samples.lock().unwrap();
        if samples.len() < 20 {
            samples.push(what);
        }
    }

    fn violation(&self, counter: &AtomicU64, what: String) {
        bump(counter);
        self.sample(what);
    }

    fn victim(&self) -> Victim {
        *self.victim.lock().unwrap()
    }

    fn set_victim(&self, tenant: Option<TenantId>, deleted: bool) {
        let mut v = self.victim.lock().unwrap();
        v.tenant = tenant;
        v.deleted = deleted;
        v.epoch += 1;
    }

    /// Whether a "deleted" answer for `tenant` between the two snapshots
    /// is explained by the deleter.
    fn deletion_explains(tenant: TenantId, before: Victim, after: Victim) -> bool {
        before.tenant == Some(tenant)
            || after.tenant == Some(tenant)
            || after.epoch >= before.epoch + 2
    }

    /// Sorts an error of an operation hit by a fault; anything no fault
    /// explains is unexpected.
    fn failed(&self, op: Op, e: &Error) {
        bump(&self.stats.failed[op as usize]);
        match e {
            Error::DatabaseUnavailable(_) => bump(&self.stats.unavailable),
            Error::PoolTimedOut { .. } => bump(&self.stats.pool_timeouts),
            // Counted where the deletion was checked (`begin`).
            Error::TenantDeleted { .. } => {}
            other => self.violation(
                &self.stats.unexpected,
                format!("{}: unexpected error {other:?}", op.name()),
            ),
        }
    }

    /// Begins a transaction for `tenant`, checks that a deleted tenant is
    /// refused and only then, and on some transactions checks the
    /// connection before anything else runs on it.
    async fn begin(&self, rng: &mut Rng, tenant: TenantId, check: bool) -> Result<TenantTx, Error> {
        let before = self.victim();
        let result = self.pool.begin(tenant).await;
        let after = self.victim();
        match &result {
            Ok(_) => {
                if before.deleted && before.tenant == Some(tenant) && after.epoch == before.epoch {
                    self.violation(
                        &self.stats.deleted_tenant_entered,
                        format!("begin entered tenant {tenant} while it was deleted"),
                    );
                }
            }
            Err(Error::TenantDeleted { tenant: t }) => {
                if *t == tenant && Self::deletion_explains(tenant, before, after) {
                    bump(&self.stats.refused_deleted);
                } else {
                    self.violation(
                        &self.stats.unexpected,
                        format!("begin({tenant}) refused as deleted ({t}) with no deletion"),
                    );
                }
            }
            Err(_) => {}
        }
        let tx = result?;
        if check || rng.one_in(self.config.check_one_in) {
            self.check_tenant_connection(&tx).await?;
        }
        Ok(tx)
    }

    /// The connection of a fresh tenant transaction shows no other
    /// tenant's rows and the session state of a clean connection.
    async fn check_tenant_connection(&self, tx: &TenantTx) -> Result<(), Error> {
        let state: TenantState = tx
            .static_select(TENANT_STATE)?
            .bind(tx.tenant())
            .fetch_one()
            .await?;
        bump(&self.stats.connection_checks);
        let mut expected = self.tenant_baseline.clone();
        // The hint the begin message sets (none with the extension, whose
        // column default reads the verified tenant).
        if !expected.5.is_empty() {
            expected.5 = tx.tenant().to_string();
        }
        if state != expected {
            self.violation(
                &self.stats.dirty_connections,
                format!(
                    "tenant {} got a connection showing {state:?}, expected {expected:?}",
                    tx.tenant()
                ),
            );
        }
        Ok(())
    }

    /// A transaction with no tenant on a pooled connection: the session
    /// state of a clean connection, and tenant tables fail closed.
    async fn check_global_connection(&self) {
        let result = self.global_check().await;
        if let Err(e) = result {
            match e {
                Error::DatabaseUnavailable(_) => bump(&self.stats.unavailable),
                Error::PoolTimedOut { .. } => bump(&self.stats.pool_timeouts),
                other => self.violation(
                    &self.stats.unexpected,
                    format!("connection check: unexpected error {other:?}"),
                ),
            }
        }
    }

    async fn global_check(&self) -> Result<(), Error> {
        let tx = self.pool.begin_global().await?;
        let state: GlobalState = tx.static_select(GLOBAL_STATE)?.fetch_one().await?;
        bump(&self.stats.connection_checks);
        if state != self.global_baseline {
            self.violation(
                &self.stats.dirty_connections,
                format!(
                    "a global transaction's connection shows {state:?}, expected {:?}",
                    self.global_baseline
                ),
            );
        }
        match tx.static_select::<(i64,)>(GLOBAL_PROBE)?.fetch_one().await {
            Err(Error::NoTenantContext) => {}
            Ok((n,)) => self.violation(
                &self.stats.dirty_connections,
                format!(
                    "a global transaction read {n} tenant rows: its connection carried a tenant"
                ),
            ),
            Err(e) => return Err(e),
        }
        tx.rollback().await
    }

    /// Checks rows a read of `tenant` returned.
    fn check_rows<'a>(
        &self,
        what: &str,
        tenant: TenantId,
        rows: impl IntoIterator<Item = (Option<TenantId>, &'a str)>,
    ) {
        for (row_tenant, email) in rows {
            if row_tenant != Some(tenant) || marker(email) != Some(tenant) {
                self.violation(
                    &self.stats.wrong_tenant_reads,
                    format!(
                        "{what} of tenant {tenant} returned row {email} of tenant {row_tenant:?}"
                    ),
                );
            }
        }
    }

    fn random_tenant(&self, rng: &mut Rng) -> TenantId {
        // Lean on the tenant being deleted, so writes hit its deletion.
        if rng.one_in(10)
            && let Some(t) = self.victim().tenant
        {
            return t;
        }
        self.tenants[rng.below(self.tenants.len() as u64) as usize]
    }

    /// Ends a write transaction, telling an acknowledged commit from one
    /// that certainly did not happen and one whose answer was lost.
    async fn commit<T>(&self, tx: TenantTx, value: T, stage: &AtomicU8) -> Outcome<T> {
        stage.store(STAGE_COMMIT, Ordering::SeqCst);
        match tx.commit().await {
            Ok(()) => Outcome::Committed(value),
            // Rolled back by the library, which said so.
            Err(e @ (Error::TransactionAborted | Error::SessionTampered)) => {
                Outcome::NotCommitted(e)
            }
            Err(_) => Outcome::Unknown,
        }
    }

    /// Inserts a row for `tenant`; its email was recorded as rolled back
    /// before (see [`Ledger::attempt`]).
    async fn insert(
        &self,
        rng: &mut Rng,
        tenant: TenantId,
        email: String,
        seq: u64,
        stage: &AtomicU8,
    ) -> Outcome<User> {
        let tx = match self.begin(rng, tenant, false).await {
            Ok(tx) => tx,
            Err(e) => return Outcome::NotCommitted(e),
        };
        self.insert_in(tx, email, seq, stage).await
    }

    /// The insert of [`insert`](Self::insert) in a begun transaction.
    async fn insert_in(
        &self,
        tx: TenantTx,
        email: String,
        seq: u64,
        stage: &AtomicU8,
    ) -> Outcome<User> {
        stage.store(STAGE_STATEMENTS, Ordering::SeqCst);
        let tenant = tx.tenant();
        let row = User {
            id: 0,
            tenant_id: tenant,
            email,
            name: format!("v{seq}"),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let stored = match User::scoped(&tx).insert(&row).await {
            Ok(stored) => stored,
            Err(e) => return Outcome::NotCommitted(e),
        };
        if stored.tenant_id != tenant {
            self.violation(
                &self.stats.wrong_tenant_writes,
                format!("insert for {tenant} stored tenant {}", stored.tenant_id),
            );
        }
        self.commit(tx, stored, stage).await
    }

    fn record_insert(&self, op: Op, ledger: &mut Ledger, outcome: Outcome<User>, email: &str) {
        match outcome {
            Outcome::Committed(row) => {
                ledger.acknowledged += 1;
                ledger.origins.insert(row.email.clone(), Origin::Acked);
                ledger.live.push(row.id);
                ledger.rows.insert(
                    row.id,
                    Entry {
                        tenant: row.tenant_id,
                        email: row.email,
                        states: vec![Some(row.name)],
                    },
                );
            }
            Outcome::NotCommitted(e) => self.failed(op, &e),
            Outcome::Unknown => {
                ledger.unknown += 1;
                ledger.origins.insert(email.to_owned(), Origin::Unknown);
                bump(&self.stats.failed[op as usize]);
            }
        }
    }

    /// Updates the name of the live row at `index` of the ledger.
    async fn update(
        &self,
        rng: &mut Rng,
        ledger: &Ledger,
        index: usize,
        seq: u64,
        stage: &AtomicU8,
    ) -> Outcome<Option<User>> {
        let id = ledger.live[index];
        let entry = &ledger.rows[&id];
        let tx = match self.begin(rng, entry.tenant, false).await {
            Ok(tx) => tx,
            Err(e) => return Outcome::NotCommitted(e),
        };
        self.update_in(tx, id, seq, stage).await
    }

    /// The update of [`update`](Self::update) in a begun transaction.
    async fn update_in(
        &self,
        tx: TenantTx,
        id: i64,
        seq: u64,
        stage: &AtomicU8,
    ) -> Outcome<Option<User>> {
        stage.store(STAGE_STATEMENTS, Ordering::SeqCst);
        let tenant = tx.tenant();
        let found = match User::scoped(&tx).find(&id).await {
            Ok(found) => found,
            Err(e) => return Outcome::NotCommitted(e),
        };
        let Some(mut row) = found else {
            return self.commit(tx, None, stage).await;
        };
        self.check_rows("find", tenant, [(Some(row.tenant_id), row.email.as_str())]);
        row.name = format!("v{seq}");
        match User::scoped(&tx).update(&row).await {
            Ok(stored) => self.commit(tx, Some(stored), stage).await,
            Err(Error::RowNotFound { .. }) => self.commit(tx, None, stage).await,
            Err(e) => Outcome::NotCommitted(e),
        }
    }

    fn record_update(
        &self,
        ledger: &mut Ledger,
        index: usize,
        outcome: Outcome<Option<User>>,
        seq: u64,
    ) {
        let id = ledger.live[index];
        match outcome {
            Outcome::Committed(Some(row)) => {
                ledger.acknowledged += 1;
                ledger
                    .rows
                    .get_mut(&id)
                    .expect("live rows are in the ledger")
                    .states = vec![Some(row.name)];
            }
            Outcome::Committed(None) => self.row_gone(ledger, index, "update"),
            Outcome::NotCommitted(e) => self.failed(Op::Update, &e),
            Outcome::Unknown => {
                ledger.unknown += 1;
                bump(&self.stats.failed[Op::Update as usize]);
                let entry = ledger
                    .rows
                    .get_mut(&id)
                    .expect("live rows are in the ledger");
                entry.states.push(Some(format!("v{seq}")));
            }
        }
    }

    /// A committed transaction found no row `live[index]`: fine only if a
    /// delete of unknown outcome may have removed it.
    fn row_gone(&self, ledger: &mut Ledger, index: usize, what: &str) {
        let id = ledger.live.swap_remove(index);
        let entry = ledger
            .rows
            .get_mut(&id)
            .expect("live rows are in the ledger");
        if !entry.states.contains(&None) {
            self.violation(
                &self.stats.lost_writes,
                format!(
                    "{what}: acknowledged row {id} ({}) is gone, states {:?}",
                    entry.email, entry.states
                ),
            );
        }
        entry.states = vec![None];
    }

    async fn delete(
        &self,
        rng: &mut Rng,
        ledger: &Ledger,
        index: usize,
        stage: &AtomicU8,
    ) -> Outcome<bool> {
        let id = ledger.live[index];
        let tenant = ledger.rows[&id].tenant;
        let tx = match self.begin(rng, tenant, false).await {
            Ok(tx) => tx,
            Err(e) => return Outcome::NotCommitted(e),
        };
        stage.store(STAGE_STATEMENTS, Ordering::SeqCst);
        match User::scoped(&tx).delete(&id).await {
            Ok(deleted) => self.commit(tx, deleted, stage).await,
            Err(e) => Outcome::NotCommitted(e),
        }
    }

    fn record_delete(&self, ledger: &mut Ledger, index: usize, outcome: Outcome<bool>) {
        match outcome {
            Outcome::Committed(true) => {
                ledger.acknowledged += 1;
                let id = ledger.live.swap_remove(index);
                ledger
                    .rows
                    .get_mut(&id)
                    .expect("live rows are in the ledger")
                    .states = vec![None];
            }
            Outcome::Committed(false) => self.row_gone(ledger, index, "delete"),
            Outcome::NotCommitted(e) => self.failed(Op::Delete, &e),
            Outcome::Unknown => {
                ledger.unknown += 1;
                bump(&self.stats.failed[Op::Delete as usize]);
                let id = ledger.live[index];
                ledger
                    .rows
                    .get_mut(&id)
                    .expect("live rows are in the ledger")
                    .states
                    .push(None);
            }
        }
    }

    /// `find` of one of the task's rows (read-your-writes on the ledger),
    /// or `count` of a random tenant.
    async fn scoped_read(&self, rng: &mut Rng, ledger: &mut Ledger) -> Result<(), Error> {
        if ledger.live.is_empty() || rng.one_in(3) {
            let tenant = self.random_tenant(rng);
            let tx = self.begin(rng, tenant, false).await?;
            User::scoped(&tx).count().await?;
            return tx.commit().await;
        }
        let index = rng.below(ledger.live.len() as u64) as usize;
        let id = ledger.live[index];
        let entry = &ledger.rows[&id];
        let tx = self.begin(rng, entry.tenant, false).await?;
        let found = User::scoped(&tx).find(&id).await?;
        tx.commit().await?;
        match found {
            Some(row) => {
                self.check_rows(
                    "find",
                    entry.tenant,
                    [(Some(row.tenant_id), row.email.as_str())],
                );
                if !entry.states.contains(&Some(row.name.clone())) {
                    self.violation(
                        &self.stats.lost_writes,
                        format!(
                            "find: row {id} reads {:?}, acknowledged states {:?}",
                            row.name, entry.states
                        ),
                    );
                }
            }
            None => self.row_gone(ledger, index, "find"),
        }
        Ok(())
    }

    async fn raw_read(&self, rng: &mut Rng) -> Result<(), Error> {
        let tenant = self.random_tenant(rng);
        let mut tx = self.begin(rng, tenant, false).await?;
        let rows: Vec<(i64, TenantId, String, String)> =
            boxed(sqlx::query_as(RAW_READ).fetch_all(tx.conn())).await?;
        tx.commit().await?;
        self.check_rows(
            "raw read",
            tenant,
            rows.iter().map(|r| (Some(r.1), r.2.as_str())),
        );
        Ok(())
    }

    async fn page(&self, rng: &mut Rng) -> Result<(), Error> {
        let tenant = self.random_tenant(rng);
        let tx = self.begin(rng, tenant, false).await?;
        let scoped = User::scoped(&tx);
        let first = scoped.page(10, rng.below(30)).await?;
        self.check_rows(
            "page",
            tenant,
            first.iter().map(|u| (Some(u.tenant_id), u.email.as_str())),
        );
        let mut last = first.last().map(|u| u.id);
        for _ in 0..2 {
            let Some(key) = last else { break };
            let next = scoped.after(&key, 10).await?;
            self.check_rows(
                "after",
                tenant,
                next.iter().map(|u| (Some(u.tenant_id), u.email.as_str())),
            );
            if next.iter().any(|u| u.id <= key) {
                self.violation(
                    &self.stats.unexpected,
                    format!("after({key}) returned a smaller key"),
                );
            }
            last = next.last().map(|u| u.id);
        }
        tx.commit().await
    }

    /// A request through the layer: the tenant from the verified token.
    async fn web(&self, rng: &mut Rng) {
        let tenant = self.random_tenant(rng);
        let request = Request::get(format!("/users/{}", rng.below(30)))
            .header("authorization", &self.tokens[&tenant])
            .body(Body::empty())
            .expect("a valid request");
        let (status, body, before, after) = self.call(request).await;
        let code = body["error"]["code"].as_str().unwrap_or("");
        match status {
            StatusCode::OK => {
                let rows = body.as_array().cloned().unwrap_or_default();
                self.check_rows(
                    "web",
                    tenant,
                    rows.iter().map(|r| {
                        let t = r["tenant_id"]
                            .as_str()
                            .and_then(|t| TenantId::parse(t).ok());
                        (t, r["email"].as_str().unwrap_or(""))
                    }),
                );
            }
            StatusCode::NOT_FOUND
                if code == "tenant_deleted" && Self::deletion_explains(tenant, before, after) =>
            {
                bump(&self.stats.refused_deleted);
                bump(&self.stats.failed[Op::Web as usize]);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                bump(&self.stats.unavailable);
                bump(&self.stats.failed[Op::Web as usize]);
            }
            other => {
                bump(&self.stats.failed[Op::Web as usize]);
                self.violation(
                    &self.stats.unexpected,
                    format!("web request for {tenant}: {other} {body}"),
                );
            }
        }
    }

    /// Sends `request` through the layer; the answer's status and JSON
    /// body, and the deleter's announcements before and after.
    async fn call(&self, request: Request<Body>) -> (StatusCode, Value, Victim, Victim) {
        let before = self.victim();
        let response = match self.app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body: Value = match axum::body::to_bytes(response.into_body(), 1 << 20).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        (status, body, before, self.victim())
    }

    /// An insert through the layer (`POST /users`), its future dropped
    /// after `budget` if one is given. Only a 201 acknowledges it; its
    /// row must be the token's tenant's.
    async fn web_write(
        &self,
        rng: &mut Rng,
        ledger: &mut Ledger,
        task: usize,
        seq: u64,
        budget: Option<Duration>,
    ) {
        let (tenant, email) = ledger.attempt(self.random_tenant(rng), task, seq);
        bump(&self.stats.ops[Op::WebWrite as usize]);
        let request = Request::post("/users")
            .header("authorization", &self.tokens[&tenant])
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"email": email, "name": format!("v{seq}")}).to_string(),
            ))
            .expect("a valid request");
        let answer = match budget {
            None => self.call(request).await,
            Some(budget) => match tokio::time::timeout(budget, self.call(request)).await {
                Ok(answer) => answer,
                Err(_) => {
                    bump(&self.stats.faults[Fault::DroppedFuture as usize]);
                    bump(&self.stats.dropped_at[3]);
                    return self.record_insert(Op::WebWrite, ledger, Outcome::Unknown, &email);
                }
            },
        };
        let (status, body, before, after) = answer;
        let code = body["error"]["code"].as_str().unwrap_or("");
        match status {
            StatusCode::CREATED => {
                let stored = body["tenant_id"]
                    .as_str()
                    .and_then(|t| TenantId::parse(t).ok());
                let (Some(id), Some(stored_tenant)) = (body["id"].as_i64(), stored) else {
                    self.violation(
                        &self.stats.unexpected,
                        format!("web write answered 201 {body}"),
                    );
                    return self.record_insert(Op::WebWrite, ledger, Outcome::Unknown, &email);
                };
                if stored_tenant != tenant {
                    self.violation(
                        &self.stats.wrong_tenant_writes,
                        format!("web write for {tenant} stored tenant {stored_tenant}"),
                    );
                }
                let row = User {
                    id,
                    tenant_id: tenant,
                    email: email.clone(),
                    name: body["name"].as_str().unwrap_or("").to_owned(),
                    created_at: OffsetDateTime::UNIX_EPOCH,
                };
                self.record_insert(Op::WebWrite, ledger, Outcome::Committed(row), &email);
            }
            // Refused before anything was written.
            StatusCode::NOT_FOUND
                if code == "tenant_deleted" && Self::deletion_explains(tenant, before, after) =>
            {
                bump(&self.stats.refused_deleted);
                bump(&self.stats.failed[Op::WebWrite as usize]);
            }
            // The begin, the insert or the commit failed: the write may
            // or may not have committed.
            StatusCode::SERVICE_UNAVAILABLE => {
                bump(&self.stats.unavailable);
                self.record_insert(Op::WebWrite, ledger, Outcome::Unknown, &email);
            }
            other => {
                self.violation(
                    &self.stats.unexpected,
                    format!("web write for {tenant}: {other} {body}"),
                );
                self.record_insert(Op::WebWrite, ledger, Outcome::Unknown, &email);
            }
        }
    }

    /// Counts a dropped future by where it was; returns the stage.
    fn dropped(&self, stage: &AtomicU8) -> u8 {
        let at = stage.load(Ordering::SeqCst);
        bump(&self.stats.faults[Fault::DroppedFuture as usize]);
        bump(&self.stats.dropped_at[usize::from(at)]);
        at
    }

    /// A write whose future is dropped after a random few hundred
    /// microseconds, wherever it is then.
    async fn dropped_write(&self, rng: &mut Rng, ledger: &mut Ledger, task: usize, seq: u64) {
        let stage = AtomicU8::new(STAGE_BEGIN);
        // From less than a round trip to a busy pool's wait, so the drop
        // lands in every stage of the transaction.
        let budget = Duration::from_micros(match rng.below(3) {
            0 => 50 + rng.below(950),
            1 => 1_000 + rng.below(9_000),
            _ => 10_000 + rng.below(30_000),
        });
        if rng.one_in(3) {
            return self.web_write(rng, ledger, task, seq, Some(budget)).await;
        }
        // Half the time the transaction is begun first, so the drop lands
        // in its statements or its commit.
        let begun = rng.one_in(2);
        let budget = if begun {
            Duration::from_micros(50 + rng.below(3_000))
        } else {
            budget
        };
        if ledger.live.is_empty() || rng.one_in(2) {
            let (tenant, email) = ledger.attempt(self.random_tenant(rng), task, seq);
            bump(&self.stats.ops[Op::Insert as usize]);
            let attempt = if begun {
                let tx = match self.begin(rng, tenant, false).await {
                    Ok(tx) => tx,
                    Err(e) => return self.failed(Op::Insert, &e),
                };
                tokio::time::timeout(budget, self.insert_in(tx, email.clone(), seq, &stage)).await
            } else {
                tokio::time::timeout(budget, self.insert(rng, tenant, email.clone(), seq, &stage))
                    .await
            };
            match attempt {
                Ok(outcome) => self.record_insert(Op::Insert, ledger, outcome, &email),
                Err(_) => {
                    let at = self.dropped(&stage);
                    if at == STAGE_COMMIT {
                        self.record_insert(Op::Insert, ledger, Outcome::Unknown, &email);
                    } else {
                        bump(&self.stats.failed[Op::Insert as usize]);
                    }
                }
            }
        } else {
            let index = rng.below(ledger.live.len() as u64) as usize;
            bump(&self.stats.ops[Op::Update as usize]);
            let attempt = if begun {
                let id = ledger.live[index];
                let tx = match self.begin(rng, ledger.rows[&id].tenant, false).await {
                    Ok(tx) => tx,
                    Err(e) => return self.failed(Op::Update, &e),
                };
                tokio::time::timeout(budget, self.update_in(tx, id, seq, &stage)).await
            } else {
                tokio::time::timeout(budget, self.update(rng, ledger, index, seq, &stage)).await
            };
            match attempt {
                Ok(outcome) => self.record_update(ledger, index, outcome, seq),
                Err(_) => {
                    let at = self.dropped(&stage);
                    if at == STAGE_COMMIT {
                        self.record_update(ledger, index, Outcome::Unknown, seq);
                    } else {
                        bump(&self.stats.failed[Op::Update as usize]);
                    }
                }
            }
        }
    }

    /// An insert, then a statement cancelled by `statement_timeout`: the
    /// commit must refuse, and the insert must not be in the table.
    async fn statement_timeout(&self, rng: &mut Rng, ledger: &mut Ledger, task: usize, seq: u64) {
        let (tenant, email) = ledger.attempt(self.random_tenant(rng), task, seq);
        let result = self
            .insert_then_sleep(rng, tenant, email.clone(), seq)
            .await;
        let (tx, slept) = match result {
            Ok(pair) => pair,
            Err(e) => {
                if !matches!(
                    e,
                    Error::DatabaseUnavailable(_)
                        | Error::PoolTimedOut { .. }
                        | Error::TenantDeleted { .. }
                ) {
                    self.violation(
                        &self.stats.unexpected,
                        format!("statement_timeout set-up: {e:?}"),
                    );
                }
                return;
            }
        };
        match slept {
            Err(e) if sqlstate(&e).as_deref() == Some("57014") => {
                bump(&self.stats.faults[Fault::StatementTimeout as usize]);
                match tx.commit().await {
                    Err(Error::TransactionAborted) => {}
                    Err(Error::DatabaseUnavailable(_)) => {
                        ledger.origins.insert(email, Origin::Unknown);
                    }
                    other => {
                        ledger.origins.insert(email, Origin::Unknown);
                        self.violation(
                            &self.stats.unexpected,
                            format!("commit after a statement timeout: {other:?}"),
                        );
                    }
                }
            }
            Err(Error::DatabaseUnavailable(_)) => {}
            other => {
                self.violation(
                    &self.stats.unexpected,
                    format!("pg_sleep under a 1ms statement_timeout: {other:?}"),
                );
            }
        }
    }

    /// Begins, inserts, and runs a statement past a 1 ms `statement_timeout`.
    async fn insert_then_sleep(
        &self,
        rng: &mut Rng,
        tenant: TenantId,
        email: String,
        seq: u64,
    ) -> Result<(TenantTx, Result<(i32,), Error>), Error> {
        let mut tx = self.begin(rng, tenant, false).await?;
        let row = User {
            id: 0,
            tenant_id: tenant,
            email,
            name: format!("v{seq}"),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        User::scoped(&tx).insert(&row).await?;
        boxed(sqlx::query("SET LOCAL statement_timeout = '1ms'").execute(tx.conn())).await?;
        let slept = tx
            .raw::<(i32,)>("SELECT 1 FROM pg_sleep(0.05)")
            .fetch_one()
            .await;
        Ok((tx, slept))
    }

    /// Runs `sql` in a tenant transaction and ends it with a rollback
    /// (`rollback`) or a commit.
    async fn polluted_tx(
        &self,
        rng: &mut Rng,
        tenant: TenantId,
        sql: String,
        rollback: bool,
    ) -> Result<(), Error> {
        let mut tx = self.begin(rng, tenant, false).await?;
        simple_query(tx.conn(), &sql).await?;
        bump(&self.stats.faults[Fault::SessionPollution as usize]);
        if rollback {
            tx.rollback().await
        } else {
            tx.commit().await
        }
    }

    /// SQL in a tenant transaction that tries to leave state on the
    /// connection; the next transaction checks it.
    async fn pollute(&self, rng: &mut Rng, task: usize, seq: u64) {
        let tenant = self.random_tenant(rng);
        let other = self.tenants[rng.below(self.tenants.len() as u64) as usize];
        let lock = ((task as i64) << 40) | seq as i64;
        let settings = format!(
            "SET app.soak_polluted = 'yes'; SET statement_timeout = '3s'; \
             SET default_transaction_read_only = on; \
             SELECT set_config('app.current_tenant', '{other}', false); \
             LISTEN soak_leak; SELECT pg_advisory_lock({lock}); SELECT pg_advisory_lock_shared({});",
            lock + 1
        );
        let variant = rng.below(4);
        let sql = match variant {
            // Inside the transaction, ended by commit (0) or rollback (1).
            0 | 1 => format!(
                "{settings} SET search_path = pg_catalog; \
                 DECLARE soak_kept CURSOR WITH HOLD FOR SELECT id FROM public.users"
            ),
            // Out of the transaction the library began, into one of its own.
            2 => format!("COMMIT; {settings} BEGIN"),
            // A prepared statement under a name the client may trust.
            _ => format!("{settings} PREPARE soak_planted AS SELECT 1"),
        };
        let result = self.polluted_tx(rng, tenant, sql, variant == 1).await;
        match (variant, result) {
            (3, Err(Error::SessionTampered)) | (0..=2, Ok(())) => {}
            (
                _,
                Err(
                    Error::DatabaseUnavailable(_)
                    | Error::PoolTimedOut { .. }
                    | Error::TenantDeleted { .. },
                ),
            ) => {}
            (_, Err(e)) if sqlstate(&e).as_deref() == Some("57014") => {}
            (v, other) => self.violation(
                &self.stats.unexpected,
                format!("pollution variant {v}: {other:?}"),
            ),
        }
    }
}

impl Ledger {
    /// Names the row an insert is about to try for `tenant`, recorded as
    /// rolled back until the insert is acknowledged or its commit sent.
    fn attempt(&mut self, tenant: TenantId, task: usize, seq: u64) -> (TenantId, String) {
        let email = format!("{tenant}.{task}.{seq}@soak");
        self.origins.insert(email.clone(), Origin::RolledBack);
        (tenant, email)
    }
}

impl Shared {
    /// Whether a worker should run one more operation: until the count is
    /// reached and every fault kind was injected (or the load ran 30
    /// minutes past the count).
    fn next_operation(&self, started: Instant) -> bool {
        if self.remaining.fetch_sub(1, Ordering::Relaxed) > 0 {
            return true;
        }
        let missing = self
            .stats
            .faults
            .iter()
            .any(|f| f.load(Ordering::Relaxed) == 0);
        missing && started.elapsed() < Duration::from_secs(30 * 60)
    }

    /// A tenant transaction whose connection is checked, right after a
    /// pollution (on whichever connection the pool hands out).
    async fn forced_check(&self, rng: &mut Rng) {
        let tenant = self.random_tenant(rng);
        let result = match self.begin(rng, tenant, true).await {
            Ok(tx) => tx.commit().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(())
            | Err(
                Error::DatabaseUnavailable(_)
                | Error::PoolTimedOut { .. }
                | Error::TenantDeleted { .. },
            ) => {}
            Err(e) => self.violation(&self.stats.unexpected, format!("forced check: {e:?}")),
        }
    }

    async fn read(&self, op: Op, result: Result<(), Error>) {
        bump(&self.stats.ops[op as usize]);
        if let Err(e) = result {
            self.failed(op, &e);
        }
    }
}

/// One worker: `operations / tasks` mixed operations on random tenants.
async fn worker(shared: Arc<Shared>, task: usize, started: Instant) -> Ledger {
    let mut rng =
        Rng::new(shared.config.seed ^ (task as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut ledger = Ledger::default();
    let mut seq = 0u64;
    let stage = AtomicU8::new(STAGE_BEGIN);
    while shared.next_operation(started) {
        seq += 1;
        bump(&shared.stats.operations);
        if rng.one_in(shared.config.check_one_in.saturating_mul(3)) {
            shared.check_global_connection().await;
        }
        let mut roll = rng.below(1000);
        if (225..495).contains(&roll) && ledger.live.is_empty() {
            roll = 100; // nothing to update or delete yet: insert
        }
        let s = &*shared;
        match roll {
            0..10 => s.dropped_write(&mut rng, &mut ledger, task, seq).await,
            10..15 => s.statement_timeout(&mut rng, &mut ledger, task, seq).await,
            15..25 => {
                s.pollute(&mut rng, task, seq).await;
                s.forced_check(&mut rng).await;
            }
            25..225 => {
                let (tenant, email) = ledger.attempt(s.random_tenant(&mut rng), task, seq);
                let outcome = s.insert(&mut rng, tenant, email.clone(), seq, &stage).await;
                bump(&s.stats.ops[Op::Insert as usize]);
                s.record_insert(Op::Insert, &mut ledger, outcome, &email);
            }
            225..375 => {
                let index = rng.below(ledger.live.len() as u64) as usize;
                let outcome = s.update(&mut rng, &ledger, index, seq, &stage).await;
                bump(&s.stats.ops[Op::Update as usize]);
                s.record_update(&mut ledger, index, outcome, seq);
            }
            375..495 => {
                let index = rng.below(ledger.live.len() as u64) as usize;
                let outcome = s.delete(&mut rng, &ledger, index, &stage).await;
                bump(&s.stats.ops[Op::Delete as usize]);
                s.record_delete(&mut ledger, index, outcome);
            }
            495..665 => {
                let result = s.scoped_read(&mut rng, &mut ledger).await;
                s.read(Op::ScopedRead, result).await;
            }
            665..815 => {
                let result = s.raw_read(&mut rng).await;
                s.read(Op::RawRead, result).await;
            }
            815..915 => {
                let result = s.page(&mut rng).await;
                s.read(Op::Page, result).await;
            }
            915..965 => {
                bump(&s.stats.ops[Op::Web as usize]);
                s.web(&mut rng).await;
            }
            _ => s.web_write(&mut rng, &mut ledger, task, seq, None).await,
        }
    }
    ledger
}

/// Sleeps `period` in short steps; `false` once the run is stopping.
async fn pause(shared: &Shared, period: Duration) -> bool {
    let until = Instant::now() + period;
    while Instant::now() < until {
        if shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(20))).await;
    }
    !shared.stop.load(Ordering::Relaxed)
}

/// Terminates a random backend of the application role on this
/// database, from the owner's connection.
async fn terminator(shared: Arc<Shared>) {
    while pause(&shared, shared.config.terminate_every).await {
        let killed: Result<Option<bool>, sqlx::Error> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = $1 AND datname = current_database() AND backend_type = 'client backend' \
             ORDER BY random() LIMIT 1",
        )
        .bind(APP_ROLE)
        .fetch_optional(&shared.owner)
        .await;
        match killed {
            Ok(Some(true)) => bump(&shared.stats.faults[Fault::TerminatedBackend as usize]),
            Ok(_) => {}
            Err(e) => shared.violation(&shared.stats.unexpected, format!("terminate: {e}")),
        }
    }
}

/// Holds every connection of the pool, checks that one more `begin`
/// waits the acquire timeout and is refused with `PoolTimedOut`, holds
/// on a while (the workers wait and time out), and lets go.
async fn exhauster(shared: Arc<Shared>) {
    let size = shared.config.pool_size;
    while pause(&shared, shared.config.exhaust_every).await {
        let mut held = Vec::with_capacity(size);
        let deadline = Instant::now() + Duration::from_secs(10);
        while held.len() < size && Instant::now() < deadline && !shared.stop.load(Ordering::Relaxed)
        {
            match shared.pool.begin_global().await {
                Ok(tx) => held.push(tx),
                Err(Error::PoolTimedOut { .. } | Error::DatabaseUnavailable(_)) => {}
                Err(e) => shared.violation(&shared.stats.unexpected, format!("exhaust: {e:?}")),
            }
        }
        if held.len() == size {
            let start = Instant::now();
            match shared.pool.begin_global().await {
                Err(Error::PoolTimedOut { waited }) if start.elapsed() >= waited.mul_f64(0.9) => {
                    bump(&shared.stats.faults[Fault::PoolExhaustion as usize]);
                }
                other => shared.violation(
                    &shared.stats.unexpected,
                    format!(
                        "a begin with all {size} connections held answered {:?} after {:?}",
                        other.map(|_| ()),
                        start.elapsed()
                    ),
                ),
            }
            tokio::time::sleep(shared.config.exhaust_hold).await;
        }
        for tx in held {
            // A terminated one fails to roll back; its connection is closed.
            let _ = tx.rollback().await;
        }
    }
}

/// Soft-deletes a random tenant through the system pool, keeps it
/// deleted a while, restores it, and tells the workers (see [`Victim`]).
async fn deleter(shared: Arc<Shared>) {
    let mut rng = Rng::new(shared.config.seed ^ 0xDE1E7E);
    while pause(&shared, shared.config.delete_every).await {
        let tenant = shared.tenants[rng.below(shared.tenants.len() as u64) as usize];
        shared.set_victim(Some(tenant), false);
        let deleted = set_deleted(&shared.system, tenant, true).await;
        shared.directory.invalidate_id(tenant).await;
        match deleted {
            Ok(()) => {
                shared.set_victim(Some(tenant), true);
                tokio::time::sleep(shared.config.deleted_for).await;
                bump(&shared.stats.faults[Fault::TenantSoftDeleted as usize]);
            }
            Err(e) => shared.violation(&shared.stats.unexpected, format!("delete {tenant}: {e:?}")),
        }
        shared.set_victim(Some(tenant), false);
        loop {
            let restored = set_deleted(&shared.system, tenant, false).await;
            match restored {
                Ok(()) => break,
                Err(e) => {
                    shared.violation(&shared.stats.unexpected, format!("restore {tenant}: {e:?}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        shared.directory.invalidate_id(tenant).await;
        shared.set_victim(None, false);
    }
}

/// Soft-deletes (`delete`) or restores `tenant` through the tenants API.
async fn set_deleted(system: &SystemPool, tenant: TenantId, delete: bool) -> Result<(), Error> {
    let tx = system.begin().await?;
    if delete {
        tx.tenants().delete(tenant).await?;
    } else {
        tx.tenants().restore(tenant).await?;
    }
    tx.commit().await
}

/// Prints the counters every `every`.
async fn progress(shared: Arc<Shared>, every: Duration, started: Instant) {
    while pause(&shared, every).await {
        let done = shared.stats.operations.load(Ordering::Relaxed);
        let faults: Vec<u64> = shared
            .stats
            .faults
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .collect();
        eprintln!(
            "soak: {done} operations in {:.0} s, faults {faults:?}, violations so far {}",
            started.elapsed().as_secs_f64(),
            shared.stats.wrong_tenant_reads.load(Ordering::Relaxed)
                + shared.stats.lost_writes.load(Ordering::Relaxed)
                + shared.stats.wrong_tenant_writes.load(Ordering::Relaxed)
                + shared.stats.dirty_connections.load(Ordering::Relaxed)
                + shared.stats.deleted_tenant_entered.load(Ordering::Relaxed)
                + shared.stats.unexpected.load(Ordering::Relaxed)
        );
    }
}

/// The web handler: a page of the request's tenant's users, read through
/// the request's transaction.
async fn list_users(tx: RequestTx, Path(offset): Path<u64>) -> Result<Json<Value>, TenantError> {
    let rows = User::scoped(tx.get().await?).page(20, offset).await?;
    let rows = rows
        .into_iter()
        .map(|u| json!({"tenant_id": u.tenant_id.to_string(), "email": u.email}))
        .collect();
    Ok(Json(Value::Array(rows)))
}

/// The web write: inserts a user for the request's tenant, answers 201
/// with the row as stored; the layer commits after the answer.
async fn create_user(
    tx: RequestTx,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Value>), TenantError> {
    let row = User {
        id: 0,
        tenant_id: tx.tenant(),
        email: body["email"].as_str().unwrap_or_default().to_owned(),
        name: body["name"].as_str().unwrap_or_default().to_owned(),
        created_at: OffsetDateTime::UNIX_EPOCH,
    };
    let stored = User::scoped(tx.get().await?).insert(&row).await?;
    let answer = json!({
        "id": stored.id,
        "tenant_id": stored.tenant_id.to_string(),
        "email": stored.email,
        "name": stored.name,
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A bearer token whose `org` claim names `tenant`.
fn bearer(tenant: TenantId) -> Result<String, BoxError> {
    let exp = jsonwebtoken::get_current_timestamp() + 24 * 3600;
    let claims = json!({"sub": "soak", "org": tenant.to_string(), "exp": exp});
    let token = jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET)?,
    )?;
    Ok(format!("Bearer {token}"))
}

/// Runs the soak on `config.database` (which it fills with the example
/// models' tables, the roles, `config.tenants` tenants and rows) and
/// checks the outcome.
///
/// Every measured and checked operation runs as the application role
/// ([`APP_ROLE`], subject to row-level security) or through the system
/// pool for the tenants API; the owner's connection only sets up,
/// terminates backends and reads the final table.
pub(crate) async fn run(config: Config) -> Result<Report, BoxError> {
    tenant_tests::link();
    let ddl = tenant_runtime::ddl::emit(tenant_runtime::registry::tables()?);
    let owner = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(config.database.clone())
        .await?;
    let key = setup::install(&owner, &ddl).await?;
    let pool = TenantPool::options()
        .context_key(key)
        .max_connections(config.pool_size)
        .acquire_timeout(config.acquire_timeout)
        .connect_with(config.database.clone().username(APP_ROLE))
        .await?;
    let system = SystemPool::options()
        .max_connections(2)
        .connect_with(config.database.clone().username(SYSTEM_ROLE))
        .await?;
    let tenants = {
        let tx = system.begin().await?;
        let mut ids = Vec::with_capacity(config.tenants);
        for i in 0..config.tenants {
            ids.push(tx.tenants().create(&format!("Soak tenant {i}")).await?.id);
        }
        tx.commit().await?;
        ids
    };
    let mut tokens = HashMap::new();
    for &t in &tenants {
        tokens.insert(t, bearer(t)?);
    }
    let directory = CachedDirectory::new(PgDirectory::from_tenant_pool(&pool));
    let layer = TenantLayer::builder(pool.clone())
        .directory(directory.clone())
        .jwt(JwtVerifier::new(JwtKeys::hs256(JWT_SECRET)?))
        .require_token(true)
        .resolvers(Resolvers::new().jwt_claim(ClaimResolver::new("org")))
        .build()?;
    let app = Router::new()
        .route("/users/{offset}", get(list_users))
        .route("/users", post(create_user))
        .layer(layer);

    // What a clean connection shows, from the first transactions.
    let tenant_baseline: TenantState = {
        let tx = pool.begin(tenants[0]).await?;
        let state: TenantState = tx
            .static_select(TENANT_STATE)?
            .bind(tenants[0])
            .fetch_one()
            .await?;
        tx.commit().await?;
        state
    };
    let global_baseline: GlobalState = {
        let tx = pool.begin_global().await?;
        let state: GlobalState = tx.static_select(GLOBAL_STATE)?.fetch_one().await?;
        tx.commit().await?;
        state
    };
    let hint = match pool.mechanism() {
        Some(tenant_runtime::tx::ContextMechanism::Extension) => String::new(),
        _ => tenants[0].to_string(),
    };
    if tenant_baseline.0 != 0 || tenant_baseline.5 != hint {
        return Err(format!("a clean connection shows {tenant_baseline:?}").into());
    }

    let operations = i64::try_from(config.operations).unwrap_or(i64::MAX);
    let shared = Arc::new(Shared {
        pool: pool.clone(),
        system: system.clone(),
        owner: owner.clone(),
        app,
        directory,
        tenants,
        tokens,
        stats: Stats::default(),
        victim: Mutex::new(Victim::default()),
        remaining: AtomicI64::new(operations),
        stop: AtomicBool::new(false),
        tenant_baseline,
        global_baseline,
        config,
    });

    let started = Instant::now();
    let mut chaos = vec![
        tokio::spawn(terminator(shared.clone())),
        tokio::spawn(exhauster(shared.clone())),
        tokio::spawn(deleter(shared.clone())),
    ];
    if let Some(every) = shared.config.progress_every {
        chaos.push(tokio::spawn(progress(shared.clone(), every, started)));
    }
    let workers: Vec<_> = (0..shared.config.tasks)
        .map(|task| tokio::spawn(worker(shared.clone(), task, started)))
        .collect();
    let mut ledgers = Vec::with_capacity(workers.len());
    for w in workers {
        ledgers.push(w.await?);
    }
    let duration = started.elapsed();
    shared.stop.store(true, Ordering::Relaxed);
    for c in chaos {
        c.await?;
    }

    let mut report = final_check(&shared, &ledgers).await?;
    report.duration = duration;
    pool.close();
    system.close();
    owner.close().await;
    Ok(report)
}

/// Compares the table, read by the owner (no row-level security), with
/// the ledgers, and folds the counters into the report.
async fn final_check(shared: &Shared, ledgers: &[Ledger]) -> Result<Report, BoxError> {
    let rows: Vec<(i64, TenantId, String, String)> =
        sqlx::query_as("SELECT id, tenant_id, email, name FROM public.users")
            .fetch_all(&shared.owner)
            .await?;
    let stats = &shared.stats;
    let by_id: HashMap<i64, &(i64, TenantId, String, String)> =
        rows.iter().map(|r| (r.0, r)).collect();
    let origins: HashMap<&str, Origin> = ledgers
        .iter()
        .flat_map(|l| l.origins.iter().map(|(e, o)| (e.as_str(), *o)))
        .collect();
    let mut phantom = 0;
    for (id, tenant, email, _) in &rows {
        if marker(email) != Some(*tenant) {
            shared.violation(
                &stats.wrong_tenant_writes,
                format!("row {id} ({email}) is stored for tenant {tenant}"),
            );
        }
        match origins.get(email.as_str()) {
            Some(Origin::Acked | Origin::Unknown) => {}
            other => {
                phantom += 1;
                shared.sample(format!(
                    "row {id} ({email}) of a write that did not commit ({other:?})"
                ));
            }
        }
    }
    for ledger in ledgers {
        for (id, entry) in &ledger.rows {
            match by_id.get(id) {
                None if entry.states.contains(&None) => {}
                None => shared.violation(
                    &stats.lost_writes,
                    format!(
                        "acknowledged row {id} ({}) is missing, states {:?}",
                        entry.email, entry.states
                    ),
                ),
                Some((_, tenant, email, name)) => {
                    if *tenant != entry.tenant || *email != entry.email {
                        shared.violation(
                            &stats.wrong_tenant_writes,
                            format!(
                                "row {id} is {email} of {tenant}, written as {} of {}",
                                entry.email, entry.tenant
                            ),
                        );
                    }
                    if !entry.states.contains(&Some(name.clone())) {
                        shared.violation(
                            &stats.lost_writes,
                            format!(
                                "row {id} ({email}) holds {name:?}, acknowledged states {:?}",
                                entry.states
                            ),
                        );
                    }
                }
            }
        }
    }
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut report = Report {
        operations: load(&stats.operations),
        wrong_tenant_reads: load(&stats.wrong_tenant_reads),
        lost_writes: load(&stats.lost_writes),
        wrong_tenant_writes: load(&stats.wrong_tenant_writes),
        dirty_connections: load(&stats.dirty_connections),
        deleted_tenant_entered: load(&stats.deleted_tenant_entered),
        phantom_writes: phantom,
        unexpected: load(&stats.unexpected),
        connection_checks: load(&stats.connection_checks),
        refused_deleted: load(&stats.refused_deleted),
        pool_timeouts: load(&stats.pool_timeouts),
        unavailable: load(&stats.unavailable),
        acknowledged_writes: ledgers.iter().map(|l| l.acknowledged).sum(),
        unknown_writes: ledgers.iter().map(|l| l.unknown).sum(),
        rows_at_end: rows.len() as u64,
        samples: stats.samples.lock().unwrap().clone(),
        ..Report::default()
    };
    for i in 0..Op::ALL.len() {
        report.ops[i] = load(&stats.ops[i]);
        report.failed[i] = load(&stats.failed[i]);
    }
    for i in 0..Fault::ALL.len() {
        report.faults[i] = load(&stats.faults[i]);
    }
    for i in 0..4 {
        report.dropped_at[i] = load(&stats.dropped_at[i]);
    }
    Ok(report)
}
