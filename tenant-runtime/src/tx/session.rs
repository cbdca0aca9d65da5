//! The pool's connections: made by [`Manager`], lent out as a [`Lease`].
//!
//! A lease goes back to the pool only when the transaction on it ended
//! cleanly (its COMMIT or ROLLBACK message succeeded). Every other way out
//! (a dropped transaction, a cancelled future, a panic, a failed end)
//! closes the connection instead, so the server rolls back whatever was
//! open and nothing of it can reach the next user of the pool.

use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult};

use super::begin::{Entering, Failure};
use super::context::ContextKey;
use super::mechanism::ContextMechanism;
use super::roles::{self, Expect};
use crate::error::{Error, Result};
use crate::tenant_id::TenantId;
use crate::user_id::UserId;

/// A boxed, `Send` future (what sqlx's own executors return).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs `sql` as one simple-query message (several statements in one
/// round trip), boxed for the reason [`Tx::statement`](super::Tx) gives.
pub(crate) fn simple_query<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
) -> BoxFuture<'c, sqlx::Result<PgQueryResult>> {
    sqlx::Executor::execute(conn, sqlx::raw_sql(sql))
}

/// Runs `sql` as one simple-query message like [`simple_query`], and
/// returns the rows its statements sent back (a begin message's
/// `p_user_in_tenant`).
pub(crate) fn simple_query_rows<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
) -> BoxFuture<'c, sqlx::Result<Vec<sqlx::postgres::PgRow>>> {
    sqlx::Executor::fetch_all(conn, sqlx::raw_sql(sql))
}

/// One connection of the pool.
#[derive(Debug)]
pub(crate) struct Session {
    conn: PgConnection,
    /// How it enters tenants, on connections of a tenant pool.
    entering: Option<Entering>,
    /// Behind a transaction pooler: no named prepared statements.
    pooler: bool,
    /// On a Citus coordinator: a tenant transaction carries its context to
    /// the workers with `tenancy.citus_enter()` right after it begins.
    citus: bool,
}

/// Carries the transaction's verified context to the Citus workers.
const CITUS_ENTER: &str = "SELECT tenancy.citus_enter()";

impl Session {
    /// Begins a transaction: entering `tenant` and `user` on a tenant
    /// pool's connection (neither: a transaction with no tenant, which
    /// still spends a token), a plain `BEGIN` on a system pool's.
    pub(crate) async fn begin(
        &mut self,
        tenant: Option<TenantId>,
        user: Option<UserId>,
    ) -> std::result::Result<Option<String>, Failure> {
        match &mut self.entering {
            Some(entering) => {
                let role = entering.begin(&mut self.conn, tenant, user).await?;
                if self.citus && (tenant.is_some() || user.is_some()) {
                    // Before any statement reaches a worker: it gives the
                    // transaction its distributed id (SECURITY.md, Citus).
                    // The transaction is open: a failure closes the
                    // connection.
                    simple_query(&mut self.conn, CITUS_ENTER)
                        .await
                        .map_err(|e| Failure {
                            error: Error::from(e),
                            reusable: false,
                        })?;
                }
                Ok(role)
            }
            None => simple_query(&mut self.conn, "BEGIN")
                .await
                .map(|_| None)
                .map_err(|e| Failure {
                    error: Error::from(e),
                    reusable: false,
                }),
        }
    }

    /// The mechanism, on a tenant pool's connection.
    pub(crate) fn mechanism(&self) -> Option<ContextMechanism> {
        self.entering.as_ref().map(Entering::mechanism)
    }

    /// Whether statements may be named and cached (behind a transaction
    /// pooler, a named statement would be looked for on another backend).
    pub(crate) fn persistent_statements(&self) -> bool {
        !self.pooler
    }

    /// How many protocol-level prepared statements the client believes the
    /// connection has (checked against the server's at a hygiene end);
    /// `None` behind a pooler, where the backend is shared.
    pub(crate) fn prepared_statements(&self) -> Option<usize> {
        (!self.pooler).then(|| self.conn.cached_statements_size())
    }
}

/// Opens connections and decides whether an idle one may be reused.
#[derive(Debug)]
pub(crate) struct Manager {
    pub(crate) options: PgConnectOptions,
    pub(crate) expect: Expect,
    /// Set for tenant pools: every connection opens a tenancy session.
    pub(crate) key: Option<ContextKey>,
    /// Connections go through a transaction pooler.
    pub(crate) pooler: bool,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    /// The mechanism the first connection chose, for
    /// [`Pool::mechanism`](super::Pool::mechanism).
    pub(crate) mechanism: OnceLock<ContextMechanism>,
}

impl managed::Manager for Manager {
    type Type = Session;
    type Error = Error;

    async fn create(&self) -> Result<Session> {
        let mut conn = PgConnection::connect_with(&self.options).await?;
        match self.prepare(&mut conn).await {
            Ok((entering, citus)) => Ok(Session {
                conn,
                entering,
                pooler: self.pooler,
                citus,
            }),
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }

    async fn recycle(&self, _: &mut Session, metrics: &Metrics) -> RecycleResult<Error> {
        if self.max_lifetime.is_some_and(|max| metrics.age() >= max) {
            return Err(RecycleError::message("past its maximum lifetime"));
        }
        if self
            .idle_timeout
            .is_some_and(|max| metrics.last_used() >= max)
        {
            return Err(RecycleError::message("idle for too long"));
        }
        Ok(())
    }
}

impl Manager {
    /// Checks the role, and on a tenant pool opens the strongest context
    /// mechanism the database offers here.
    async fn prepare(&self, conn: &mut PgConnection) -> Result<(Option<Entering>, bool)> {
        let server = roles::check(conn, self.expect).await?;
        let Some(key) = &self.key else {
            return Ok((None, false));
        };
        let mechanism =
            ContextMechanism::choose(&server.mechanisms, server.in_recovery, self.pooler).ok_or(
                Error::NoContextMechanism {
                    installed: server.mechanisms.clone(),
                    standby: server.in_recovery,
                    pooler: self.pooler,
                },
            )?;
        let entering = Entering::open(conn, key, mechanism).await?;
        if self.mechanism.set(mechanism).is_err() && self.mechanism.get() != Some(&mechanism) {
            tracing::warn!(%mechanism, "a new connection chose another tenant context mechanism than the pool's first");
        }
        Ok((Some(entering), server.citus))
    }
}

/// A connection lent to one transaction. Dropping it closes the
/// connection; only [`Lease::release`] puts it back.
#[derive(Debug)]
pub(crate) struct Lease(Option<Object<Manager>>);

impl Lease {
    pub(crate) fn new(object: Object<Manager>) -> Self {
        Self(Some(object))
    }

    /// Whether the connection was made for this lease (not reused).
    pub(crate) fn is_fresh(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|o| Object::metrics(o).recycle_count == 0)
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.session().conn
    }

    pub(crate) fn conn_ref(&self) -> &PgConnection {
        &self
            .0
            .as_ref()
            .expect("a lease holds its connection until it is released or dropped")
            .conn
    }

    pub(crate) fn session(&mut self) -> &mut Session {
        self.0
            .as_mut()
            .expect("a lease holds its connection until it is released or dropped")
    }

    /// Back to the pool, for the next transaction.
    pub(crate) fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(object) = self.0.take() else {
            return;
        };
        let Session { conn, .. } = Object::take(object);
        // A graceful close tells the server at once; without a runtime (or
        // if the task never runs) dropping the socket does the same a
        // little later. Either way the open transaction is rolled back.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
            });
        }
    }
}
