//! What the benchmarks share: the server backend's CPU time from /proc,
//! per-variant samples, and the statistics they report (medians of
//! per-round ratios, so the machine's speed cancels out).

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Executor as _};

/// What a benchmark's steps fail with.
pub type BoxError = Box<dyn std::error::Error>;

/// Creates the database `name` through `DATABASE_URL` (replacing one an
/// interrupted run left), runs `body` with a one-connection pool as that
/// superuser on it and its options, and drops it again, whether `body`
/// failed or not.
pub async fn with_fresh_database<F, Fut>(name: &str, body: F) -> Result<(), BoxError>
where
    F: FnOnce(PgPool, PgConnectOptions) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a role that can create databases and roles")?;
    let admin_opts = PgConnectOptions::from_str(&url)?.disable_statement_logging();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin_opts.clone())
        .await?;
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    admin.execute(drop.as_str()).await?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    let opts = admin_opts.database(name);
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await?;
    let result = body(owner.clone(), opts).await;
    owner.close().await;
    admin.execute(drop.as_str()).await?;
    result
}

/// A tenant pool of one connection as the application role, with `key`,
/// and the server backend that connection is (for [`cpu_time`] and
/// /proc): every measured request of a benchmark runs through it.
pub async fn one_connection_tenant_pool(
    opts: &PgConnectOptions,
    key: tenant_runtime::tx::ContextKey,
) -> Result<(tenant_runtime::TenantPool, i32), BoxError> {
    let pool = tenant_runtime::TenantPool::options()
        .context_key(key)
        .max_connections(1)
        .connect_with(opts.clone().username(crate::setup::APP_ROLE))
        .await?;
    let mut global = pool.begin_global().await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(global.conn())
        .await?;
    global.commit().await?;
    Ok((pool, pid))
}

/// Time a process has spent on a CPU, if /proc shows it (the server must
/// run on this machine): the scheduler's own nanosecond count
/// (`/proc/<pid>/schedstat`), which unlike the 10 ms ticks of
/// `/proc/<pid>/stat` is not sampled, so short requests are not mis-charged.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Per-round mean wall time, and total server CPU time, of one variant.
#[derive(Debug, Default)]
pub struct Samples {
    /// Mean wall time per request, one entry per round.
    pub wall: Vec<Duration>,
    /// Server CPU over every round, when /proc shows the backend.
    pub server_cpu: Option<Duration>,
    /// Requests measured.
    pub requests: u32,
}

impl Samples {
    /// Adds one round of `requests` that took `wall` and `cpu` (the
    /// backend's CPU before and after).
    pub fn add_round(
        &mut self,
        wall: Duration,
        requests: u32,
        cpu: (Option<Duration>, Option<Duration>),
    ) {
        self.wall.push(wall / requests.max(1));
        self.requests += requests;
        self.server_cpu = match cpu {
            (Some(before), Some(after)) => {
                Some(self.server_cpu.unwrap_or_default() + (after - before))
            }
            _ => None,
        };
    }

    /// Server CPU per request.
    pub fn server_cpu_per_request(&self) -> Option<Duration> {
        self.server_cpu.map(|total| total / self.requests.max(1))
    }

    /// `123 µs`, or `n/a`.
    pub fn cpu(&self) -> String {
        self.server_cpu_per_request().map_or("n/a".to_owned(), |d| {
            format!("{:.0} µs", d.as_secs_f64() * 1e6)
        })
    }

    /// This variant's server CPU over `base`'s, or `n/a`.
    pub fn cpu_ratio(&self, base: &Samples) -> String {
        match (self.server_cpu_per_request(), base.server_cpu_per_request()) {
            (Some(a), Some(b)) => format!("{:.3}x", a.as_secs_f64() / b.as_secs_f64()),
            _ => "n/a".to_owned(),
        }
    }
}

/// One round of interleaved variants: wall and server CPU per variant,
/// added request by request, then folded into the variants' [`Samples`].
#[derive(Debug)]
pub struct Round {
    wall: Vec<Duration>,
    cpu: Vec<Option<Duration>>,
}

impl Round {
    /// A round of `n` variants.
    pub fn new(n: usize) -> Self {
        Self {
            wall: vec![Duration::ZERO; n],
            cpu: vec![Some(Duration::ZERO); n],
        }
    }

    /// Runs one request of variant `index`, charging its wall time and the
    /// CPU backend `pid` spent meanwhile.
    pub async fn time<T>(&mut self, index: usize, pid: i32, request: impl Future<Output = T>) -> T {
        let before = cpu_time(pid);
        let start = std::time::Instant::now();
        let out = request.await;
        self.wall[index] += start.elapsed();
        self.cpu[index] = match (self.cpu[index], before, cpu_time(pid)) {
            (Some(sum), Some(b), Some(a)) => Some(sum + (a - b)),
            _ => None,
        };
        out
    }

