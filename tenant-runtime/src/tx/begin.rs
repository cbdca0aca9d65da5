//! The client side of each [`ContextMechanism`]: what a connection opens
//! once, and what it sends to begin a transaction (SECURITY.md).
//!
//! A begin either completes (the transaction is open and entered) or is
//! refused cleanly (an unknown or deleted tenant, with the connection
//! idle again); every other failure leaves the connection in a state the
//! pool cannot vouch for, and it is closed ([`Failure::reusable`]).

use sqlx::Row as _;
use sqlx::postgres::{PgConnection, PgRow};
use tenant_token::{BoundToken, SessionToken, Transaction};

use super::context::{ContextKey, SessionSecret};
use super::mechanism::ContextMechanism;
use super::session::{simple_query, simple_query_rows};
use crate::error::{Error, Result};
use crate::sqlstate;
use crate::tenant_id::TenantId;
use crate::user_id::UserId;

/// How a tenant pool's connection enters tenants, with what it keeps.
#[derive(Debug)]
pub(crate) enum Entering {
    /// The extension's session: the secret armed in the backend, and the
    /// last counter used.
    Extension { secret: [u8; 32], counter: i64 },
    /// The SQL session of temporary objects.
    Session { secret: SessionSecret, counter: i64 },
    /// Bound tokens, signed with the context key for each transaction.
    Bound { key: ContextKey },
}

/// Opens the extension's session: the secret and the proof as bind
/// parameters, never as text.
const OPEN_EXTENSION: &str = "SELECT tenant_context.open_session($1, $2, $3)";
/// Opens the SQL session, the same way.
const OPEN_SESSION: &str = "SELECT tenancy.open_session($1, $2, $3)";

/// A begin that did not complete.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: Error,
    /// The begin was refused cleanly and the connection is idle: it may
    /// go back to the pool. Otherwise it must be closed.
    pub(crate) reusable: bool,
}

impl Failure {
    fn closing(error: impl Into<Error>) -> Self {
        Self {
            error: error.into(),
            reusable: false,
        }
    }
}

/// A failed simple-query begin message: reusable only when the database
/// refused the tenant, which rolls back the message's implicit
/// transaction before its `BEGIN` ran.
fn refused(e: sqlx::Error) -> Failure {
    let clean = matches!(
        e.as_database_error().and_then(|db| db.code()).as_deref(),
        Some(sqlstate::TENANT_NOT_FOUND | sqlstate::TENANT_DELETED)
    );
    Failure {
        error: Error::from(e),
        reusable: clean,
    }
}

/// Ids render as hex digits and dashes and tokens as those plus dots and
/// digits: nothing to escape, and no backslash whose meaning
/// `standard_conforming_strings` could change.
fn literal_or_null<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "NULL".to_owned(), |v| format!("'{v}'"))
}

fn id_bytes<T>(id: Option<T>, bytes: impl Fn(&T) -> [u8; 16]) -> Option<[u8; 16]> {
    id.as_ref().map(bytes)
}

