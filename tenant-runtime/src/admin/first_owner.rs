//! The first owner of a new tenant, made by a linked library (tenant-members)
//! for `tenant seed --owner-email ..`: the command line knows no users
//! table, the library that ships one does.

use std::future::Future;
use std::pin::Pin;

use super::tenants::Tenant;
use crate::error::Result;
use crate::tx::SystemTx;

/// The person who will own a new tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstOwner {
    /// Their email, verified by whoever runs the command.
    pub email: String,
    /// Their display name.
    pub name: String,
}

/// What makes a tenant's first owner, in the system transaction that
/// created the tenant: says in one line what it did (the user made or
/// found, the membership made).
pub type MakeOwner = for<'a> fn(
    &'a SystemTx,
    &'a Tenant,
    &'a FirstOwner,
) -> Pin<Box<dyn Future<Output = Result<String>> + Send + 'a>>;

/// A library's way to make a tenant's first owner, registered with
/// `inventory::submit!` (tenant-members submits one).
#[derive(Debug)]
pub struct OwnerMaker {
    library: &'static str,
    make: MakeOwner,
}

impl OwnerMaker {
    /// `library` makes owners with `make`.
    pub const fn new(library: &'static str, make: MakeOwner) -> Self {
        Self { library, make }
    }

    /// The library's name, for messages.
    pub fn library(&self) -> &'static str {
        self.library
    }

    /// Makes `owner` the first owner of `tenant`, in `tx`.
    pub async fn make(&self, tx: &SystemTx, tenant: &Tenant, owner: &FirstOwner) -> Result<String> {
        (self.make)(tx, tenant, owner).await
    }
}

inventory::collect!(OwnerMaker);

/// Every linked library's owner maker, by library name.
pub fn owner_makers() -> Vec<&'static OwnerMaker> {
    let mut all: Vec<&'static OwnerMaker> = inventory::iter::<OwnerMaker>.into_iter().collect();
    all.sort_by_key(|m| m.library);
    all
}
