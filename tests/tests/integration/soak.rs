//! The soak's short mode (issue 12): the full soak's load and every fault
//! kind, bounded to run in seconds, on a database of its own.

use std::time::Instant;

use crate::soak_load::{self as soak, Config, Fault, Op};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Operations of the short mode: enough for every fault kind and every
/// operation to happen many times.
const OPERATIONS: u64 = 6_000;

#[sqlx::test]
async fn soak_with_faults_short(_: PgPoolOptions, opts: PgConnectOptions) {
    let started = Instant::now();
    let report = soak::run(Config::short(opts, OPERATIONS))
        .await
        .unwrap_or_else(|e| panic!("the soak could not run: {e}"));
    println!("{report}");
    println!(
        "soak short mode took {:.1} s in all",
        started.elapsed().as_secs_f64()
    );

    assert!(report.operations >= OPERATIONS, "{report}");
    for op in Op::ALL {
        assert!(report.op(op) > 0, "no {} ran:\n{report}", op.name());
    }
    for fault in Fault::ALL {
        assert!(
            report.fault(fault) > 0,
            "no {} was injected:\n{report}",
            fault.name()
        );
    }
    // Some futures were dropped after `begin`, in a statement or the commit.
    assert!(report.dropped_at[1] + report.dropped_at[2] > 0, "{report}");
    // The deletion was hit by operations, and the exhausted pool made some wait out.
    assert!(report.refused_deleted > 0, "{report}");
    assert!(report.pool_timeouts > 0, "{report}");
    assert!(report.connection_checks > 0, "{report}");

    assert_eq!(report.wrong_tenant_reads, 0, "{report}");
    assert_eq!(report.lost_writes, 0, "{report}");
    assert_eq!(report.wrong_tenant_writes, 0, "{report}");
    assert_eq!(report.dirty_connections, 0, "{report}");
    assert_eq!(report.deleted_tenant_entered, 0, "{report}");
    assert_eq!(report.phantom_writes, 0, "{report}");
    assert_eq!(report.unexpected, 0, "{report}");
}
