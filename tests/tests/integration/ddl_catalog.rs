//! The emitted DDL: its text, idempotence, what it leaves in the catalog,
//! and the plan PostgreSQL picks under the policy.

use std::collections::BTreeMap;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Row};
use tenant_runtime::{ddl, registry};

use crate::common::{TestDb, apply, rls_ddl};

#[test]
fn emitted_sql_snapshot() {
    insta::assert_snapshot!("emitted_rls", rls_ddl());
}

#[test]
fn emitted_sql_is_deterministic() {
    let tables = registry::tables().unwrap();
    let mut reversed: Vec<_> = tables.iter().collect();
    reversed.reverse();
    // The registry fixes the order whatever order the models were linked in.
    let reordered = registry::Ordered::new(reversed).unwrap();
    assert_eq!(ddl::emit(&reordered), ddl::emit(tables));
    assert_eq!(rls_ddl(), rls_ddl());
    let ddl = rls_ddl();
    let version = env!("CARGO_PKG_VERSION");
    let dated = ddl.as_bytes().windows(8).any(|w| {
        w[..2] == *b"20"
            && w[2..4].iter().all(u8::is_ascii_digit)
            && w[4] == b'-'
            && w[5..7].iter().all(u8::is_ascii_digit)
    });
    assert!(!dated, "no dates in the DDL text");
    assert!(!ddl.contains(version), "no versions in the DDL text");
}

/// Everything the DDL defines, as text, for comparing two states.
async fn catalog(pool: &PgPool) -> BTreeMap<String, String> {
    let queries = [
        "SELECT 'policy ' || tablename || '.' || policyname, cmd || ' ' || array_to_string(roles, ',') || ' USING ' || coalesce(qual, '') || ' CHECK ' || coalesce(with_check, '') FROM pg_policies WHERE schemaname = 'public'",
        "SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT 'constraint ' || conrelid::regclass || '.' || conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "SELECT 'trigger ' || tgrelid::regclass || '.' || tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
        "SELECT 'function ' || oid::regprocedure, md5(prosrc) || ' ' || provolatile::text FROM pg_proc WHERE pronamespace = 'tenancy'::regnamespace",
        "SELECT 'column ' || table_name || '.' || column_name, data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT 'rls ' || relname, relrowsecurity || ' ' || relforcerowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    ];
    let mut out = BTreeMap::new();
    for q in queries {
        for row in sqlx::query(q).fetch_all(pool).await.unwrap() {
            out.insert(row.get::<String, _>(0), row.get::<String, _>(1));
        }
    }
    out
}

#[sqlx::test]
async fn applying_twice_succeeds_and_changes_nothing(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let before = catalog(&db.owner).await;
    assert!(before.len() > 40, "catalog read: {before:#?}");
    apply(&db.owner, &rls_ddl()).await;
    assert_eq!(catalog(&db.owner).await, before);
    db.close().await;
}

#[sqlx::test]
async fn applies_through_sqlx_migrate_as_written_by_emit_rls(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tenant-rls-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let emit = |args: &[&str]| {
        let out = crate::emit_cli::emit_rls(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    emit(&["-o", dir.to_str().unwrap()]);
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    migrator.run(&owner).await.unwrap();
    let state = catalog(&owner).await;
    // A second file with the same DDL (as after a model change that did not
    // alter it) runs on top of the applied one without error or change.
    let first = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&first, dir.join("99999999999999_tenant_rls.sql")).unwrap();
    sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&owner)
        .await
        .unwrap();
    assert_eq!(catalog(&owner).await, state);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(applied, 2);
    std::fs::remove_dir_all(&dir).unwrap();
    owner.close().await;
}

#[sqlx::test]
async fn catalog_matches_the_models(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let pool = &db.owner;
    for entry in registry::tables().unwrap().tables() {
        let table = entry.meta();
        let name = table.name;
        let (rls, force): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
        )
        .bind(table.qualified_name())
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(rls && force, "{name}: RLS enabled and forced");

        let (cmd, qual, check): (String, String, String) =
            sqlx::query_as("SELECT cmd, qual, with_check FROM pg_policies WHERE tablename = $1")
                .bind(name)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(cmd, "ALL", "{name}");
        assert_eq!(
            qual, "(tenant_id = ( SELECT c.tenant\n   FROM tenancy.context c))",
            "{name}: uuid compared to uuid, no cast"
        );
        assert!(
            check.contains("refuse_cross_tenant_write"),
            "{name}: {check}"
        );

        let default: String = sqlx::query_scalar(
            "SELECT column_default FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
        )
        .bind(name)
        .bind(table.tenant_column)
        .fetch_one(pool)
        .await
        .unwrap();
        // The one function the migration writes for the mechanisms the
        // database has: the hint, where a forged one fails the policy's
        // WITH CHECK.
        assert_eq!(default, "tenancy.default_tenant()", "{name}");

        // Index column lists, first column first.
        let indexes: Vec<(Vec<String>, bool)> = sqlx::query_as(
            "SELECT array_agg(a.attname::text ORDER BY k.n), i.indisunique FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1::regclass GROUP BY i.indexrelid, i.indisunique",
        )
        .bind(table.qualified_name())
        .fetch_all(pool)
        .await
        .unwrap();
        let has = |cols: &[&str], unique: bool| {
            indexes
                .iter()
                .any(|(c, u)| *u == unique && c.iter().map(String::as_str).eq(cols.iter().copied()))
        };
        assert!(
            has(&[table.tenant_column, table.primary_key], true),
            "{name}: (tenant, key) index"
        );
        for u in table.uniques {
            assert!(has(u.columns, true), "{name}: unique {:?}", u.columns);
        }
        for i in table.indexes {
            assert!(has(i.columns, false), "{name}: index {:?}", i.columns);
        }

        let fks: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'",
        )
        .bind(table.qualified_name())
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(
            fks.contains(&"FOREIGN KEY (tenant_id) REFERENCES tenants(id)".to_owned()),
            "{name}: {fks:?}"
        );
        for (column, target) in entry.references() {
            let on_delete = column.references.map(|r| r.on_delete).unwrap_or_default();
            let expected = format!(
                "FOREIGN KEY (tenant_id, {}) REFERENCES {}(tenant_id, id){}",
                column.name,
                target.name,
                on_delete.clause(column.name)
            );
            assert!(fks.contains(&expected), "{name}: {expected} in {fks:?}");
        }

        let trigger: String = sqlx::query_scalar("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal")
            .bind(table.qualified_name())
            .fetch_one(pool)
            .await
            .unwrap();
        assert!(
            trigger.contains("BEFORE UPDATE") && trigger.contains("refuse_tenant_move"),
            "{trigger}"
        );
    }
    db.close().await;
}

