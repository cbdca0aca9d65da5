//! Benchmark: `GET /projects` (the first 50 projects of a tenant) through
//! the adapter against the same handler written by hand, as ratios
//! measured in one run.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-saas-example --bench list_projects
//! ```
//!
//! It creates a database (`tenant_saas_bench`) set up like the example's
//! (roles, the committed migration applied by the owner), loads 1000
//! tenants x 1000 projects, and serves five routers on loopback:
//!
//! - **adapter**: the example's router as `serve` builds it: HS256 token
//!   verified, tenant resolved from its claim (path resolver too, all must
//!   agree), looked up in the cached directory, the member's role read at
//!   begin, a lazy `RequestTx`, and `Project::scoped(tx).page(50, 0)`, as
//!   the application role under RLS;
//! - **by hand**: an axum handler with a plain sqlx pool, as a role that
//!   bypasses RLS, the tenant taken from a header unchecked, `WHERE
//!   tenant_id = $1 ORDER BY id LIMIT 50`, the same JSON page;
//! - **by hand, in a transaction**: the same inside `BEGIN` .. `COMMIT`;
//! - **tenant-runtime by hand**: `TenantPool::begin`, the scoped page,
//!   `commit`, the tenant from a header, without the adapter;
//! - **tenant-runtime by hand, as the member**: the same with `begin_as`
//!   for the user the adapter's token names (the membership role at begin).
//!
//! All are driven from this binary by reqwest clients, 1 and then 32 at a
//! time, interleaved over many rounds with the order rotated, so noise
//! hits all alike; each ratio is the median of the per-round ratios. Then
//! a proxy that counts the server's ReadyForQuery and CommandComplete
//! messages gives round trips and statements per request. The database is
//! dropped at the end, also when a step fails.

mod load;
mod report;
mod servers;
mod setup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, header};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use tenant_runtime::TenantId;
use tenant_saas_example::{auth, db};
use tenant_test_support::wire::RoundTripProxy;

use load::Target;
use report::{SERVICES, Series};
use setup::ROLES;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rounds; each runs both services at each concurrency.
const ROUNDS: usize = 20;
/// Concurrent clients; each service's pool has as many connections.
const CONCURRENCY: [usize; 2] = [1, 32];
/// Requests per round of one service at one concurrency.
const PER_ROUND: usize = 320;
/// Requests counted through the message-counting proxy.
const COUNTED: usize = 100;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a superuser (it creates a database and roles)")?;
    let (admin, opts) = setup::admin(&url).await?;
    setup::create(&admin).await?;
    let result = run(&opts).await;
    setup::drop_database(&admin).await?;
    result
}

async fn run(opts: &PgConnectOptions) -> Result<(), BoxError> {
    let started = Instant::now();
    let tenants = setup::prepare(opts).await?;
    eprintln!(
        "loaded {} tenants x {} projects in {:.1?}",
        setup::TENANTS,
        setup::ROWS_PER_TENANT,
        started.elapsed()
    );
    let pool_size = CONCURRENCY[1];
    let targets = targets(opts, &tenants, pool_size).await?;
    same_pages(&targets, tenants.len()).await?;
    let mut series: Vec<[Series; SERVICES]> =
        CONCURRENCY.iter().map(|_| Default::default()).collect();
    for r in 0..ROUNDS {
        for (i, &clients) in CONCURRENCY.iter().enumerate() {
            let pool = load::clients(clients);
            let first = r * PER_ROUND;
            // Each round starts with the next service, so none always goes first.
            for k in 0..targets.len() {
                let which = (r + k) % targets.len();
                let round = load::round(&targets[which], &pool, PER_ROUND / clients, first).await?;
                series[i][which].push(round);
            }
        }
        eprint!(".");
    }
    eprintln!();
    let counted = count_messages(opts, &tenants).await?;
    println!("{}", report::table(&CONCURRENCY, &series, &counted));
    Ok(())
}

