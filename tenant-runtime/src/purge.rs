//! Purging a soft-deleted tenant: every registered table's rows, in
//! batches, then the tenant.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::meta::TableMeta;
use crate::{SystemPool, TenantId, registry};

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
    /// Statements run (each one transaction).
    pub batches: u64,
}

const DELETED_AT: &str = "SELECT deleted_at IS NOT NULL, \
     deleted_at <= now() - make_interval(secs => $2), \
     (deleted_at + make_interval(secs => $2))::text \
     FROM public.tenants WHERE id = $1";
const DELETE_TENANT: &str = "DELETE FROM public.tenants WHERE id = $1 AND deleted_at IS NOT NULL";

impl SystemPool {
    /// Removes a soft-deleted tenant whose grace period is over: the rows
    /// of every registered table (tables that reference others first), in
    /// batches of `options.batch_size`, then the tenant itself.
    ///
    /// Refused with [`Error::PurgeRefused`] when the tenant is not deleted
    /// or its grace period has not ended.
    pub async fn purge_tenant(
        &self,
        tenant: TenantId,
        options: PurgeOptions,
    ) -> Result<PurgeReport> {
        let pool = self.pg_pool();
        let grace = options.grace.as_secs_f64();
        let row: Option<(bool, Option<bool>, Option<String>)> = sqlx::query_as(DELETED_AT)
            .bind(tenant)
            .bind(grace)
            .fetch_optional(pool)
            .await?;
        match row {
            None => return Err(Error::TenantNotFound { tenant }),
            Some((false, _, _)) => {
                return Err(Error::PurgeRefused {
                    tenant,
                    reason: "it is not deleted; delete it first (tenants().delete)".to_owned(),
                });
            }
            Some((true, Some(false), ends)) => {
                return Err(Error::PurgeRefused {
                    tenant,
                    reason: format!("its grace period ends at {}", ends.unwrap_or_default()),
                });
            }
            Some(_) => {}
        }

        let mut report = PurgeReport {
            tenant,
            tables: Vec::new(),
            batches: 0,
        };
        for table in registry::tables()?.iter().rev() {
            let removed =
                purge_table(pool, table, tenant, options.batch_size, &mut report.batches).await?;
            report.tables.push((table.qualified_name(), removed));
        }
        sqlx::query(DELETE_TENANT)
            .bind(tenant)
            .execute(pool)
            .await?;
        report.batches += 1;
        tracing::info!(%tenant, batches = report.batches, "tenant purged");
        Ok(report)
    }
}

async fn purge_table(
    pool: &PgPool,
    table: &TableMeta,
    tenant: TenantId,
    batch_size: u32,
    batches: &mut u64,
) -> Result<u64> {
    // A table that references itself is deleted in one statement: a batch
    // could remove a parent row whose children are in the next batch.
    let self_referencing = table
        .references()
        .any(|c| registry::referenced(table, c).is_some_and(|t| std::ptr::eq(t, table)));
    let limit = if self_referencing {
        i64::MAX
    } else {
        i64::from(batch_size.max(1))
    };
    let mut removed = 0;
    loop {
        let done = sqlx::query(table.sql.purge_batch)
            .bind(tenant)
            .bind(limit)
            .execute(pool)
            .await?;
        *batches += 1;
        removed += done.rows_affected();
        if done.rows_affected() < u64::try_from(limit).unwrap_or(u64::MAX) {
            return Ok(removed);
        }
    }
}
