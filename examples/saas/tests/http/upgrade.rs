//! A deploy runs the new migration while the old service still holds its
//! pooled connections. The connections' tenancy sessions were opened by
//! the previous migration's `open_session`; after the newest migration
//! replaces the tenancy functions they must still enter tenants, on the
//! same connection (the pool would otherwise replace each one, once), and
//! still isolate them.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection as _, Executor as _};
use tenant_runtime::{SystemPool, TenantId, TenantPool};
use tenant_saas_example::db::{self, RoleNames};
use tenant_saas_example::models::Project;

use crate::common::{APP_ROLE, OWNER_ROLE, ROLES, SYSTEM_ROLE};

const ROLE_NAMES: RoleNames<'static> = RoleNames {
    owner: OWNER_ROLE,
    app: APP_ROLE,
    system: SYSTEM_ROLE,
};

/// Applies one migration as the owner, in one transaction, as sqlx would.
async fn apply(owner: &mut PgConnection, migration: &sqlx::migrate::Migration) {
    let mut tx = owner.begin().await.unwrap();
    tx.execute(&*migration.sql)
        .await
        .unwrap_or_else(|e| panic!("migration {} fails: {e}", migration.version));
    tx.commit().await.unwrap();
}

/// Each tenant sees its one project and nothing of the other's, through
/// the scoped API and through raw SQL with no filter.
async fn isolates(pool: &TenantPool, tenants: [TenantId; 2], when: &str) {
    for (mine, theirs) in [(tenants[0], tenants[1]), (tenants[1], tenants[0])] {
        let mut tx = pool
            .begin(mine)
            .await
            .unwrap_or_else(|e| panic!("{when}: begin fails: {e}"));
        let rows = Project::scoped(&tx).all().await.unwrap();
        assert_eq!(rows.len(), 1, "{when}");
        assert_eq!(rows[0].tenant_id, mine, "{when}");
        let (foreign,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM projects WHERE tenant_id = $1")
                .bind(theirs)
                .fetch_one(tx.conn())
                .await
                .unwrap();
        assert_eq!(foreign, 0, "{when}: another tenant's project is visible");
        tx.commit().await.unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn pooled_sessions_survive_the_newest_migration(_: PgPoolOptions, opts: PgConnectOptions) {
    let _one_at_a_time = ROLES.lock().await;
    let migrations: Vec<_> = db::MIGRATOR.iter().collect();
    let (newest, before) = migrations.split_last().expect("migrations exist");
    db::apply_roles(&opts, ROLE_NAMES).await.unwrap();
    let mut owner = PgConnection::connect_with(&opts.clone().username(OWNER_ROLE))
        .await
        .unwrap();
    for migration in before {
        apply(&mut owner, migration).await;
    }
    db::apply_roles(&opts, ROLE_NAMES).await.unwrap();
    let key = db::new_context_key(opts.clone().username(OWNER_ROLE))
        .await
        .unwrap();
    let system = SystemPool::options()
        .max_connections(1)
        .connect_with(opts.clone().username(SYSTEM_ROLE))
        .await
        .unwrap();
    let tx = system.begin().await.unwrap();
    let tenants = [
        tx.tenants().create("Acme").await.unwrap().id,
        tx.tenants().create("Globex").await.unwrap().id,
    ];
    tx.commit().await.unwrap();

    // One connection, so every request after the upgrade runs on the
    // session opened before it.
    let old = db::tenant_pool(opts.clone().username(APP_ROLE), 1, key.clone())
        .await
        .unwrap();
    for (tenant, name) in [(tenants[0], "acme plan"), (tenants[1], "globex plan")] {
        let tx = old.begin(tenant).await.unwrap();
        Project::scoped(&tx)
            .insert(&Project {
                id: 0,
                tenant_id: tenant,
                name: name.to_owned(),
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    isolates(&old, tenants, "before the upgrade").await;
    let (pid_before,): (i32,) = {
        let mut tx = old.begin(tenants[0]).await.unwrap();
        let pid = sqlx::query_as("SELECT pg_backend_pid()")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        pid
    };

    apply(&mut owner, newest).await;
    db::apply_roles(&opts, ROLE_NAMES).await.unwrap();

    isolates(&old, tenants, "on a session opened before the upgrade").await;
    let mut tx = old.begin(tenants[0]).await.unwrap();
    let (pid_after,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        pid_after, pid_before,
        "the session opened before the upgrade no longer enters: the pool replaced its connection (every pooled connection would reconnect once at this deploy)"
    );
    let fresh = db::tenant_pool(opts.username(APP_ROLE), 1, key)
        .await
        .unwrap();
    isolates(&fresh, tenants, "on a session opened after the upgrade").await;
    fresh.close();
    old.close();
    owner.close().await.unwrap();
}
