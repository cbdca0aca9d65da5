//! A deploy runs the new migration while the old service still holds its
//! pooled connections and sends the begin message of its release. After
//! the newest migration replaces the tenancy functions, a connection whose
//! session the previous migration opened, speaking the previous release's
//! begin message (`CALL tenancy.enter(tenant, user, n, mac); BEGIN`),
//! must go on entering tenants and isolating them; and the new release's
//! pool must work too.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection as _, Executor as _};
use tenant_runtime::{SystemPool, TenantId, TenantPool};
use tenant_saas_example::db;
use tenant_saas_example::models::Project;
use tenant_test_support::session::RawSession;
use tenant_testing::TestRoles;

/// Applies one migration as the owner, in one transaction, as sqlx would.
async fn apply(owner: &mut PgConnection, migration: &sqlx::migrate::Migration) {
    let mut tx = owner.begin().await.unwrap();
    tx.execute(&*migration.sql)
        .await
        .unwrap_or_else(|e| panic!("migration {} fails: {e}", migration.version));
    tx.commit().await.unwrap();
}

/// Through the previous release's begin message on `old`: each tenant
/// sees its own project and none of the other's.
async fn old_release_isolates(old: &mut RawSession, tenants: [TenantId; 2], when: &str) {
    for (mine, theirs) in [(tenants[0], tenants[1]), (tenants[1], tenants[0])] {
        let (counter, mac) = old.token(mine);
        old.send(&format!(
            "CALL tenancy.enter('{mine}'::uuid, NULL::uuid, {counter}::int8, '{mac}'::text); BEGIN"
        ))
        .await
        .unwrap_or_else(|e| panic!("{when}: the previous release's begin fails: {e}"));
        let rows: Vec<(TenantId, i64)> =
            sqlx::query_as("SELECT tenant_id, count(*) FROM projects GROUP BY tenant_id")
                .fetch_all(&mut old.conn)
                .await
                .unwrap();
        assert_eq!(rows, vec![(mine, 1)], "{when}: tenant {theirs} shows");
        old.send("COMMIT").await.unwrap();
    }
}

/// Through the scoped API of this release's pool.
async fn pool_isolates(pool: &TenantPool, tenants: [TenantId; 2]) {
    for mine in tenants {
        let tx = pool.begin(mine).await.unwrap();
        let rows = Project::scoped(&tx).all().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].tenant_id, mine);
        tx.commit().await.unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn the_previous_release_keeps_working_after_the_newest_migration(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let migrations: Vec<_> = db::MIGRATOR.iter().collect();
    let (newest, before) = migrations.split_last().expect("migrations exist");
    // The roles alone: this test applies the migrations one by one.
    let roles = TestRoles::create(&opts).await.unwrap();
    let mut owner = PgConnection::connect_with(&roles.owner_options())
        .await
        .unwrap();
    for migration in before {
        apply(&mut owner, migration).await;
    }
    roles.grant().await.unwrap();
    let key = roles.install_context_key().await.unwrap();
    let system = SystemPool::options()
        .max_connections(1)
        .connect_with(roles.system_options())
        .await
        .unwrap();
    let tx = system.begin().await.unwrap();
    let tenants = [
        tx.tenants().create("Acme").await.unwrap().id,
        tx.tenants().create("Globex").await.unwrap().id,
    ];
    tx.commit().await.unwrap();
    // The system role bypasses RLS: one project for each tenant, by hand
    // (this release's pools end transactions as the newest migration
    // expects, and the deploy runs that migration first).
    let mut admin = PgConnection::connect_with(&roles.system_options())
        .await
        .unwrap();
    for (tenant, name) in [(tenants[0], "acme plan"), (tenants[1], "globex plan")] {
        sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, $2)")
            .bind(tenant)
            .bind(name)
            .execute(&mut admin)
            .await
            .unwrap();
    }
    admin.close().await.unwrap();

    let mut old = RawSession::open(&roles.app_options(), &key).await.unwrap();
    old_release_isolates(&mut old, tenants, "before the upgrade").await;

    apply(&mut owner, newest).await;
    roles.grant().await.unwrap();

    old_release_isolates(&mut old, tenants, "after the upgrade, on the old session").await;
    let fresh = db::tenant_pool(roles.app_options(), 1, key).await.unwrap();
    pool_isolates(&fresh, tenants).await;
    fresh.close();
    old.conn.close().await.unwrap();
    owner.close().await.unwrap();
    system.close();
    roles.remove().await.unwrap();
}
