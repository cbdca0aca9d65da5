//! Running the generated statements: what [`Scoped`](super::Scoped),
//! [`System`](super::System) and the tenants API share. Each statement
//! locks the transaction's connection for itself only and runs in the
//! transaction's tracing span.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Encode, FromRow, Postgres, Type};

use crate::error::{Error, Result};
use crate::tx::{Mode, Tx};

/// Rows the generated statements can return.
pub trait Row: for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T: for<'r> FromRow<'r, PgRow> + Send + Unpin> Row for T {}

/// Arguments built in order; an encoding failure is kept until the
/// statement runs, where it becomes the statement's error. Public only for
/// the finders the derive generates.
#[doc(hidden)]
pub struct Args {
    args: PgArguments,
    failed: Option<sqlx::error::BoxDynError>,
}

impl Default for Args {
    fn default() -> Self {
        Self::new()
    }
}

impl Args {
    /// No arguments yet.
    pub fn new() -> Self {
        Self {
            args: PgArguments::default(),
            failed: None,
        }
    }

    /// Binds the next parameter.
    pub fn bind<'q, V: Encode<'q, Postgres> + Type<Postgres> + 'q>(self, value: V) -> Self {
        self.with(|args| args.add(value))
    }

    pub(crate) fn with(
        mut self,
        encode: impl FnOnce(&mut PgArguments) -> Result<(), sqlx::error::BoxDynError>,
    ) -> Self {
        if self.failed.is_none()
            && let Err(e) = encode(&mut self.args)
        {
            self.failed = Some(e);
        }
        self
    }

    fn into_inner(self) -> Result<PgArguments> {
        match self.failed {
            None => Ok(self.args),
            Some(e) => Err(Error::Database(sqlx::Error::Encode(e))),
        }
    }
}

pub(crate) async fn fetch_all<T: Row, M: Mode>(
    tx: &Tx<M>,
    sql: &str,
    args: Args,
) -> Result<Vec<T>> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await?;
    let persistent = conn.persistent();
    conn.run(|c| {
        Box::pin(
            sqlx::query_as_with(sql, args)
                .persistent(persistent)
                .fetch_all(c),
        )
    })
    .await
    .map_err(|e| e.for_statement(sql))
}

pub(crate) async fn fetch_optional<T: Row, M: Mode>(
    tx: &Tx<M>,
    sql: &str,
    args: Args,
) -> Result<Option<T>> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await?;
    let persistent = conn.persistent();
    conn.run(|c| {
        Box::pin(
            sqlx::query_as_with(sql, args)
                .persistent(persistent)
                .fetch_optional(c),
        )
    })
    .await
    .map_err(|e| e.for_statement(sql))
}

pub(crate) async fn fetch_count<M: Mode>(tx: &Tx<M>, sql: &str, args: Args) -> Result<i64> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await?;
    let persistent = conn.persistent();
    conn.run(|c| {
        Box::pin(
            sqlx::query_scalar_with(sql, args)
                .persistent(persistent)
                .fetch_one(c),
        )
    })
    .await
    .map_err(|e| e.for_statement(sql))
}

pub(crate) async fn execute<M: Mode>(tx: &Tx<M>, sql: &str, args: Args) -> Result<u64> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await?;
    let persistent = conn.persistent();
    conn.run(|c| {
        Box::pin(
            sqlx::query_with(sql, args)
                .persistent(persistent)
                .execute(c),
        )
    })
    .await
    .map(|done| done.rows_affected())
    .map_err(|e| e.for_statement(sql))
}

