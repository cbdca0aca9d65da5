#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
mod extract;
mod invitation;
pub mod permissions;
mod role;
pub mod users;

#[cfg(feature = "axum")]
pub use extract::{Member, RequireRole, min};
pub use invitation::{Invitation, InvitationToken, accept_invitation};
pub use permissions::Permissions;
pub use role::{ParseRoleError, Role};
pub use users::User;

use tenant_runtime::{TenantId, TenantScoped, UserId};

/// A user's membership of a tenant, with their role there: the table
/// `memberships`, a tenant table like any model (row-level security, the
/// tenant column filled from the transaction), plus the invariants of
/// `members.sql`, which emit-rls writes after it.
///
/// Read it through `Membership::scoped(&tx)` like any model; change it
/// in a transaction begun with `TenantPool::begin_as(tenant, user)`, so
/// the database knows who acts (see the crate docs for what it refuses).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "memberships", unique(tenant_id, user_id))]
pub struct Membership {
    /// The row's key.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user (the id `begin_as` is given).
    pub user_id: UserId,
    /// `owner`, `admin`, `member` or `viewer` (see [`Role`]).
    #[tenant(sql_type = "text")]
    pub role: String,
}

impl Membership {
    /// A new membership of `user` in `tenant` with `role`, to insert.
    pub fn new(tenant: TenantId, user: UserId, role: Role) -> Self {
        Self {
            id: 0,
            tenant_id: tenant,
            user_id: user,
            role: role.as_str().to_owned(),
        }
    }

    /// The role, parsed (the database's CHECK admits only the four).
    pub fn role(&self) -> Result<Role, ParseRoleError> {
        self.role.parse()
    }
}

/// The role in the transaction's tenant of the user it acts for
/// (`TenantPool::begin_as`), or `None` when they are no member (or it
/// acts for nobody): as of `begin`, which read it with the tenant
/// (`TenantTx::user_in_tenant`, from `tenancy.user_in_tenant`), so it
/// costs no statement. A change of the membership within this
/// transaction shows through [`membership_of`], not here.
pub async fn role_of_current_user(
    tx: &tenant_runtime::TenantTx,
) -> Result<Option<Role>, tenant_runtime::Error> {
    Ok(tx.user_in_tenant().and_then(|role| role.parse().ok()))
}

/// The membership of `user` in the transaction's tenant, if any (one
/// statement, no reset).
pub async fn membership_of(
    tx: &tenant_runtime::TenantTx,
    user: UserId,
) -> Result<Option<Membership>, tenant_runtime::Error> {
    tx.static_select("SELECT id, tenant_id, user_id, role FROM memberships WHERE user_id = $1")?
        .bind(user)
        .fetch_optional()
        .await
}

/// Sets `user`'s role in the transaction's tenant; `None` when they are no
/// member. The database decides whether the acting user may
/// (`Error::MembershipChangeRefused`, `Error::LastOwner`).
pub async fn set_role(
    tx: &tenant_runtime::TenantTx,
    user: UserId,
    role: Role,
) -> Result<Option<Membership>, tenant_runtime::Error> {
    let Some(mut row) = membership_of(tx, user).await? else {
        return Ok(None);
    };
    row.role = role.as_str().to_owned();
    Membership::scoped(tx).update(&row).await.map(Some)
}

/// Removes `user` from the transaction's tenant (leaving, when it is the
/// acting user); `false` when they were no member. The database decides
/// whether the acting user may, as for [`set_role`].
pub async fn remove_member(
    tx: &tenant_runtime::TenantTx,
    user: UserId,
) -> Result<bool, tenant_runtime::Error> {
    match membership_of(tx, user).await? {
        Some(row) => Membership::scoped(tx).delete(&row.id).await,
        None => Ok(false),
    }
}

/// One of a user's organisations, as [`my_tenants`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct MyTenant {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// The user's role there.
    pub role: String,
}

/// The live organisations of the user a transaction with no tenant acts
/// for (`TenantPool::begin_global_as(user)`): for an organisation switcher,
/// with no tenant context and without the system role. It reads only the
/// signed user's own memberships (`tenancy.my_tenants()`), so SQL in the
/// transaction learns nothing of anyone else's; with no user it is empty.
pub async fn my_tenants(
    tx: &tenant_runtime::tx::GlobalTx,
) -> Result<Vec<MyTenant>, tenant_runtime::Error> {
    tx.static_select("SELECT tenant_id, slug, name, role FROM tenancy.my_tenants()")?
        .fetch_all()
        .await
}

inventory::submit! {
    tenant_runtime::registry::Extension::new("public", "memberships", include_str!("members.sql"))
        .creating(&[("public", "users"), ("tenancy", "member_tenants")])
}

inventory::submit! {
    tenant_runtime::registry::Extension::new("public", "invitations", include_str!("invitations.sql"))
}

/// Makes `owner` the first owner of the new `tenant`, in the system
/// transaction that created it: the user with that email (found
/// case-insensitively, else created) and an owner membership. What
/// `tenant seed --name .. --owner-email ..` runs when this crate is linked.
pub async fn make_first_owner(
    tx: &tenant_runtime::SystemTx,
    tenant: &tenant_runtime::Tenant,
    owner: &tenant_runtime::FirstOwner,
) -> Result<String, tenant_runtime::Error> {
    let (user, made) = match users::user_by_email(tx, &owner.email).await? {
        Some(user) => (user, "existing"),
        None => (
            users::create_user(tx, UserId::new_v4(), &owner.email, &owner.name).await?,
            "new",
        ),
    };
    Membership::system(tx)
        .insert(&Membership::new(tenant.id, user.id, Role::Owner))
        .await?;
    Ok(format!("owner: {} ({made} user {})", user.email, user.id))
}

fn make_owner<'a>(
    tx: &'a tenant_runtime::SystemTx,
    tenant: &'a tenant_runtime::Tenant,
    owner: &'a tenant_runtime::FirstOwner,
) -> std::pin::Pin<Box<dyn Future<Output = Result<String, tenant_runtime::Error>> + Send + 'a>> {
    Box::pin(make_first_owner(tx, tenant, owner))
}

inventory::submit! {
    tenant_runtime::OwnerMaker::new("tenant-members", make_owner)
}

/// Keeps this crate's model and its SQL in a binary that links no other
/// item of it (see tenant-runtime's linking rule): call it from `main` of
/// the binary that runs `tenant_cli::main()`.
pub fn link() {}
