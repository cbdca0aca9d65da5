//! What [`TenantTx`](crate::TenantTx) and [`SystemTx`](crate::SystemTx)
//! share: a sqlx transaction behind an async mutex, so it can be used
//! through a shared reference (several scoped handles at once, each
//! statement in turn), and consumed by commit or rollback.

use std::ops::{Deref, DerefMut};

use sqlx::postgres::PgConnection;
use sqlx::{Postgres, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct TxCell(Mutex<Transaction<'static, Postgres>>);

impl TxCell {
    pub(crate) fn new(tx: Transaction<'static, Postgres>) -> Self {
        Self(Mutex::new(tx))
    }

    pub(crate) async fn commit(self) -> Result<()> {
        self.0.into_inner().commit().await.map_err(Error::from)
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        self.0.into_inner().rollback().await.map_err(Error::from)
    }

    pub(crate) async fn lock(&self) -> Conn<'_> {
        Conn(self.0.lock().await)
    }
}

/// Exclusive use of a transaction's connection, for raw sqlx queries;
/// derefs to [`PgConnection`]: `query.fetch_all(&mut *tx.conn().await)`.
#[derive(Debug)]
pub struct Conn<'tx>(MutexGuard<'tx, Transaction<'static, Postgres>>);

impl Deref for Conn<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

/// Ends a transaction by the outcome of the work done in it: commit on
/// `Ok`, roll back on `Err` (a rollback failure is logged, the caller's
/// error is the one returned).
pub(crate) async fn finish<T, E: From<Error>>(tx: TxCell, outcome: Result<T, E>) -> Result<T, E> {
    match outcome {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rollback after error failed");
            }
            Err(e)
        }
    }
}
