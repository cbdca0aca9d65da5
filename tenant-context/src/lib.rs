//! The tenant context of tenant-runtime as a PostgreSQL extension.
//!
//! A `TenantPool` connection opens a session once
//! ([`open_session`]: a fresh secret and a proof that the pool holds the
//! context key, as bind parameters), then begins each transaction with one
//! message, `SET LOCAL tenant_context.token = '<token>'; ..; BEGIN`. The
//! setting's check hook ([`guc`]) verifies the token natively: its MAC under
//! the connection's secret, a counter that must exceed every one used
//! before on the backend (spent before anything else can fail), the key
//! still live, the tenant existing and not deleted. Only then is the value
//! accepted, and the verified tenant and user are kept in backend memory,
//! bound to the transaction's start time. [`tenant`] and [`user_id`] read
//! them for every policy, at the cost of a function call.
//!
//! SQL cannot write a context: every value it sets goes through the same
//! check, and a token it could see (the begin message in
//! `pg_stat_activity`) is spent, and keyed by a secret that lives in this
//! backend only. It cannot read one either: the setting is superuser-only
//! to read. Parallel workers receive the leader's setting with its other
//! settings; the hook accepts it there without a session, because a
//! worker's settings come only from a leader that checked them.

use std::ffi::CStr;

use pgrx::prelude::*;

mod guc;
mod liveness;
mod role;
mod state;

::pgrx::pg_module_magic!(name, version);

/// Registers the setting when the library is loaded into a backend (by
/// the first call of one of its functions, or by a parallel worker
/// restoring its leader's libraries before its settings).
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::define();
    role::define();
}

/// Opens this backend's tenant context session: `secret` (32 random
/// bytes) becomes the key of the connection's tokens, once `proof` shows
/// that the caller holds the context key `key_id`. Returns whether it was
/// accepted; on refusal the session the backend had, if any, is kept.
///
/// It runs as the extension's owner (SECURITY DEFINER), the one role that
/// reads `tenancy.context_keys` besides the migration owner; the
/// application role calls it with bind parameters, so neither the secret
/// nor the proof is ever in query text.
#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn open_session(key_id: i32, secret: &[u8], proof: &[u8]) -> bool {
    if secret.len() != 32 {
        return false;
    }
    // A read-only SPI connection: it assigns no transaction id, which a
    // hot standby could not.
    let key = Spi::connect(|client| {
        client
            .select(
                "SELECT k.key FROM tenancy.context_keys k WHERE k.key_id = $1 AND k.retired_at IS NULL",
                Some(1),
                &[key_id.into()],
            )?
            .first()
            .get_one::<Vec<u8>>()
    });
    let Ok(Some(key)) = key else {
        return false;
    };
    if !tenant_token::verify_open_proof(&key, secret, proof) {
        return false;
    }
    let mut fresh = [0; 32];
    fresh.copy_from_slice(secret);
    state::arm(key_id, fresh)
}

/// The tenant this transaction entered with a verified token, or NULL.
/// Every policy reads it (through the view `tenancy.context`), once per
/// statement; safe in parallel workers, which hold the leader's context.
#[pg_extern(stable, parallel_safe)]
fn tenant() -> Option<pgrx::Uuid> {
    state::current()
        .and_then(|c| c.tenant)
        .map(pgrx::Uuid::from_bytes)
}

/// The user this transaction acts for with a verified token, or NULL.
#[pg_extern(stable, parallel_safe)]
fn user_id() -> Option<pgrx::Uuid> {
    state::current()
        .and_then(|c| c.user)
        .map(pgrx::Uuid::from_bytes)
}

/// Whether this backend has an open session (the pool checks it after a
/// `DISCARD` or anything else that could have reset it: nothing can, but
/// it costs nothing to know).
#[pg_extern(stable, parallel_safe)]
fn session_open() -> bool {
    state::is_armed()
}

// The readers are for every role's policies; the schema CREATE EXTENSION
// makes is its owner's alone until this.
pgrx::extension_sql!(
    "GRANT USAGE ON SCHEMA tenant_context TO PUBLIC;",
    name = "schema_usage",
    finalize
);

/// The name of the setting that carries tokens.
pub(crate) const TOKEN_SETTING: &CStr = c"tenant_context.token";
