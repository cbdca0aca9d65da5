//! [`MemoryDirectory`]: a fixed list of tenants.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{DirectoryError, TenantDirectory, TenantRecord};
use crate::runtime::TenantId;
use crate::tenant_ref::Slug;

/// Tenants held in memory: for tests, and for deployments whose tenants
/// are fixed in configuration. Cheap to clone (clones share the list).
#[derive(Debug, Clone, Default)]
pub struct MemoryDirectory {
    tenants: Arc<RwLock<HashMap<TenantId, TenantRecord>>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a tenant.
    pub fn insert(&self, record: TenantRecord) {
        self.write().insert(record.id, record);
    }

    /// Removes a tenant.
    pub fn remove(&self, id: TenantId) {
        self.write().remove(&id);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TenantId, TenantRecord>> {
        // Every write is one map operation, so a poisoned map is still whole.
        self.tenants.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TenantId, TenantRecord>> {
        self.tenants.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl TenantDirectory for MemoryDirectory {
    async fn by_slug(&self, slug: &Slug) -> Result<Option<TenantRecord>, DirectoryError> {
        let found = self
            .read()
            .values()
            .find(|r| r.slug == slug.as_str())
            .cloned();
        Ok(found)
    }

    async fn by_id(&self, id: TenantId) -> Result<Option<TenantRecord>, DirectoryError> {
        Ok(self.read().get(&id).cloned())
    }
}
