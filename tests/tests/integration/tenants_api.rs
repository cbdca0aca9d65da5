//! The tenants API (system role) and the purge of a deleted tenant.

use std::time::Duration;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::{Error, PurgeOptions, PurgeRefusal, TenantId, TenantUpdate};
use tenant_tests::{Project, Task, User};

use crate::common::TestDb;

#[sqlx::test]
async fn create_read_update_list_count(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let sys = db.system.begin().await.unwrap();
    let tenants = sys.tenants();
    // The harness made "Acme Corp" (acme-corp) and "Globex" already.
    let second = tenants.create("Acme  Corp!").await.unwrap();
    assert_eq!(second.slug, "acme-corp-2", "derived slugs stay unique");
    assert!(
        matches!(tenants.create_with_slug("Other", "globex").await, Err(Error::SlugTaken { slug }) if slug == "globex")
    );
    assert!(matches!(
        tenants.create_with_slug("Other", "Not A Slug").await,
        Err(Error::InvalidSlug { .. })
    ));
    assert!(matches!(
        tenants.create("!!!").await,
        Err(Error::InvalidTenantName { .. })
    ));

    assert_eq!(
        tenants.get(second.id).await.unwrap().as_ref(),
        Some(&second)
    );
    assert_eq!(
        tenants.get_by_slug("acme-corp-2").await.unwrap().as_ref(),
        Some(&second)
    );
    assert_eq!(
        tenants
            .get(TenantId::from(uuid::Uuid::new_v4()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(tenants.count().await.unwrap(), 3);
    let first_two = tenants.list(2, 0).await.unwrap();
    let rest = tenants.list(2, 2).await.unwrap();
    assert_eq!((first_two.len(), rest.len()), (2, 1));
    assert_eq!(rest[0].id, second.id, "oldest first");

    let renamed = tenants
        .update(
            second.id,
            TenantUpdate {
                name: Some("Acme Two".into()),
                slug: Some("acme-two".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.slug.as_str()),
        ("Acme Two", "acme-two")
    );
    assert!(matches!(
        tenants
            .update(
                second.id,
                TenantUpdate {
                    slug: Some("globex".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(Error::SlugTaken { .. })
    ));
    sys.rollback().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn soft_delete_blocks_the_tenant_and_restore_unblocks_it(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let sys = db.system.begin().await.unwrap();
    let deleted = sys.tenants().delete(b).await.unwrap();
    assert!(deleted.deleted_at.is_some());
    let again = sys.tenants().delete(b).await.unwrap();
    assert_eq!(
        again.deleted_at, deleted.deleted_at,
        "deleting twice keeps the first time"
    );
    assert_eq!(sys.tenants().count().await.unwrap(), 1);
    assert_eq!(
        sys.tenants()
            .list(10, 0)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [a]
    );
    sys.commit().await.unwrap();
    assert!(matches!(
        db.app.begin(b).await,
        Err(Error::TenantDeleted { .. })
    ));

    let sys = db.system.begin().await.unwrap();
    assert_eq!(sys.tenants().restore(b).await.unwrap().deleted_at, None);
    sys.commit().await.unwrap();
    db.app.begin(b).await.unwrap().commit().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn purge_removes_only_the_deleted_tenants_rows_in_batches(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    // 100k projects, 1k users and tasks for a; a few rows for b.
    for tenant in [a, b] {
        let mut tx = db.app.begin(tenant).await.unwrap();
        let rows = if tenant == a { 100_000 } else { 10 };
        tx.conn()
            .execute(
                format!(
                    "INSERT INTO projects (name) SELECT g FROM generate_series(1, {rows}) g;
                     INSERT INTO users (email, name) SELECT 'u' || g || '@x.io', 'U' FROM generate_series(1, {}) g;
                     INSERT INTO tasks (project_id, assignee_id, title, done)
                       SELECT p.id, u.id, 't', false FROM projects p JOIN users u ON u.email = 'u' || p.name || '@x.io';",
                    rows.min(1000),
                )
                .as_str(),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    let not_deleted = db
        .system
        .purge_tenant(a, PurgeOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            not_deleted,
            Error::PurgeRefused {
                reason: PurgeRefusal::NotDeleted,
                ..
            }
        ),
        "{not_deleted:?}"
    );
    let sys = db.system.begin().await.unwrap();
    sys.tenants().delete(a).await.unwrap();
    sys.commit().await.unwrap();
    let in_grace = db
        .system
        .purge_tenant(a, PurgeOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            in_grace,
            Error::PurgeRefused { reason: PurgeRefusal::GraceNotOver { ends_at }, .. }
                if ends_at > time::OffsetDateTime::now_utc() + Duration::from_secs(29 * 24 * 3600)
        ),
        "{in_grace:?}"
    );

    let options = PurgeOptions {
        grace: Duration::ZERO,
        batch_size: 10_000,
    };
    let report = db.system.purge_tenant(a, options).await.unwrap();
    assert_eq!(report.tenant, a);
    assert_eq!(
        report.tables,
        [
            ("public.tasks".to_owned(), 1000),
            ("public.users".to_owned(), 1000),
            ("public.projects".to_owned(), 100_000)
        ],
        "children before parents"
    );
    // 100k rows at 10k a statement: 10 full ones and 1 that finds none
    // left for projects, 1 each for tasks and users, 1 for the tenant.
    assert_eq!(report.batches, 14, "{report:?}");

    let sys = db.system.begin().await.unwrap();
    assert_eq!(
        sys.tenants().get(a).await.unwrap(),
        None,
        "the tenant row is gone"
    );
    assert_eq!(Project::system(&sys).count().await.unwrap(), 10);
    assert_eq!(User::system(&sys).count().await.unwrap(), 10);
    assert_eq!(Task::system(&sys).count().await.unwrap(), 10);
    drop(sys);
    let tx = db.app.begin(b).await.unwrap();
    assert_eq!(Project::scoped(&tx).count().await.unwrap(), 10);
    drop(tx);
    db.close().await;
}

/// A restore that races a purge either wins before the purge starts (and
/// the tenant keeps every row) or loses to it (refused, and the tenant is
/// gone): never an active tenant with part of its rows deleted.
#[sqlx::test]
async fn a_restore_racing_a_purge_never_leaves_a_partly_purged_tenant(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    const ROWS: i64 = 2_000;
    let db = TestDb::new(opts).await;
    let options = PurgeOptions {
        grace: Duration::ZERO,
        // Many small batches, so the race has many places to land.
        batch_size: 50,
    };
    let (mut restored_first, mut purged_first) = (0, 0);
    // Round 0 restores before the purge, round 9 after it; the rounds
    // between race the two, the restore landing later each time.
    for round in 0..10u64 {
        let tenant = {
            let sys = db.system.begin().await.unwrap();
            let t = sys
                .tenants()
                .create(&format!("Race {round}"))
                .await
                .unwrap()
                .id;
            sys.commit().await.unwrap();
            t
        };
        let mut tx = db.app.begin(tenant).await.unwrap();
        tx.conn()
            .execute(
                format!("INSERT INTO projects (name) SELECT g FROM generate_series(1, {ROWS}) g")
                    .as_str(),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let sys = db.system.begin().await.unwrap();
        sys.tenants().delete(tenant).await.unwrap();
        sys.commit().await.unwrap();

        let purge = db.system.purge_tenant(tenant, options);
        let restore = async {
            let sys = db.system.begin().await?;
            let restored = sys.tenants().restore(tenant).await;
            sys.commit().await?;
            restored
        };
        let (purged, restored) = match round {
            0 => {
                let restored = restore.await;
                (purge.await, restored)
            }
            9 => {
                let purged = purge.await;
                (purged, restore.await)
            }
            _ => tokio::join!(purge, async {
                tokio::time::sleep(Duration::from_millis(round * 3)).await;
                restore.await
            }),
        };
        let mut sys = db.system.begin().await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(sys.conn())
            .await
            .unwrap();
        let row = sys.tenants().get(tenant).await.unwrap();
        drop(sys);
        match (purged, restored) {
            (Err(Error::PurgeRefused { .. }), Ok(t)) => {
                assert_eq!(t.deleted_at, None);
                assert_eq!(
                    left, ROWS,
                    "round {round}: a restored tenant keeps every row"
                );
                assert!(row.is_some_and(|t| t.deleted_at.is_none()));
                restored_first += 1;
            }
            (
                Ok(report),
                Err(Error::TenantPurging { tenant: t } | Error::TenantNotFound { tenant: t }),
            ) => {
                assert_eq!(t, tenant);
                assert_eq!(
                    report.tables[2],
                    ("public.projects".to_owned(), ROWS as u64)
                );
                assert_eq!(
                    (left, row),
                    (0, None),
                    "round {round}: a purged tenant is gone"
                );
                purged_first += 1;
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
    assert!(
        restored_first > 0 && purged_first > 0,
        "{restored_first} restored, {purged_first} purged"
    );
    db.close().await;
}
