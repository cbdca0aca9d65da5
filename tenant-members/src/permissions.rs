//! [`Permissions`]: what each role may do, as names an application can
//! extend without forking this crate.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::Role;

/// A permission map: each role holds its own grants and every grant of
/// the roles below it (an admin may do whatever a member may).
///
/// [`Permissions::standard`] is the usual SaaS map; an application adds
/// its own names with [`grant`](Self::grant) or starts from
/// [`Permissions::empty`]:
///
/// ```
/// use tenant_members::{Permissions, Role};
///
/// let permissions = Permissions::standard()
///     .grant(Role::Member, "invoices.read")
///     .grant(Role::Admin, "invoices.refund");
/// assert!(permissions.allows(Role::Owner, "invoices.refund"));
/// assert!(permissions.allows(Role::Member, "invoices.read"));
/// assert!(!permissions.allows(Role::Member, "invoices.refund"));
/// assert!(!permissions.allows(Role::Viewer, "invoices.read"));
/// ```
///
/// The map decides what the application offers; the database's own rules
/// on memberships (only admins change them, only owners touch the owner
/// role) hold whatever it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    grants: BTreeMap<Role, BTreeSet<Cow<'static, str>>>,
}

/// Read the organisation's data.
pub const READ: &str = "data.read";
/// Create, change and delete the organisation's data.
pub const WRITE: &str = "data.write";
/// Invite, remove and change members below owner.
pub const MANAGE_MEMBERS: &str = "members.manage";
/// Grant or remove the owner role, delete the organisation.
pub const MANAGE_OWNERS: &str = "owners.manage";

impl Permissions {
    /// No grants at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Viewer: [`READ`]; member: [`WRITE`]; admin: [`MANAGE_MEMBERS`];
    /// owner: [`MANAGE_OWNERS`] (each with everything below it).
    pub fn standard() -> Self {
        Self::empty()
            .grant(Role::Viewer, READ)
            .grant(Role::Member, WRITE)
            .grant(Role::Admin, MANAGE_MEMBERS)
            .grant(Role::Owner, MANAGE_OWNERS)
    }

    /// Grants `permission` to `role`, and so to every role above it.
    pub fn grant(mut self, role: Role, permission: impl Into<Cow<'static, str>>) -> Self {
        self.grants
            .entry(role)
            .or_default()
            .insert(permission.into());
        self
    }

    /// Takes `permission` away from `role` itself (a role above that
    /// holds it of its own keeps it).
    pub fn revoke(mut self, role: Role, permission: &str) -> Self {
        if let Some(set) = self.grants.get_mut(&role) {
            set.remove(permission);
        }
        self
    }

    /// Whether `role` may do `permission`: granted to it or to a role
    /// below it.
    pub fn allows(&self, role: Role, permission: &str) -> bool {
        self.grants
            .range(..=role)
            .any(|(_, set)| set.contains(permission))
    }

    /// The least role that may do `permission`, if any.
    pub fn least_role_for(&self, permission: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|&r| self.allows(r, permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_flow_upwards_and_only_upwards() {
        let p = Permissions::standard();
        for (role, allowed) in [
            (Role::Viewer, [true, false, false, false]),
            (Role::Member, [true, true, false, false]),
            (Role::Admin, [true, true, true, false]),
            (Role::Owner, [true, true, true, true]),
        ] {
            let got = [READ, WRITE, MANAGE_MEMBERS, MANAGE_OWNERS].map(|perm| p.allows(role, perm));
            assert_eq!(got, allowed, "{role}");
        }
        assert_eq!(p.least_role_for(MANAGE_MEMBERS), Some(Role::Admin));
        assert_eq!(p.least_role_for("unknown"), None);
        let p = p.revoke(Role::Member, WRITE).grant(Role::Admin, WRITE);
        assert!(!p.allows(Role::Member, WRITE));
        assert!(p.allows(Role::Owner, WRITE));
    }
}
