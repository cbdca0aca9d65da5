//! Whether a token's key and tenant are still live: one query per begin,
//! run by the setting's check hook through SPI as the application role
//! (which reads `public.tenants`, and `key_id` and `retired_at` of
//! `tenancy.context_keys`, never the key).

use std::cell::Cell;

use pgrx::pg_sys;
use tenant_token::Id;

/// The answer for one token.
pub(crate) enum Liveness {
    Live,
    KeyRetired,
    RoleCanCreateTemp,
    TenantNotFound(String),
    TenantDeleted(String),
}

/// 1 for a live tenant, 2 for a deleted one, NULL for none (or no tenant
/// asked); and whether the key is live.
/// And whether the role may create temporary tables, which could shadow
/// a table's name in a later request's SQL on this connection.
const QUERY: &std::ffi::CStr = c"SELECT (SELECT CASE WHEN t.deleted_at IS NULL THEN 1 ELSE 2 END FROM public.tenants t WHERE t.id OPERATOR(pg_catalog.=) $1)::pg_catalog.int4, EXISTS (SELECT 1 FROM tenancy.context_keys k WHERE k.key_id OPERATOR(pg_catalog.=) $2 AND k.retired_at IS NULL), pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMP')";

thread_local! {
    /// The query's plan, prepared once per backend and kept.
    static PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
}

fn uuid_text(id: Id) -> String {
    let h: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Runs the query for `tenant` (or none) and `key_id`.
pub(crate) fn check(tenant: Option<Id>, key_id: i32) -> Liveness {
    // SAFETY: called from the check hook inside a transaction (the hook
    // refuses otherwise). SPI is connected and finished around the one
    // query; an error inside raises through pgrx's guard and the
    // transaction's abort releases SPI and the pushed snapshot. The uuid
    // argument is palloc'd in the current context, which outlives the call.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("tenant_context: SPI_connect failed");
        }
        let mut plan = PLAN.get();
        if plan.is_null() {
            let mut types = [pg_sys::UUIDOID, pg_sys::INT4OID];
            plan = pg_sys::SPI_prepare(QUERY.as_ptr(), 2, types.as_mut_ptr());
            if plan.is_null() || pg_sys::SPI_keepplan(plan) != 0 {
                pgrx::error!("tenant_context: could not prepare the liveness query");
            }
            PLAN.set(plan);
        }
        let uuid = pg_sys::palloc(16).cast::<u8>();
        std::ptr::copy_nonoverlapping(tenant.unwrap_or_default().as_ptr(), uuid, 16);
        let mut values = [pg_sys::Datum::from(uuid), pg_sys::Datum::from(key_id)];
        let nulls = [
            if tenant.is_some() { b' ' } else { b'n' } as std::ffi::c_char,
            b' ' as std::ffi::c_char,
        ];
        // No statement snapshot is active while a SET runs.
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), true, 1);
        pg_sys::PopActiveSnapshot();
        if rc != pg_sys::SPI_OK_SELECT as i32 || pg_sys::SPI_processed != 1 {
            pgrx::error!("tenant_context: the liveness query failed ({rc})");
        }
        let table = pg_sys::SPI_tuptable;
        let row = *(*table).vals;
        let desc = (*table).tupdesc;
        let mut null = false;
        let state = pg_sys::SPI_getbinval(row, desc, 1, &mut null);
        let state = if null { None } else { Some(state.value() as i32) };
        let key_live = pg_sys::SPI_getbinval(row, desc, 2, &mut null).value() != 0 && !null;
        let temp = pg_sys::SPI_getbinval(row, desc, 3, &mut null).value() != 0 && !null;
        pg_sys::SPI_finish();
        match (key_live, tenant, state) {
            _ if temp => Liveness::RoleCanCreateTemp,
            (false, _, _) => Liveness::KeyRetired,
            (true, None, _) | (true, Some(_), Some(1)) => Liveness::Live,
            (true, Some(id), Some(_)) => Liveness::TenantDeleted(uuid_text(id)),
            (true, Some(id), None) => Liveness::TenantNotFound(uuid_text(id)),
        }
    }
}