    /// Adds the round, of `requests` per variant, to `samples`.
    pub fn finish(self, samples: &mut [Samples], requests: u32) {
        for (index, s) in samples.iter_mut().enumerate() {
            s.add_round(
                self.wall[index],
                requests,
                (Some(Duration::ZERO), self.cpu[index]),
            );
        }
    }
}

/// Runs `N` variants interleaved: first one request of each per pick (to
/// warm caches and prepare statements), then `rounds` rounds of
/// `per_round` picks in which every variant runs once per pick, in an
/// order rotated each round, each timed against the CPU of backend
/// `backend(variant)`. Request by request, so every variant sees the
/// same pace: a block of one variant after another lets one backend run
/// hot while another sleeps, which on a shared VM moves server CPU by 2-3x.
pub async fn interleaved<const N: usize, T: Copy, E>(
    rounds: (usize, usize),
    pick: impl FnMut() -> T,
    backend: impl Fn(usize) -> i32,
    request: impl AsyncFnMut(usize, T) -> Result<(), E>,
) -> Result<[Samples; N], E> {
    let samples = interleaved_n(N, rounds, pick, backend, request).await?;
    Ok(samples
        .try_into()
        .unwrap_or_else(|_| unreachable!("interleaved_n returns one Samples per variant")))
}

/// [`interleaved`] for a number of variants known at run time.
pub async fn interleaved_n<T: Copy, E>(
    n: usize,
    (rounds, per_round): (usize, usize),
    mut pick: impl FnMut() -> T,
    backend: impl Fn(usize) -> i32,
    mut request: impl AsyncFnMut(usize, T) -> Result<(), E>,
) -> Result<Vec<Samples>, E> {
    for _ in 0..per_round {
        let target = pick();
        for index in 0..n {
            request(index, target).await?;
        }
    }
    let mut samples: Vec<Samples> = (0..n).map(|_| Samples::default()).collect();
    for round in 0..rounds {
        let mut timed = Round::new(n);
        for _ in 0..per_round {
            let target = pick();
            for i in 0..n {
                let index = (i + round) % n;
                timed
                    .time(index, backend(index), request(index, target))
                    .await?;
            }
        }
        timed.finish(&mut samples, u32::try_from(per_round).unwrap_or(u32::MAX));
    }
    Ok(samples)
}

/// The median; NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of `v` in microseconds.
pub fn micros(v: &[Duration]) -> f64 {
    median(v.iter().map(|d| d.as_secs_f64() * 1e6).collect())
}

/// `1.234x (1.10 to 1.40)`: the median of the pairwise ratios and their range.
pub fn ratio(num: &[Duration], den: &[Duration]) -> String {
    let r: Vec<f64> = num
        .iter()
        .zip(den)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    if r.is_empty() {
        return "n/a".to_owned();
    }
    let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = r.iter().copied().fold(0.0, f64::max);
    format!("{:.3}x ({lo:.2} to {hi:.2})", median(r))
}

/// One markdown row: name, median wall, wall ratio, server CPU, CPU ratio
/// (against `base`; the baseline itself is 1.000x).
pub fn row(name: &str, s: &Samples, base: Option<&Samples>) -> String {
    let (wall, cpu) = match base {
        Some(b) => (ratio(&s.wall, &b.wall), s.cpu_ratio(b)),
        None => ("1.000x".to_owned(), "1.000x".to_owned()),
    };
    format!(
        "| {name} | {:.0} µs | {wall} | {} | {cpu} |\n",
        micros(&s.wall),
        s.cpu()
    )
}

/// The header of the table [`row`] writes.
pub fn header(first: &str) -> String {
    format!(
        "| {first} | wall, median | wall ratio, median (range) | server CPU per request | server CPU ratio |\n\
         | --- | --- | --- | --- | --- |\n"
    )
}

/// Loads `tenants` tenants (`Tenant <n>`, `tenant-<n>`) with `per_tenant`
/// projects each into a database with the example schema's `tenants` and
/// `projects`, as `owner` (row-level security does not apply to the
/// superuser), and vacuums both so index-only scans are possible.
pub async fn load_projects(owner: &PgPool, tenants: i64, per_tenant: i64) -> Result<(), BoxError> {
    owner
        .execute(
            format!(
                "INSERT INTO tenants (name, slug) SELECT 'Tenant ' || g, 'tenant-' || g FROM generate_series(1, {tenants}) g;
                 INSERT INTO projects (tenant_id, name) SELECT t.id, 'project ' || g FROM tenants t, generate_series(1, {per_tenant}) g;"
            )
            .as_str(),
        )
        .await?;
    owner.execute("VACUUM ANALYZE tenants").await?;
    owner.execute("VACUUM ANALYZE projects").await?;
    Ok(())
}
