//! Running the generated statements: what [`Scoped`](crate::Scoped) and
//! [`System`](crate::System) share.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Encode, FromRow, Postgres, Type};

use crate::conn::TxCell;
use crate::error::{Error, Result};

/// Rows the generated statements can return.
pub trait Row: for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T: for<'r> FromRow<'r, PgRow> + Send + Unpin> Row for T {}

/// Arguments built in order; an encoding failure is kept until the
/// statement runs, where it becomes the statement's error.
pub(crate) struct Args {
    args: PgArguments,
    failed: Option<sqlx::error::BoxDynError>,
}

impl Args {
    pub(crate) fn new() -> Self {
        Self {
            args: PgArguments::default(),
            failed: None,
        }
    }

    pub(crate) fn add<'q, V: Encode<'q, Postgres> + Type<Postgres> + 'q>(self, value: V) -> Self {
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

pub(crate) async fn fetch_all<T: Row>(
    tx: &TxCell,
    sql: &'static str,
    args: Args,
) -> Result<Vec<T>> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await;
    sqlx::query_as_with::<_, T, _>(sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::from)
}

pub(crate) async fn fetch_optional<T: Row>(
    tx: &TxCell,
    sql: &'static str,
    args: Args,
) -> Result<Option<T>> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await;
    sqlx::query_as_with::<_, T, _>(sql, args)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::from)
}

pub(crate) async fn fetch_count(tx: &TxCell, sql: &'static str, args: Args) -> Result<i64> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await;
    sqlx::query_scalar_with::<_, i64, _>(sql, args)
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::from)
}

pub(crate) async fn execute(tx: &TxCell, sql: &'static str, args: Args) -> Result<u64> {
    let args = args.into_inner()?;
    let mut conn = tx.lock().await;
    let done = sqlx::query_with(sql, args)
        .execute(&mut *conn)
        .await
        .map_err(Error::from)?;
    Ok(done.rows_affected())
}

/// A hand-written statement that still runs inside the transaction, so
/// row-level security applies to it. Made by `Scoped::raw` / `System::raw`.
#[must_use = "a raw query does nothing until fetched"]
pub struct RawQuery<'tx, 'q, T> {
    tx: &'tx TxCell,
    query: sqlx::query::QueryAs<'q, Postgres, T, PgArguments>,
}

impl<'tx, 'q, T: Row> RawQuery<'tx, 'q, T> {
    pub(crate) fn new(tx: &'tx TxCell, sql: &'q str) -> Self {
        Self {
            tx,
            query: sqlx::query_as(sql),
        }
    }

    /// Binds the next `$n` parameter.
    pub fn bind<V: Encode<'q, Postgres> + Type<Postgres> + Send + 'q>(mut self, value: V) -> Self {
        self.query = self.query.bind(value);
        self
    }

    /// Every row.
    pub async fn fetch_all(self) -> Result<Vec<T>> {
        let mut conn = self.tx.lock().await;
        self.query.fetch_all(&mut *conn).await.map_err(Error::from)
    }

    /// The first row, if any.
    pub async fn fetch_optional(self) -> Result<Option<T>> {
        let mut conn = self.tx.lock().await;
        self.query
            .fetch_optional(&mut *conn)
            .await
            .map_err(Error::from)
    }

    /// Exactly one row ([`Error::Database`] with `RowNotFound` otherwise).
    pub async fn fetch_one(self) -> Result<T> {
        let mut conn = self.tx.lock().await;
        self.query.fetch_one(&mut *conn).await.map_err(Error::from)
    }
}
