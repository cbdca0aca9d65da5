//! The setting `tenant_context.token`, whose check hook is the only way a
//! context comes to be.

use std::ffi::{CStr, CString, c_char, c_void};

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use tenant_token::SessionToken;

use crate::liveness::{self, Liveness};
use crate::state::{self, Context, Refusal};

static TOKEN: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub(crate) fn define() {
    // SAFETY: called once, from _PG_init, with 'static names and a
    // 'static setting; the hooks have the signatures PostgreSQL expects.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            crate::TOKEN_SETTING,
            c"The tenant context token of this transaction (set by TenantPool only).",
            c"A value is accepted only when its MAC, counter, key and tenant verify; it cannot be read back.",
            &TOKEN,
            GucContext::Userset,
            GucFlags::SUPERUSER_ONLY
                | GucFlags::NO_SHOW_ALL
                | GucFlags::DISALLOW_IN_FILE
                | GucFlags::DISALLOW_IN_AUTO_FILE,
            Some(check),
            Some(assign),
            Some(show),
        );
        // No placeholder of this prefix may stand in for the setting.
        pg_sys::MarkGUCPrefixReserved(c"tenant_context".as_ptr());
    }
}

/// A refusal, with the SQLSTATE tenant-runtime maps to its own error.
struct Refused {
    sqlstate: &'static [u8; 5],
    message: String,
    detail: Option<String>,
    hint: &'static str,
}

fn refused(sqlstate: &'static [u8; 5], message: impl Into<String>, hint: &'static str) -> Refused {
    Refused {
        sqlstate,
        message: message.into(),
        detail: None,
        hint,
    }
}

/// Verifies `text`, a token set from `source`; the context it makes.
fn verify(text: &str, source: pg_sys::GucSource::Type) -> Result<Context, Refused> {
    // SAFETY: backend-local flags and timestamps, readable at any time.
    let (worker, in_transaction, now) = unsafe {
        (
            pg_sys::InitializingParallelWorker,
            pg_sys::IsTransactionState(),
            pg_sys::GetCurrentTransactionStartTimestamp(),
        )
    };
    let forged = |what: &str| {
        refused(
            b"TN007",
            format!("tenant token refused: {what}"),
            "Only TenantPool::begin can enter a tenant.",
        )
    };
    let token = SessionToken::parse(text).map_err(|e| forged(&e.to_string()))?;
    if worker {
        // A parallel worker restores its leader's settings, which the
        // leader's hook checked; the worker has no session to check them
        // with, and SQL cannot set anything while it starts.
        return Ok(Context {
            tenant: token.tenant,
            user: token.user,
            xact_start: now,
        });
    }
    if source != pg_sys::GucSource::PGC_S_SESSION || !in_transaction {
        return Err(forged("it can only be set inside a transaction"));
    }
    let key_id = state::spend(&token).map_err(|refusal| match refusal {
        Refusal::NoSession => refused(
            b"TN005",
            "no tenancy session on this connection",
            "Connections of a TenantPool open one; a retired key closes it.",
        ),
        Refusal::Forged => forged("forged"),
        Refusal::Spent => forged("already used"),
    })?;
    match liveness::check(token.tenant, key_id) {
        Liveness::Live => {
            let context = Context {
                tenant: token.tenant,
                user: token.user,
                xact_start: now,
            };
            match (token.tenant, token.user) {
                (Some(tenant), Some(user)) => crate::role::look_up(context, tenant, user),
                _ => crate::role::clear(),
            }
            Ok(context)
        }
        Liveness::RoleCanCreateTemp => Err(refused(
            b"TN008",
            "the application role may create temporary tables, which could shadow a table's name in a later request",
            "REVOKE TEMP ON DATABASE <database> FROM PUBLIC, <role> (tenant roles --apply does it).",
        )),
        Liveness::KeyRetired => Err(refused(
            b"TN005",
            "no tenancy session on this connection: its context key is retired",
            "Connections of a TenantPool open one; a retired key closes it.",
        )),
        Liveness::TenantNotFound(id) => Err(Refused {
            detail: Some(format!(r#"{{"tenant" : "{id}"}}"#)),
            ..refused(
                b"TN002",
                format!("tenant not found: no tenant has id {id}"),
                "Create the tenant first, or check the id the request resolved to.",
            )
        }),
        Liveness::TenantDeleted(id) => Err(Refused {
            detail: Some(format!(r#"{{"tenant" : "{id}"}}"#)),
            ..refused(
                b"TN004",
                format!("tenant deleted: tenant {id} is deleted"),
                "Restore the tenant to use it again; its rows are kept until it is purged.",
            )
        }),
    }
}

/// `MAKE_SQLSTATE`.
fn sqlstate(code: &[u8; 5]) -> i32 {
    code.iter()
        .enumerate()
        .map(|(i, c)| (i32::from(c.wrapping_sub(b'0')) & 0x3F) << (6 * i))
        .sum()
}

/// A copy of `text` in the current memory context, as the hook's error
/// strings must be.
fn pstrdup(text: &str) -> *mut c_char {
    let text = CString::new(text.replace('\0', "")).unwrap_or_default();
    // SAFETY: pstrdup copies a NUL-terminated string into palloc'd memory.
    unsafe { pg_sys::pstrdup(text.as_ptr()) }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check(
    newval: *mut *mut c_char,
    extra: *mut *mut c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value,
    // which is NULL or a NUL-terminated string.
    let text = unsafe {
        match *newval {
            value if value.is_null() => "",
            value => CStr::from_ptr(value).to_str().unwrap_or("\u{fffd}"),
        }
    };
    if text.is_empty() {
        // RESET, DEFAULT, the end of the transaction: no context.
        return true;
    }
    match verify(text, source) {
        Ok(context) => {
            // The extra must come from malloc: PostgreSQL frees it with free().
            // SAFETY: malloc of a Copy value's size, written before use.
            let boxed = unsafe { libc::malloc(size_of::<Context>()) }.cast::<Context>();
            if boxed.is_null() {
                return false;
            }
            // SAFETY: `boxed` is a fresh, suitably aligned allocation.
            unsafe {
                boxed.write(context);
                *extra = boxed.cast();
            }
            true
        }
        Err(refusal) => {
            // SAFETY: the check-hook error slots are PostgreSQL's globals
            // for exactly this, read by the caller right after we return.
            unsafe {
                pg_sys::GUC_check_errcode(sqlstate(refusal.sqlstate));
                pg_sys::GUC_check_errmsg_string = pstrdup(&refusal.message);
                if let Some(detail) = &refusal.detail {
                    pg_sys::GUC_check_errdetail_string = pstrdup(detail);
                }
                pg_sys::GUC_check_errhint_string = pstrdup(refusal.hint);
            }
            false
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn assign(_newval: *const c_char, extra: *mut c_void) {
    // SAFETY: `extra` is NULL or the Context the check hook allocated for
    // this value (PostgreSQL keeps it with the value, and gives it back
    // when a transaction's end restores an earlier value).
    let context = unsafe { extra.cast::<Context>().as_ref().copied() };
    state::set(context);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn show() -> *const c_char {
    // The token is never shown, not even to a superuser.
    c"(hidden)".as_ptr()
}
