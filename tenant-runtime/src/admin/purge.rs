//! Purging a soft-deleted tenant: every registered table's rows, in
//! batches, then the tenant.
//!
//! A purge first marks the tenant (`purge_started_at`), in one statement
//! that also checks it is deleted and past its grace period; from then on
//! `restore` refuses it, because some of its rows may be gone. Every batch
//! then re-checks the mark under a lock on the tenant's row, so a batch
//! never runs for a tenant that is not being purged, whatever else changed
//! the row in between.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Error, PurgeRefusal, Result};
use crate::model::registry::{self, OrderedTable};
use crate::query::{self, Args};
use crate::tenant_id::TenantId;
use crate::tx::{SystemPool, SystemTx};

/// How a purge runs.
#[derive(Debug, Clone, Copy)]
pub struct PurgeOptions {
    /// How long a tenant stays soft-deleted (and restorable) before it may
    /// be purged.
    pub grace: Duration,
    /// Rows deleted per statement. Each batch is its own transaction, so
    /// a large tenant never holds locks for the whole purge.
    pub batch_size: u32,
}

impl Default for PurgeOptions {
    /// 30 days' grace, batches of 1000 rows.
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30 * 24 * 3600),
            batch_size: 1000,
        }
    }
}

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// The purged tenant.
    pub tenant: TenantId,
    /// Rows removed per table (`schema.table`), in the order purged.
    pub tables: Vec<(String, u64)>,
    /// Statements that deleted rows or the tenant (each its own transaction).
    pub batches: u64,
}

/// Marks the tenant as being purged when it is deleted and past grace (or
/// already marked: a purge that stopped half way goes on).
const START: &str = "UPDATE public.tenants SET purge_started_at = coalesce(purge_started_at, now()) \
     WHERE id = $1 AND deleted_at IS NOT NULL \
     AND (purge_started_at IS NOT NULL OR deleted_at <= now() - make_interval(secs => $2)) \
     RETURNING id";
/// Why `START` matched nothing.
const STATE: &str = "SELECT deleted_at, deleted_at + make_interval(secs => $2) \
     FROM public.tenants WHERE id = $1";
/// Locks the tenant's row for one batch, if it is still deleted, past its
/// grace period and marked.
const STILL_PURGING: &str = "SELECT count(*) FROM (SELECT 1 FROM public.tenants \
     WHERE id = $1 AND purge_started_at IS NOT NULL AND deleted_at IS NOT NULL \
     AND deleted_at <= now() - make_interval(secs => $2) FOR SHARE) AS t";
const DELETE_TENANT: &str = "DELETE FROM public.tenants WHERE id = $1 AND deleted_at IS NOT NULL AND purge_started_at IS NOT NULL";

impl SystemPool {
    /// Removes a soft-deleted tenant whose grace period is over: the rows
    /// of every registered table (tables that reference others first), in
    /// batches of `options.batch_size`, then the tenant itself.
    ///
    /// Refused with [`Error::PurgeRefused`] when the tenant is not deleted
    /// or its grace period has not ended. Once it has started, `restore`
    /// of the tenant fails with [`Error::TenantPurging`]; running the purge
    /// again finishes one that stopped half way.
    pub async fn purge_tenant(
        &self,
        tenant: TenantId,
        options: PurgeOptions,
    ) -> Result<PurgeReport> {
        let grace = options.grace.as_secs_f64();
        let started = self
            .with_system(async |tx| {
                let args = Args::new().bind(tenant).bind(grace);
                let marked: Option<(TenantId,)> = query::fetch_optional(tx, START, args).await?;
                if marked.is_some() {
                    return Ok(Ok(()));
                }
                let state: Option<(Option<OffsetDateTime>, Option<OffsetDateTime>)> =
                    query::fetch_optional(tx, STATE, Args::new().bind(tenant).bind(grace)).await?;
                Ok::<_, Error>(Err(match state {
                    None => Error::TenantNotFound { tenant },
                    Some((None, _)) => Error::PurgeRefused {
                        tenant,
                        reason: PurgeRefusal::NotDeleted,
                    },
                    Some((Some(_), ends_at)) => Error::PurgeRefused {
                        tenant,
                        reason: PurgeRefusal::GraceNotOver {
                            ends_at: ends_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
                        },
                    },
                }))
            })
            .await?;
        started?;

        let mut report = PurgeReport {
            tenant,
            tables: Vec::new(),
            batches: 0,
        };
        for table in registry::tables()?.tables().iter().rev() {
            let removed = self
                .purge_table(table, tenant, options, &mut report.batches)
                .await?;
            report.tables.push((table.meta().qualified_name(), removed));
        }
        self.batch(tenant, grace, async |tx| {
            query::execute(tx, DELETE_TENANT, Args::new().bind(tenant)).await
        })
        .await?;
        report.batches += 1;
        tracing::info!(%tenant, batches = report.batches, "tenant purged");
        Ok(report)
    }

    async fn purge_table(
        &self,
        table: &OrderedTable,
        tenant: TenantId,
        options: PurgeOptions,
        batches: &mut u64,
    ) -> Result<u64> {
        // A table that references itself is deleted in one statement: a
        // batch could remove a parent row whose children are in the next.
        let limit = if table.references_itself() {
            i64::MAX
        } else {
            i64::from(options.batch_size.max(1))
        };
        let sql = table.meta().sql.purge_batch;
        let mut removed = 0;
        loop {
            let deleted = self
                .batch(tenant, options.grace.as_secs_f64(), async |tx| {
                    query::execute(tx, sql, Args::new().bind(tenant).bind(limit)).await
                })
                .await?;
            *batches += 1;
            removed += deleted;
            if deleted < u64::try_from(limit).unwrap_or(u64::MAX) {
                return Ok(removed);
            }
        }
    }

    /// One batch in its own transaction, after checking, under a lock on
    /// the tenant's row, that the tenant is still being purged.
    async fn batch(
        &self,
        tenant: TenantId,
        grace: f64,
        delete: impl AsyncFnOnce(&SystemTx) -> Result<u64>,
    ) -> Result<u64> {
        self.with_system(async |tx| {
            let args = Args::new().bind(tenant).bind(grace);
            let locked = query::fetch_count(tx, STILL_PURGING, args).await?;
            if locked == 0 {
                return Err(Error::PurgeRefused {
                    tenant,
                    reason: PurgeRefusal::NotDeleted,
                });
            }
            delete(tx).await
        })
        .await
    }
}