#[sqlx::test]
async fn policy_only_query_uses_the_tenant_index(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    // 1000 tenants x 200 projects, loaded by the owner.
    db.owner
        .execute(
            "INSERT INTO tenants (name, slug) SELECT 'T' || g, 't-' || g FROM generate_series(1, 998) g;
             INSERT INTO projects (tenant_id, name) SELECT t.id, 'p' || g FROM tenants t, generate_series(1, 200) g;
             ANALYZE tenants; ANALYZE projects;",
        )
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(total, 200_000);

    // As the app role, no WHERE clause: only the policy filters.
    let mut tx = db.app.begin(db.tenants[0]).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar("EXPLAIN SELECT count(*) FROM projects")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("InitPlan"),
        "the tenant is read once per statement:\n{plan}"
    );
    assert!(
        plan.contains("Index") && plan.contains("projects_tenant_id"),
        "tenant index used:\n{plan}"
    );
    assert!(!plan.contains("Seq Scan on projects"), "{plan}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(n, 200);
    drop(tx);

    // The same table under @usebetterdev/tenant's predicate (a text cast of
    // the column) gets a sequential scan: the index is what the policy buys.
    let mut conn = db.owner.acquire().await.unwrap();
    conn.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
        .bind(db.tenants[0].to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT count(*) FROM projects WHERE (tenant_id)::text = current_setting('app.current_tenant', true)",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(plan.join("\n").contains("Seq Scan on projects"), "{plan:?}");
    conn.execute("ROLLBACK").await.unwrap();
    drop(conn);
    db.close().await;
}
