//! [`TenantKey`]: cache keys that always carry their tenant.

use std::fmt;

use crate::runtime::TenantId;

/// A cache key bound to one tenant: `TenantKey::new(tenant, "projects:list")`.
///
/// Two keys are equal only if both the tenant and the key are, so two
/// tenants can never share an entry, whatever the key part holds. Use it
/// as the key of an in-process cache (`moka::future::Cache<TenantKey<K>, V>`)
/// as is, or render it with `Display` for a string-keyed store such as
/// Redis: the tenant id comes first and is fixed-width (36 characters),
/// so no key part can spell another tenant's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantKey<K> {
    tenant: TenantId,
    key: K,
}

impl<K> TenantKey<K> {
    /// `key` within `tenant`.
    pub fn new(tenant: TenantId, key: K) -> Self {
        Self { tenant, key }
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The key within the tenant.
    pub fn key(&self) -> &K {
        &self.key
    }
}

/// `t:<tenant id>:<key>`, for string-keyed stores.
impl<K: fmt::Display> fmt::Display for TenantKey<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t:{}:{}", self.tenant, self.key)
    }
}

/// Shorthand for [`TenantKey::new`] with a string key part.
pub fn tenant_key(tenant: TenantId, key: impl Into<String>) -> TenantKey<String> {
    TenantKey::new(tenant, key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_tenant() {
        let a = TenantId::parse("3f333df6-90a4-4fda-8dd3-9485d27cee36").unwrap();
        let b = TenantId::parse("9b2f3c1e-0000-4000-8000-000000000001").unwrap();
        assert_ne!(
            tenant_key(a, "projects:list"),
            tenant_key(b, "projects:list")
        );
        assert_eq!(tenant_key(a, "x"), TenantKey::new(a, "x".to_owned()));
        assert_eq!(
            tenant_key(a, "projects:list").to_string(),
            "t:3f333df6-90a4-4fda-8dd3-9485d27cee36:projects:list"
        );
        assert_eq!(
            (
                tenant_key(a, "k").tenant(),
                tenant_key(a, "k").key().as_str()
            ),
            (a, "k")
        );
    }
}
