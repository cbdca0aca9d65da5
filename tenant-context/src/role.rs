//! The acting user's role in the entered tenant, computed as the tenant is
//! entered and shown by the read-only setting `tenant_context.user_in_tenant`,
//! so a begin message learns it with `SHOW` (no statement to plan) instead
//! of a `SELECT` of its own.
//!
//! It is whatever the migration's `tenancy.user_in_tenant(tenant, user)`
//! returns (tenant-members: the membership's role), called as the tenancy
//! schema's owner (who may; the application role may not) with the new
//! context already in place, so the owner's row-level security shows that
//! tenant's rows only.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_void};

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use tenant_token::Id;

use crate::state::{self, Context};

static SHOWN: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

thread_local! {
    /// The role found for the transaction that started at the timestamp.
    static ROLE: RefCell<Option<(pg_sys::TimestampTz, CString)>> = const { RefCell::new(None) };
}

pub(crate) fn define() {
    // SAFETY: called once, from _PG_init, with 'static names and setting.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"tenant_context.user_in_tenant",
            c"The acting user's role in the entered tenant, as of begin (read-only).",
            c"What tenancy.user_in_tenant returned when the transaction's token was checked; empty for none.",
            &SHOWN,
            GucContext::Userset,
            GucFlags::NO_SHOW_ALL | GucFlags::DISALLOW_IN_FILE | GucFlags::DISALLOW_IN_AUTO_FILE,
            Some(refuse),
            None,
            Some(show),
        );
    }
}

/// Nobody sets it: only the token's check writes what it shows.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn refuse(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value.
    unsafe { (*newval).is_null() || *(*newval) == 0 }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn show() -> *const c_char {
    // SAFETY: a backend-local timestamp.
    let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    ROLE.with_borrow(|role| match role {
        // The CString lives in the thread-local until the next begin
        // replaces it; PostgreSQL copies what a show hook returns.
        Some((at, text)) if *at == now => text.as_ptr(),
        _ => c"".as_ptr(),
    })
}

/// The tenancy schema's owner.
///
/// # Safety
///
/// Inside a transaction.
unsafe fn tenancy_owner() -> pg_sys::Oid {
    // SAFETY: a syscache lookup by the namespace's oid, released at once.
    unsafe {
        let namespace = pg_sys::get_namespace_oid(c"tenancy".as_ptr(), false);
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::NAMESPACEOID as i32,
            pg_sys::Datum::from(namespace),
        );
        if tuple.is_null() {
            pgrx::error!("tenant_context: the tenancy schema vanished");
        }
        let form = pg_sys::GETSTRUCT(tuple).cast::<pg_sys::FormData_pg_namespace>();
        let owner = (*form).nspowner;
        pg_sys::ReleaseSysCache(tuple);
        owner
    }
}

/// Finds and keeps the role of `user` in `tenant` for the transaction
/// `context` is for. Called by the token's check hook once the token
/// verified, with the context that the assign hook is about to install.
pub(crate) fn look_up(context: Context, tenant: Id, user: Id) {
    let found = {
        // The policies of the tables it reads see the new context.
        state::set(Some(context));
        // SAFETY: inside the transaction (the hook checked); the user id
        // is switched to the schema's owner for the one query and back,
        // as a SECURITY DEFINER call would (an error in between aborts
        // the transaction, whose cleanup restores it too). Datums are
        // palloc'd uuids that outlive the query.
        unsafe {
            let (mut user_id, mut sec) = (pg_sys::InvalidOid, 0);
            pg_sys::GetUserIdAndSecContext(&mut user_id, &mut sec);
            pg_sys::SetUserIdAndSecContext(
                tenancy_owner(),
                sec | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
            );
            let result = call_user_in_tenant(tenant, user);
            pg_sys::SetUserIdAndSecContext(user_id, sec);
            result
        }
    };
    let role = found.unwrap_or_default();
    ROLE.set(Some((context.xact_start, role)));
}

thread_local! {
    /// `SELECT tenancy.user_in_tenant($1, $2)`, prepared once per backend.
    static PLAN: std::cell::Cell<pg_sys::SPIPlanPtr> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

const QUERY: &std::ffi::CStr = c"SELECT tenancy.user_in_tenant($1, $2)";

/// Runs the query through SPI with a kept plan; the role, if any.
///
/// # Safety
///
/// Inside a transaction, with the user the call should run as set.
unsafe fn call_user_in_tenant(tenant: Id, user: Id) -> Option<CString> {
    // SAFETY: SPI connected and finished around the one query, its plan
    // prepared once and kept; the uuid datums are palloc'd in the current
    // context, which outlives the query; an error raises through pgrx's
    // guard and the transaction's abort releases SPI and the snapshot.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("tenant_context: SPI_connect failed");
        }
        let mut plan = PLAN.get();
        if plan.is_null() {
            let mut types = [pg_sys::UUIDOID, pg_sys::UUIDOID];
            plan = pg_sys::SPI_prepare(QUERY.as_ptr(), 2, types.as_mut_ptr());
            if plan.is_null() || pg_sys::SPI_keepplan(plan) != 0 {
                pgrx::error!("tenant_context: could not prepare tenancy.user_in_tenant");
            }
            PLAN.set(plan);
        }
        let datum = |id: Id| {
            let uuid = pg_sys::palloc(16).cast::<u8>();
            std::ptr::copy_nonoverlapping(id.as_ptr(), uuid, 16);
            pg_sys::Datum::from(uuid)
        };
        let mut values = [datum(tenant), datum(user)];
        let nulls = [b' ' as c_char, b' ' as c_char];
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), true, 1);
        pg_sys::PopActiveSnapshot();
        if rc != pg_sys::SPI_OK_SELECT as i32 || pg_sys::SPI_processed != 1 {
            pgrx::error!("tenant_context: tenancy.user_in_tenant failed ({rc})");
        }
        let table = pg_sys::SPI_tuptable;
        let text = pg_sys::SPI_getvalue(*(*table).vals, (*table).tupdesc, 1);
        let role = (!text.is_null()).then(|| std::ffi::CStr::from_ptr(text).to_owned());
        pg_sys::SPI_finish();
        role
    }
}

/// Forgets the role (a begin without a tenant or a user).
pub(crate) fn clear() {
    ROLE.set(None);
}
