//! [`Query`]: a model's rows narrowed by typed conditions, in an order,
//! a page at a time.

use std::marker::PhantomData;

use super::filter::{Filter, Order};
use super::run::{self as query, Args, Row};
use crate::error::Result;
use crate::model::TenantTable;
use crate::tenant_id::TenantId;
use crate::tx::{Mode, Tx};

/// Rows of `T` that meet every condition given to [`filter`](Self::filter),
/// made by `Model::scoped(&tx).filter(..)` (the tenant's rows: the
/// statement filters by the tenant as the other scoped statements do, and
/// row-level security filters again) or `Model::system(&tx).filter(..)`.
///
/// ```no_run
/// # use tenant_runtime::{TenantId, TenantScoped, TenantTx};
/// # #[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
/// # #[tenant_table(name = "appointments")]
/// # pub struct Appointment { #[tenant(primary_key, generated)] pub id: i64, pub tenant_id: TenantId, pub pet: String, pub starts_at: i64 }
/// # async fn day(tx: &TenantTx, start: i64, end: i64) -> tenant_runtime::Result<()> {
/// let day: Vec<Appointment> = Appointment::scoped(tx)
///     .filter(Appointment::STARTS_AT.ge(start))
///     .filter(Appointment::STARTS_AT.lt(end))
///     .order_by(Appointment::STARTS_AT.asc())
///     .limit(50)
///     .all()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Only names the derive quoted at compile time reach the SQL text; every
/// value is a bound parameter.
#[must_use = "a query does nothing until `all`, `first`, `count` or `delete`"]
pub struct Query<'tx, T, M: Mode> {
    tx: &'tx Tx<M>,
    tenant: Option<TenantId>,
    conditions: String,
    args: Args,
    params: usize,
    order: Vec<Order<T>>,
    limit: Option<u32>,
    offset: Option<u64>,
    row: PhantomData<fn() -> T>,
}

impl<T, M: Mode> std::fmt::Debug for Query<'_, T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("tenant", &self.tenant)
            .field("conditions", &self.conditions)
            .field("order", &self.order)
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<'tx, T: TenantTable, M: Mode> Query<'tx, T, M> {
    /// The tenant's rows (`tenant = Some`), or every tenant's.
    pub(crate) fn new(tx: &'tx Tx<M>, tenant: Option<TenantId>) -> Self {
        let (conditions, args, params) = match tenant {
            Some(tenant) => (
                format!(" WHERE {} = $1", T::META.sql.filter.tenant),
                Args::new().bind(tenant),
                1,
            ),
            None => (String::new(), Args::new(), 0),
        };
        Self {
            tx,
            tenant,
            conditions,
            args,
            params,
            order: Vec::new(),
            limit: None,
            offset: None,
            row: PhantomData,
        }
    }

    /// Keeps only the rows that meet `condition` too.
    pub fn filter(mut self, condition: Filter<'_, T>) -> Self {
        self.conditions.push_str(if self.conditions.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        let (args, used) = condition.write(&mut self.conditions, self.args, self.params + 1);
        self.args = args;
        self.params += used;
        self
    }

    /// Sorts by `order`, after the orders given before; rows that tie on
    /// every order given come by primary key (by tenant, then key, across
    /// tenants), so pages never overlap.
    pub fn order_by(mut self, order: Order<T>) -> Self {
        self.order.push(order);
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skips the first `offset` rows.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// `<conditions> ORDER BY .. [LIMIT ..] [OFFSET ..]`, appended to
    /// `head`, and every parameter bound.
    fn statement(self, head: &str, limit: Option<u32>) -> (&'tx Tx<M>, String, Args) {
        let pieces = &T::META.sql.filter;
        let mut sql = format!("{head}{}", self.conditions);
        // Qualified, so a column is never mistaken for another column's
        // output alias (the select list names columns by field).
        sql.push_str(" ORDER BY ");
        for order in &self.order {
            let direction = if order.descending { "DESC" } else { "ASC" };
            sql.push_str(&format!("{}.{} {direction}, ", pieces.table, order.column));
        }
        if self.tenant.is_none() {
            sql.push_str(&format!("{}.{}, ", pieces.table, pieces.tenant));
        }
        sql.push_str(&format!("{}.{}", pieces.table, pieces.key));
        let mut args = self.args;
        let mut next = self.params + 1;
        // Bound through a sub-select, as the generated pages are, so the
        // cached generic plan is not costed on a guessed row count
        // (tenant-sql's statements module says why).
        if let Some(limit) = limit {
            sql.push_str(&format!(" LIMIT (SELECT ${next}::bigint)"));
            args = args.bind(i64::from(limit));
            next += 1;
        }
        if let Some(offset) = self.offset {
            sql.push_str(&format!(" OFFSET (SELECT ${next}::bigint)"));
            args = args.bind(i64::try_from(offset).unwrap_or(i64::MAX));
        }
        (self.tx, sql, args)
    }
}

impl<T: TenantTable + Row, M: Mode> Query<'_, T, M> {
    /// Every row that meets the conditions, in order.
    pub async fn all(self) -> Result<Vec<T>> {
        let limit = self.limit;
        let (tx, sql, args) = self.statement(T::META.sql.filter.select, limit);
        query::fetch_all(tx, &sql, args).await
    }

    /// The first row in order, if any meets the conditions.
    pub async fn first(self) -> Result<Option<T>> {
        let (tx, sql, args) = self.statement(T::META.sql.filter.select, Some(1));
        query::fetch_optional(tx, &sql, args).await
    }

    /// How many rows meet the conditions (order, limit and offset do not
    /// change the count).
    pub async fn count(self) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {}{}",
            T::META.sql.filter.table,
            self.conditions
        );
        query::fetch_count(self.tx, &sql, self.args).await
    }

    /// Deletes the rows [`all`](Self::all) would return (with a limit or
    /// an offset, only that page of them), and says how many it deleted.
    pub async fn delete(self) -> Result<u64> {
        let pieces = &T::META.sql.filter;
        let table = pieces.table;
        if self.limit.is_none() && self.offset.is_none() {
            let sql = format!("DELETE FROM {table}{}", self.conditions);
            return query::execute(self.tx, &sql, self.args).await;
        }
        let (tenant, key) = (pieces.tenant, pieces.key);
        let limit = self.limit;
        let head = format!("SELECT {tenant}, {key} FROM {table}");
        let (tx, page, args) = self.statement(&head, limit);
        let sql = format!("DELETE FROM {table} WHERE ({tenant}, {key}) IN ({page})");
        query::execute(tx, &sql, args).await
    }
}
