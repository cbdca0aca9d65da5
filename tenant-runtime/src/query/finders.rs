//! The finders the derive generates for each unique constraint of a model
//! (`unique(tenant_id, email)` gives `Owner::scoped(&tx).find_by_email(..)`),
//! reached from [`Scoped`](super::Scoped) through `Deref`.

use std::marker::PhantomData;

use super::run::{self as query, Args, Row};
use crate::error::Result;
use crate::tx::TenantTx;

/// A model's finders on one tenant transaction: a struct the derive
/// writes, with one `find_by_..` method per unique constraint. Not part of
/// the API.
#[doc(hidden)]
pub trait Finders<'tx> {
    /// The finders of the rows of `tx`'s tenant.
    fn new(tx: &'tx TenantTx) -> Self;
}

/// The finders of a model whose attributes did not validate: none.
#[doc(hidden)]
#[derive(Debug)]
pub struct NoFinders<'tx>(PhantomData<&'tx ()>);

impl<'tx> Finders<'tx> for NoFinders<'tx> {
    fn new(_: &'tx TenantTx) -> Self {
        Self(PhantomData)
    }
}

/// What a generated finder runs: its statement (tenant `$1`, then the
/// unique columns) with the tenant bound first.
#[doc(hidden)]
pub async fn find_by<T: Row>(
    tx: &TenantTx,
    sql: &'static str,
    bind: impl FnOnce(Args) -> Args,
) -> Result<Option<T>> {
    let args = bind(Args::new().bind(tx.tenant()));
    query::fetch_optional(tx, sql, args).await
}
