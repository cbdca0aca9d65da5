//! The soak with faults of issue 12 (see `tenant_tests::soak`): 64 tasks,
//! 100 tenants, a tenant pool of 8 connections of the application role,
//! 1,000,000 mixed operations (inserts, updates, deletes, scoped reads,
//! raw reads, paging, requests through tenant-axum's layer) while futures
//! are dropped, backends terminated, statements time out, the pool is
//! held exhausted, tenants are soft-deleted and restored, and SQL
//! pollutes its session. Prints the report; fails unless every
//! violation count is 0.
//!
//! ```sh
//! DATABASE_URL=<a role that can create databases and roles> cargo bench -p tenant-tests --bench soak
//! ```
//!
//! `SOAK_OPERATIONS=<n>` runs another number of operations.

use tenant_tests::bench::{BoxError, with_fresh_database};
#[path = "../tests/integration/soak_load.rs"]
#[allow(dead_code)] // the integration test uses the rest of it
mod soak;

use soak::Config;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    with_fresh_database("tenant_bench_soak", async |owner, opts| {
        // The run connects its own pools.
        owner.close().await;
        let mut config = Config::full(opts);
        if let Ok(n) = std::env::var("SOAK_OPERATIONS") {
            config.operations = n.parse()?;
        }
        println!(
            "soak: {} tasks, {} tenants, pool of {}, {} operations",
            config.tasks, config.tenants, config.pool_size, config.operations
        );
        let report = soak::run(config).await?;
        println!("{report}");
        if report.violations() > 0 {
            return Err(format!("{} violations", report.violations()).into());
        }
        Ok(())
    })
    .await
}
