//! The pool's connections: made by [`Manager`], lent out as a [`Lease`].
//!
//! A lease goes back to the pool only when the transaction on it ended
//! cleanly (its COMMIT or ROLLBACK message succeeded). Every other way out
//! (a dropped transaction, a cancelled future, a panic, a failed end)
//! closes the connection instead, so the server rolls back whatever was
//! open and nothing of it can reach the next user of the pool.

use std::pin::Pin;
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult};

use super::context::{ContextKey, SessionSecret};
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
    /// The tenancy session, on connections of a tenant pool.
    context: Option<Tokens>,
}

/// What a connection needs to enter tenants: its secret, and the last
/// counter it used (the server refuses any that is not larger).
#[derive(Debug)]
struct Tokens {
    secret: SessionSecret,
    counter: i64,
}

impl Session {
    /// The message that begins a transaction of `tenant` (or none) for
    /// `user` (or none) on this connection, with a token that is good
    /// once, here only.
    pub(crate) fn enter(
        &mut self,
        tenant: Option<TenantId>,
        user: Option<UserId>,
    ) -> Result<String> {
        let tokens = self.context.as_mut().ok_or(Error::ContextKeyMissing)?;
        tokens.counter += 1;
        let mac = hex::encode(tokens.secret.enter_mac(tenant, user, tokens.counter));
        // Ids render as hex digits and dashes, the counter as digits, the
        // MAC as hex: nothing to escape, and no backslash for
        // standard_conforming_strings to change the meaning of. Nothing
        // may follow the BEGIN (SECURITY.md).
        let tenant = tenant.map_or_else(|| "NULL".to_owned(), |t| format!("'{t}'"));
        let user = user.map_or_else(|| "NULL".to_owned(), |u| format!("'{u}'"));
        Ok(format!(
            "CALL tenancy.enter({tenant}::uuid, {user}::uuid, {}::int8, '{mac}'::text, NULL::text); BEGIN",
            tokens.counter
        ))
    }

    /// How many protocol-level prepared statements the client believes the
    /// connection has (checked against the server's at a hygiene end).
    pub(crate) fn prepared_statements(&self) -> usize {
        self.conn.cached_statements_size()
    }
}

/// Opens connections and decides whether an idle one may be reused.
#[derive(Debug)]
pub(crate) struct Manager {
    pub(crate) options: PgConnectOptions,
    pub(crate) expect: Expect,
    /// Set for tenant pools: every connection opens a tenancy session.
    pub(crate) key: Option<ContextKey>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
}

/// Opens the tenancy session: the secret and the proof as bind parameters,
/// never as text.
const OPEN_SESSION: &str = "SELECT tenancy.open_session($1, $2, $3)";

impl managed::Manager for Manager {
    type Type = Session;
    type Error = Error;

    async fn create(&self) -> Result<Session> {
        let mut conn = PgConnection::connect_with(&self.options).await?;
        match self.prepare(&mut conn).await {
            Ok(context) => Ok(Session { conn, context }),
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
    /// Checks the role, and on a tenant pool opens the tenancy session.
    async fn prepare(&self, conn: &mut PgConnection) -> Result<Option<Tokens>> {
        roles::check(conn, self.expect).await?;
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let secret = SessionSecret::generate();
        sqlx::query(OPEN_SESSION)
            .bind(key.id())
            .bind(&secret.bytes()[..])
            .bind(&key.open_proof(&secret)[..])
            .execute(&mut *conn)
            .await
            .map_err(|e| match Error::from(e) {
                Error::ContextKeyRejected { .. } => Error::ContextKeyRejected { key_id: key.id() },
                Error::Database(sqlx::Error::Database(db))
                    if db.code().as_deref() == Some("42883") =>
                {
                    Error::ContextNotInstalled
                }
                other => other,
            })?;
        Ok(Some(Tokens { secret, counter: 0 }))
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