/// The services ([`report::NAMES`] order), each pool of `pool_size`
/// connections (the three on tenant-runtime share one: they never run at
/// once), and per tenant the header each needs: a token for the adapter,
/// the id for the others.
async fn targets(
    opts: &PgConnectOptions,
    tenants: &[TenantId],
    pool_size: usize,
) -> Result<[Arc<Target>; SERVICES], BoxError> {
    let key = db::new_context_key(opts.clone().username(ROLES.owner)).await?;
    let app = db::tenant_pool(opts.clone().username(ROLES.app), pool_size, key).await?;
    eprintln!("tenant context: {:?}", app.mechanism());
    let plain = PgPoolOptions::new()
        .max_connections(u32::try_from(pool_size)?)
        .connect_with(opts.clone().username(ROLES.system))
        .await?;
    let [adapter, hand, runtime, hand_tx, runtime_as] = report::NAMES;
    let runtime_addr = servers::serve(servers::runtime_by_hand(app.clone())).await?;
    let runtime_as_addr = servers::serve(servers::runtime_as_member(app.clone())).await?;
    let system = db::system_pool(opts.clone().username(ROLES.system)).await?;
    let adapter_addr = servers::serve(servers::adapter(app, system)?).await?;
    let hand_addr = servers::serve(servers::by_hand(plain.clone())).await?;
    let hand_tx_addr = servers::serve(servers::by_hand_in_a_transaction(plain)).await?;
    Ok([
        Arc::new(Target::new(adapter, adapter_addr, bearer_headers(tenants)?)),
        Arc::new(Target::new(hand, hand_addr, id_headers(tenants)?)),
        Arc::new(Target::new(runtime, runtime_addr, id_headers(tenants)?)),
        Arc::new(Target::new(hand_tx, hand_tx_addr, id_headers(tenants)?)),
        Arc::new(Target::new(
            runtime_as,
            runtime_as_addr,
            id_headers(tenants)?,
        )),
    ])
}

fn bearer_headers(tenants: &[TenantId]) -> Result<Vec<(HeaderName, HeaderValue)>, BoxError> {
    tenants
        .iter()
        .map(|&t| {
            // The tenant's member (setup gives it the tenant's id).
            let token = auth::mint(servers::SECRET, t, &t.to_string(), 24 * 3600)?;
            Ok((header::AUTHORIZATION, format!("Bearer {token}").parse()?))
        })
        .collect()
}

fn id_headers(tenants: &[TenantId]) -> Result<Vec<(HeaderName, HeaderValue)>, BoxError> {
    let name = HeaderName::from_static(servers::TENANT_HEADER);
    tenants
        .iter()
        .map(|t| Ok((name.clone(), t.to_string().parse()?)))
        .collect()
}

/// Every tenant once through each (warming the directory cache and the
/// pools' statements); all must answer byte for byte the same page.
async fn same_pages(targets: &[Arc<Target>], tenants: usize) -> Result<(), BoxError> {
    let client = reqwest::Client::new();
    for n in 0..tenants {
        let mut pages = Vec::with_capacity(targets.len());
        for target in targets {
            pages.push(target.fetch(&client, n).await?);
        }
        if pages.iter().any(|p| *p != pages[0]) {
            return Err(format!("tenant {n}: the services answer differently").into());
        }
        if n == 0 && pages[0].matches("\"tenant_id\"").count() != 50 {
            return Err("the page does not hold 50 projects".into());
        }
    }
    Ok(())
}

/// Round trips and statements per request of each service, counted by a
/// proxy between its pool (one connection) and PostgreSQL.
async fn count_messages(
    opts: &PgConnectOptions,
    tenants: &[TenantId],
) -> Result<[(f64, f64); SERVICES], BoxError> {
    let upstream: SocketAddr = tokio::net::lookup_host((opts.get_host(), opts.get_port()))
        .await?
        .next()
        .ok_or("the database host does not resolve")?;
    let counter = RoundTripProxy::start(upstream).await?;
    let via = opts
        .clone()
        .host("127.0.0.1")
        .port(counter.port())
        .ssl_mode(PgSslMode::Disable);
    let warm: Vec<TenantId> = tenants.iter().take(20).copied().collect();
    let client = reqwest::Client::new();
    let mut per_request = [(0.0, 0.0); SERVICES];
    for (which, target) in targets(&via, &warm, 1).await?.iter().enumerate() {
        for n in 0..warm.len() {
            target.fetch(&client, n).await?;
        }
        let (trips, statements) = (counter.round_trips(), counter.statements());
        for n in 0..COUNTED {
            target.fetch(&client, n).await?;
        }
        let (trips_after, statements_after) = (counter.round_trips(), counter.statements());
        per_request[which] = (
            (trips_after - trips) as f64 / COUNTED as f64,
            (statements_after - statements) as f64 / COUNTED as f64,
        );
    }
    Ok(per_request)
}
