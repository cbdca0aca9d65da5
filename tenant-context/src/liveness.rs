//! Whether a token's key and tenant are still live, and whether the role
//! may create temporary tables: read at every begin by the setting's check
//! hook, straight from the two primary-key indexes (no SQL to plan or
//! execute, which cost more than all the rest of a begin). It reads only
//! whether a row exists and whether its `deleted_at` / `retired_at` is
//! NULL, never a key.

use std::ffi::CStr;
use std::num::NonZeroUsize;

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

fn uuid_text(id: Id) -> String {
    let h: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The row of `schema.table` whose one-column primary key equals `key`
/// (compared with the function `equal`): `None` when there is none, else
/// whether its `column` is NULL.
///
/// # Safety
///
/// Inside a transaction, with `snapshot` the transaction's; `key` is a
/// datum of the key column's type.
unsafe fn row_state(
    snapshot: pg_sys::Snapshot,
    schema: &CStr,
    table: &CStr,
    column: &CStr,
    equal: pg_sys::Oid,
    key: pg_sys::Datum,
) -> Option<bool> {
    // SAFETY: catalog lookups by name and a primary-key index scan under
    // the transaction's snapshot, with the table locked as a SELECT would
    // lock it (until the transaction ends); every pointer comes from
    // PostgreSQL and is used before the scan ends. A missing table or
    // column raises, as a query would.
    unsafe {
        let namespace = pg_sys::get_namespace_oid(schema.as_ptr(), false);
        let relid = pg_sys::get_relname_relid(table.as_ptr(), namespace);
        if relid == pg_sys::InvalidOid {
            pgrx::error!(
                "tenant_context: no table {}.{} (apply the emit-rls migration)",
                schema.to_string_lossy(),
                table.to_string_lossy()
            );
        }
        let attnum = pg_sys::get_attnum(relid, column.as_ptr());
        let Some(attnum) = usize::try_from(attnum).ok().and_then(NonZeroUsize::new) else {
            pgrx::error!(
                "tenant_context: {}.{} has no column {}",
                schema.to_string_lossy(),
                table.to_string_lossy(),
                column.to_string_lossy()
            );
        };
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let index = pg_sys::RelationGetPrimaryKeyIndex(rel);
        let mut scankey: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut scankey,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            equal,
            key,
        );
        let scan = pg_sys::systable_beginscan(
            rel,
            index,
            index != pg_sys::InvalidOid,
            snapshot,
            1,
            &mut scankey,
        );
        let tuple = pg_sys::systable_getnext(scan);
        let state = if tuple.is_null() {
            None
        } else {
            Some(pgrx::htup::heap_getattr_raw(tuple, attnum, (*rel).rd_att).is_none())
        };
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        state
    }
}

/// Checks `tenant` (or none) and the key `key_id`.
pub(crate) fn check(tenant: Option<Id>, key_id: i32) -> Liveness {
    // SAFETY: called from the check hook inside a transaction (the hook
    // refuses otherwise); the uuid datum points at palloc'd memory that
    // outlives the scan.
    unsafe {
        if pg_sys::pg_database_aclcheck(
            pg_sys::MyDatabaseId,
            pg_sys::GetUserId(),
            pg_sys::AclMode::from(pg_sys::ACL_CREATE_TEMP),
        ) == pg_sys::AclResult::ACLCHECK_OK
        {
            return Liveness::RoleCanCreateTemp;
        }
        // One snapshot for both reads (in READ COMMITTED each call takes a
        // new one).
        let snapshot = pg_sys::GetTransactionSnapshot();
        let key = row_state(
            snapshot,
            c"tenancy",
            c"context_keys",
            c"retired_at",
            pg_sys::Oid::from(pg_sys::F_INT4EQ),
            pg_sys::Datum::from(key_id),
        );
        if key != Some(true) {
            return Liveness::KeyRetired;
        }
        let Some(id) = tenant else {
            return Liveness::Live;
        };
        let uuid = pg_sys::palloc(16).cast::<u8>();
        std::ptr::copy_nonoverlapping(id.as_ptr(), uuid, 16);
        match row_state(
            snapshot,
            c"public",
            c"tenants",
            c"deleted_at",
            pg_sys::Oid::from(pg_sys::F_UUID_EQ),
            pg_sys::Datum::from(uuid),
        ) {
            Some(true) => Liveness::Live,
            Some(false) => Liveness::TenantDeleted(uuid_text(id)),
            None => Liveness::TenantNotFound(uuid_text(id)),
        }
    }
}