// Defined here, next to what it returns, so the transaction module needs
// nothing from this one.
impl<M: Mode> Tx<M> {
    /// A hand-written statement returning `T` rows (a model, a tuple, any
    /// `sqlx::FromRow`), run in this transaction through a shared
    /// reference: the connection is locked for that one statement, so it
    /// mixes freely with scoped handles. Row-level security applies.
    ///
    /// `let (n,): (i64,) = tx.raw("SELECT count(*) FROM projects").fetch_one().await?;`
    pub fn raw<'q, T: Row>(&self, sql: &'q str) -> RawQuery<'_, 'q, T, M> {
        RawQuery::new(self, sql)
    }

    /// A read written at compile time, for libraries built on this one
    /// (tenant-members' membership lookup): like [`raw`](Self::raw), but
    /// it does not make the transaction end with the session reset, so it
    /// costs no more than a generated statement. The text is a `&'static
    /// str`, so no request input can be in it (bind values go as
    /// parameters); it must be one `SELECT` that changes no session state
    /// (no `set_config`, no cursor), which is why anything but a single
    /// statement starting with `SELECT` is refused with
    /// [`Error::NotAStaticSelect`](crate::Error::NotAStaticSelect).
    pub fn static_select<T: Row>(&self, sql: &'static str) -> Result<RawQuery<'_, 'static, T, M>> {
        let text = sql.trim_start();
        let is_select = text
            .get(..7)
            .is_some_and(|head| head.eq_ignore_ascii_case("SELECT "));
        if !is_select || sql.trim_end().trim_end_matches(';').contains(';') {
            return Err(crate::Error::NotAStaticSelect { sql });
        }
        Ok(RawQuery::unmarked(self, sql))
    }

    /// A hand-written statement run for its effect (an `UPDATE`, a
    /// `DELETE`, a call), in this transaction, under row-level security:
    /// `tx.raw_statement("UPDATE tasks SET done = true WHERE project_id = $1").bind(id).execute().await?`
    /// gives the number of rows it changed.
    pub fn raw_statement<'q>(&self, sql: &'q str) -> RawQuery<'_, 'q, NoColumns, M> {
        RawQuery::new(self, sql)
    }
}

/// A hand-written statement that still runs inside the transaction, so
/// row-level security applies to it. Made by [`Tx::raw`],
/// [`Tx::raw_statement`], `Scoped::raw` and `System::raw`.
#[must_use = "a raw query does nothing until fetched or executed"]
pub struct RawQuery<'tx, 'q, T, M: Mode> {
    tx: &'tx Tx<M>,
    sql: &'q str,
    args: Args,
    row: std::marker::PhantomData<fn() -> T>,
}

/// The row type of [`Tx::raw_statement`]: a statement whose rows, if it
/// returns any, are not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoColumns;

impl FromRow<'_, PgRow> for NoColumns {
    fn from_row(_: &PgRow) -> sqlx::Result<Self> {
        Ok(NoColumns)
    }
}

impl<'tx, 'q, T: Row, M: Mode> RawQuery<'tx, 'q, T, M> {
    pub(crate) fn new(tx: &'tx Tx<M>, sql: &'q str) -> Self {
        tx.mark_raw();
        Self::unmarked(tx, sql)
    }

    fn unmarked(tx: &'tx Tx<M>, sql: &'q str) -> Self {
        Self {
            tx,
            sql,
            args: Args::new(),
            row: std::marker::PhantomData,
        }
    }

    /// Binds the next `$n` parameter.
    pub fn bind<V: Encode<'q, Postgres> + Type<Postgres> + Send + 'q>(mut self, value: V) -> Self {
        self.args = self.args.bind(value);
        self
    }

    /// Every row.
    pub async fn fetch_all(self) -> Result<Vec<T>> {
        fetch_all(self.tx, self.sql, self.args).await
    }

    /// The first row, if any.
    pub async fn fetch_optional(self) -> Result<Option<T>> {
        fetch_optional(self.tx, self.sql, self.args).await
    }

    /// Exactly one row ([`Error::Database`] with `RowNotFound` otherwise).
    pub async fn fetch_one(self) -> Result<T> {
        self.fetch_optional()
            .await?
            .ok_or(Error::Database(sqlx::Error::RowNotFound))
    }

    /// Runs the statement for its effect and says how many rows it
    /// changed (inserted, updated or deleted; none for other statements).
    pub async fn execute(self) -> Result<u64> {
        execute(self.tx, self.sql, self.args).await
    }
}
