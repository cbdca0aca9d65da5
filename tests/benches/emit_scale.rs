//! How long emit-rls takes for 200 models (the DDL text only: no
//! database), the median of 50 runs after 5 warm-up runs.
//!
//! ```sh
//! cargo bench -p tenant-tests --bench emit_scale
//! ```

use std::time::{Duration, Instant};

use tenant_runtime::ddl;
use tenant_runtime::registry::Ordered;
use tenant_tests::bench::micros;
use tenant_tests::generated;

const MODELS: usize = 200;
const RUNS: usize = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metas = generated::tables("scale", &generated::cycling_shapes(MODELS));
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for run in 0..RUNS + 5 {
        let start = Instant::now();
        // Ordering and checking the set is part of what emit-rls does.
        let ordered = Ordered::new(metas.iter().copied())?;
        let sql = ddl::emit(&ordered);
        let took = start.elapsed();
        bytes = sql.len();
        if run >= 5 {
            times.push(took);
        }
    }
    let max = times.iter().max().copied().unwrap_or_default();
    println!(
        "| emit-rls, {MODELS} models ({} KiB of DDL) | {:.2} ms median | {:.2} ms max of {RUNS} | target < 50 ms: {} |",
        bytes / 1024,
        micros(&times) / 1000.0,
        max.as_secs_f64() * 1000.0,
        if micros(&times) < 50_000.0 {
            "met"
        } else {
            "not met"
        }
    );
    Ok(())
}
