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
