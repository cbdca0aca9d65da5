//! The cache answers repeat lookups itself and forgets at once on
//! invalidation.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::directory::MemoryDirectory;

/// A memory directory that counts the lookups that reach it.
#[derive(Clone, Default)]
struct Counting {
    tenants: MemoryDirectory,
    lookups: Arc<AtomicUsize>,
    fail: Arc<std::sync::atomic::AtomicBool>,
}

impl TenantDirectory for Counting {
    async fn by_slug(&self, slug: &Slug) -> Result<Option<TenantRecord>, DirectoryError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(DirectoryError::Unavailable("down".into()));
        }
        self.tenants.by_slug(slug).await
    }

    async fn by_id(&self, id: TenantId) -> Result<Option<TenantRecord>, DirectoryError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(DirectoryError::Unavailable("down".into()));
        }
        self.tenants.by_id(id).await
    }
}

fn record(slug: &str) -> TenantRecord {
    TenantRecord {
        id: TenantId::from_uuid(uuid::Uuid::new_v4()),
        slug: slug.to_owned(),
        deleted: false,
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

#[tokio::test]
async fn repeat_lookups_are_served_from_the_cache() {
    let inner = Counting::default();
    let acme = record("acme");
    inner.tenants.insert(acme.clone());
    let cache = CachedDirectory::new(inner.clone());
    for _ in 0..3 {
        assert_eq!(cache.by_slug(&slug("acme")).await, Ok(Some(acme.clone())));
        assert_eq!(cache.by_id(acme.id).await, Ok(Some(acme.clone())));
        assert_eq!(cache.by_slug(&slug("nobody")).await, Ok(None));
    }
    assert_eq!(inner.lookups.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn invalidate_id_forgets_the_tenant_under_every_key() {
    let inner = Counting::default();
    let acme = record("acme");
    inner.tenants.insert(acme.clone());
    let cache = CachedDirectory::new(inner.clone());
    cache.by_slug(&slug("acme")).await.unwrap();
    cache.by_id(acme.id).await.unwrap();
    // Deleted (and renamed) elsewhere in this process:
    let changed = TenantRecord {
        slug: "acme-old".into(),
        deleted: true,
        ..acme.clone()
    };
    inner.tenants.insert(changed.clone());
    assert_eq!(
        cache.by_id(acme.id).await,
        Ok(Some(acme.clone())),
        "still cached"
    );
    cache.invalidate_id(acme.id).await;
    assert_eq!(cache.by_id(acme.id).await, Ok(Some(changed)));
    assert_eq!(cache.by_slug(&slug("acme")).await, Ok(None));
}

#[tokio::test]
async fn invalidate_slug_forgets_a_cached_not_found() {
    let inner = Counting::default();
    let cache = CachedDirectory::new(inner.clone());
    assert_eq!(cache.by_slug(&slug("newco")).await, Ok(None));
    let newco = record("newco");
    inner.tenants.insert(newco.clone());
    assert_eq!(
        cache.by_slug(&slug("newco")).await,
        Ok(None),
        "not found is cached"
    );
    cache.invalidate_slug(&slug("newco")).await;
    assert_eq!(cache.by_slug(&slug("newco")).await, Ok(Some(newco)));
}

#[tokio::test]
async fn errors_are_not_cached() {
    let inner = Counting::default();
    let acme = record("acme");
    inner.tenants.insert(acme.clone());
    let cache = CachedDirectory::new(inner.clone());
    inner.fail.store(true, Ordering::SeqCst);
    assert!(matches!(
        cache.by_slug(&slug("acme")).await,
        Err(DirectoryError::Unavailable(_))
    ));
    inner.fail.store(false, Ordering::SeqCst);
    assert_eq!(cache.by_slug(&slug("acme")).await, Ok(Some(acme)));
}