impl Entering {
    /// Opens `mechanism` on a new connection with `key`.
    pub(crate) async fn open(
        conn: &mut PgConnection,
        key: &ContextKey,
        mechanism: ContextMechanism,
    ) -> Result<Self> {
        let rejected = || Error::ContextKeyRejected { key_id: key.id() };
        match mechanism {
            ContextMechanism::Extension => {
                let mut secret = [0; 32];
                getrandom::fill(&mut secret)
                    .expect("the operating system's random number generator works");
                let armed: bool = sqlx::query_scalar(OPEN_EXTENSION)
                    .bind(key.id())
                    .bind(&secret[..])
                    .bind(&tenant_token::open_proof(key.expose_bytes(), &secret)[..])
                    .fetch_one(&mut *conn)
                    .await?;
                if !armed {
                    return Err(rejected());
                }
                Ok(Self::Extension { secret, counter: 0 })
            }
            ContextMechanism::Session => {
                let secret = SessionSecret::generate();
                sqlx::query(OPEN_SESSION)
                    .bind(key.id())
                    .bind(&secret.bytes()[..])
                    .bind(&key.open_proof(&secret)[..])
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| match Error::from(e) {
                        Error::ContextKeyRejected { .. } => rejected(),
                        other => other,
                    })?;
                Ok(Self::Session { secret, counter: 0 })
            }
            ContextMechanism::Bound => Ok(Self::Bound { key: key.clone() }),
        }
    }

    /// The mechanism.
    pub(crate) fn mechanism(&self) -> ContextMechanism {
        match self {
            Self::Extension { .. } => ContextMechanism::Extension,
            Self::Session { .. } => ContextMechanism::Session,
            Self::Bound { .. } => ContextMechanism::Bound,
        }
    }

    /// Begins a transaction entering `tenant` (or none) for `user` (or
    /// none); returns what `tenancy.user_in_tenant` reported of the user in
    /// the tenant, when both were given. Every begin spends a token, one
    /// with neither id too, so no token made for this connection outlives
    /// its next transaction.
    pub(crate) async fn begin(
        &mut self,
        conn: &mut PgConnection,
        tenant: Option<TenantId>,
        user: Option<UserId>,
    ) -> Result<Option<String>, Failure> {
        let tenant_bytes = id_bytes(tenant, |t| *t.as_uuid().as_bytes());
        let user_bytes = id_bytes(user, |u| *u.as_uuid().as_bytes());
        let hint = tenant.map_or(String::new(), |t| {
            format!("SET LOCAL app.current_tenant = '{t}'; ")
        });
        let role = if tenant.is_some() && user.is_some() {
            "; SELECT tenancy.user_in_entered_tenant()"
        } else {
            ""
        };
        match self {
            Self::Extension { secret, counter } => {
                *counter += 1;
                let token = SessionToken::sign(secret, tenant_bytes, user_bytes, *counter);
                // Nothing may follow the BEGIN but a read: SECURITY.md. No
                // hint: the column default reads the extension. The role
                // was found as the token was checked; SHOW plans nothing.
                let role = if role.is_empty() {
                    ""
                } else {
                    "; SHOW tenant_context.user_in_tenant"
                };
                let message = format!("SET LOCAL tenant_context.token = '{token}'; BEGIN{role}");
                let rows = simple_query_rows(conn, &message).await.map_err(refused)?;
                Ok(first_text(&rows)
                    .map_err(Failure::closing)?
                    .filter(|role| !role.is_empty()))
            }
            Self::Session { secret, counter } => {
                *counter += 1;
                let mac = hex::encode(secret.enter_mac(tenant, user, *counter));
                let message = format!(
                    "CALL tenancy.enter({}::uuid, {}::uuid, {}::int8, '{mac}'::text, NULL::text); BEGIN",
                    literal_or_null(tenant),
                    literal_or_null(user),
                    *counter
                );
                let rows = simple_query_rows(conn, &message).await.map_err(refused)?;
                first_text(&rows).map_err(Failure::closing)
            }
            Self::Bound { key } => {
                if tenant.is_none() && user.is_none() {
                    // Nothing to sign, and nothing signed before can reach
                    // this transaction (a bound token names its own).
                    simple_query(conn, "BEGIN")
                        .await
                        .map_err(Failure::closing)?;
                    return Ok(None);
                }
                let tx = bound_transaction(conn, key, tenant).await?;
                let token =
                    BoundToken::sign(key.expose_bytes(), key.id(), tenant_bytes, user_bytes, tx);
                let role = role.trim_start_matches("; ");
                let message = format!("SET LOCAL tenancy.token = '{token}'; {hint}{role}");
                let rows = simple_query_rows(conn, &message)
                    .await
                    .map_err(Failure::closing)?;
                first_text(&rows).map_err(Failure::closing)
            }
        }
    }
}

/// `BEGIN`, then what a bound token needs: the backend's pid and the
/// transaction's start time, and whether the key and the tenant are live
/// (a refused tenant rolls back, and leaves the connection idle).
async fn bound_transaction(
    conn: &mut PgConnection,
    key: &ContextKey,
    tenant: Option<TenantId>,
) -> Result<Transaction, Failure> {
    let message = format!(
        "BEGIN; SELECT pg_catalog.pg_backend_pid(), \
         (EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint, \
         (SELECT CASE WHEN t.deleted_at IS NULL THEN 1 ELSE 2 END FROM public.tenants t WHERE t.id = {}::uuid), \
         EXISTS (SELECT 1 FROM tenancy.context_keys k WHERE k.key_id = {} AND k.retired_at IS NULL), \
         pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMP')",
        literal_or_null(tenant),
        key.id()
    );
    let rows = simple_query_rows(conn, &message)
        .await
        .map_err(Failure::closing)?;
    let row = rows
        .first()
        .ok_or_else(|| Failure::closing(Error::Database(sqlx::Error::RowNotFound)))?;
    let read = |row: &PgRow| -> sqlx::Result<(i32, i64, Option<i32>, bool, bool)> {
        Ok((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        ))
    };
    let (pid, start_micros, state, key_live, temp) = read(row).map_err(Failure::closing)?;
    let refusal = match (key_live, tenant, state) {
        _ if temp => Some((Error::RoleCanCreateTemp, false)),
        (false, _, _) => Some((Error::ContextKeyRejected { key_id: key.id() }, false)),
        (true, Some(tenant), None) => Some((Error::TenantNotFound { tenant }, true)),
        (true, Some(tenant), Some(2)) => Some((Error::TenantDeleted { tenant }, true)),
        _ => None,
    };
    if let Some((error, clean)) = refusal {
        let idle = simple_query(conn, "ROLLBACK").await.is_ok();
        return Err(Failure {
            error,
            reusable: clean && idle,
        });
    }
    Ok(Transaction { pid, start_micros })
}

/// The first column of the first row, as text: a begin message's
/// `user_in_tenant`.
fn first_text(rows: &[PgRow]) -> Result<Option<String>> {
    match rows.first() {
        Some(row) => Ok(row.try_get::<Option<String>, _>(0)?),
        None => Ok(None),
    }
}
