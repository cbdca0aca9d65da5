//! A tenancy session driven by hand, as `TenantPool` drives one
//! (SECURITY.md): for benchmarks that call variants of `tenancy.enter`,
//! and for tests that speak an earlier release's begin message.

use hmac::{Hmac, KeyInit, Mac as _};
use sha2::Sha256;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection as _, Executor as _};
use tenant_runtime::TenantId;
use tenant_runtime::tx::ContextKey;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for part in parts {
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

/// A connection with a tenancy session opened with `key`, and the counter
/// of its tokens.
#[derive(Debug)]
pub struct RawSession {
    /// The connection (its role is the one `opts` named).
    pub conn: PgConnection,
    secret: [u8; 32],
    counter: i64,
}

impl RawSession {
    /// Connects with `opts` and opens the session as `TenantPool` does.
    pub async fn open(opts: &PgConnectOptions, key: &ContextKey) -> Result<Self, sqlx::Error> {
        let mut conn = PgConnection::connect_with(opts).await?;
        let mut secret = [0; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let proof = hmac(key.expose_bytes(), &[b"tenancy/open/v1", &secret]);
        sqlx::query("SELECT tenancy.open_session($1, $2, $3)")
            .bind(key.id())
            .bind(&secret[..])
            .bind(&proof[..])
            .execute(&mut conn)
            .await?;
        Ok(Self {
            conn,
            secret,
            counter: 0,
        })
    }

    /// The next token for `tenant` (no user): its counter and MAC in hex.
    pub fn token(&mut self, tenant: TenantId) -> (i64, String) {
        self.counter += 1;
        let mut field = vec![1u8];
        field.extend_from_slice(tenant.as_uuid().as_bytes());
        let mac = hmac(
            &self.secret,
            &[
                b"tenancy/enter/v2",
                &field,
                &[0],
                &self.counter.to_be_bytes(),
            ],
        );
        (self.counter, hex::encode(mac))
    }

    /// Runs `message` (a begin message) as one simple-query message.
    pub async fn send(&mut self, message: &str) -> Result<(), sqlx::Error> {
        self.conn.execute(sqlx::raw_sql(message)).await.map(|_| ())
    }
}

/// A connection with a `tenant_context` extension session, driven by
/// hand as `TenantPool` drives one: for benchmarks that run its begin
/// message beside others on the same backend.
#[derive(Debug)]
pub struct RawExtension {
    /// The connection (its role is the one `opts` named).
    pub conn: PgConnection,
    secret: [u8; 32],
    counter: i64,
}

impl RawExtension {
    /// Connects with `opts` and opens the extension's session.
    pub async fn open(opts: &PgConnectOptions, key: &ContextKey) -> Result<Self, sqlx::Error> {
        let mut conn = PgConnection::connect_with(opts).await?;
        let mut secret = [0; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let proof = tenant_token::open_proof(key.expose_bytes(), &secret);
        let armed: bool = sqlx::query_scalar("SELECT tenant_context.open_session($1, $2, $3)")
            .bind(key.id())
            .bind(&secret[..])
            .bind(&proof[..])
            .fetch_one(&mut conn)
            .await?;
        assert!(armed, "the extension refused the session");
        Ok(Self {
            conn,
            secret,
            counter: 0,
        })
    }

    /// The begin message for `tenant`, with a fresh token.
    pub fn begin_message(&mut self, tenant: TenantId) -> String {
        self.counter += 1;
        let token = tenant_token::SessionToken::sign(
            &self.secret,
            Some(*tenant.as_uuid().as_bytes()),
            None,
            self.counter,
        );
        format!("SET LOCAL tenant_context.token = '{token}'; BEGIN")
    }
}

/// Begins a bound-token transaction for `tenant` on `conn` by hand, as
/// `TenantPool` does behind a transaction pooler: `BEGIN` and the
/// transaction's identity, then the token.
pub async fn begin_bound(
    conn: &mut PgConnection,
    key: &ContextKey,
    tenant: TenantId,
) -> Result<(), sqlx::Error> {
    use sqlx::Row as _;
    // What tenant-runtime's first message reads (src/tx/begin.rs).
    let first = format!(
        "BEGIN; SELECT pg_catalog.pg_backend_pid(), \
         (EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint, \
         (SELECT CASE WHEN t.deleted_at IS NULL THEN 1 ELSE 2 END FROM public.tenants t WHERE t.id = '{tenant}'::uuid), \
         EXISTS (SELECT 1 FROM tenancy.context_keys k WHERE k.key_id = {} AND k.retired_at IS NULL), \
         pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMP')",
        key.id()
    );
    let rows = conn.fetch_all(sqlx::raw_sql(&first)).await?;
    let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    let tx = tenant_token::Transaction {
        pid: row.try_get(0)?,
        start_micros: row.try_get(1)?,
    };
    let token = tenant_token::BoundToken::sign(
        key.expose_bytes(),
        key.id(),
        Some(*tenant.as_uuid().as_bytes()),
        None,
        tx,
    );
    conn.execute(sqlx::raw_sql(&format!(
        "SET LOCAL tenancy.token = '{token}'; SET LOCAL app.current_tenant = '{tenant}'"
    )))
    .await
    .map(|_| ())
}
