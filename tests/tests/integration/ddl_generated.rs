//! emit-rls on model sets made at run time, their shapes drawn by
//! proptest: the DDL applies to PostgreSQL, applies a second time without
//! changing the catalog, isolates two tenants on every table, as the
//! application role, and `check` passes on the result.

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Row};
use tenant_cli::{CheckArgs, ConnectArgs, Outcome};
use tenant_runtime::ddl;
use tenant_runtime::meta::{OnDelete, TableMeta};
use tenant_runtime::registry::{self, Ordered};
use tenant_runtime::tx::ContextKey;
use tenant_tests::generated::{self, Shape};
use tenant_tests::setup;

use crate::cli_common::role_url;
use crate::common::{APP_ROLE, SYSTEM_ROLE, TestDb};

/// `tenant check` of the test database against `models`, as the
/// application role (the system role given too, and the context key, so
/// the probe writes a row of its own in every generated table).
async fn check(
    opts: &PgConnectOptions,
    key: &ContextKey,
    models: Vec<&'static TableMeta>,
) -> Outcome {
    let args = CheckArgs {
        connect: ConnectArgs {
            database_url: Some(role_url(opts, APP_ROLE)),
            system_url: Some(role_url(opts, SYSTEM_ROLE)),
        },
        tenant_column: "tenant_id".to_owned(),
        json: true,
        strict: true,
        no_probe: false,
        context_key: Some(key.expose_spec()),
        skip: Vec::new(),
        list: false,
    };
    tokio::task::spawn_blocking(move || tenant_cli::check_models(&args, &models))
        .await
        .unwrap()
        .expect("check runs")
}

const SETS: usize = 6;

/// What the second application must leave as it was: the tables'
/// policies (with their expressions), constraints, indexes and triggers.
async fn fingerprint(owner: &PgPool, prefix: &str) -> String {
    let like = format!("{prefix}\\_%");
    let row = sqlx::query(
        "SELECT
           (SELECT string_agg(c.relname || ':' || p.polname || ':' || coalesce(pg_get_expr(p.polqual, p.polrelid), '')
                              || ':' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''), ';' ORDER BY c.relname, p.polname)
              FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relname LIKE $1),
           (SELECT string_agg(c.relname || ':' || k.conname || ':' || pg_get_constraintdef(k.oid), ';' ORDER BY c.relname, k.conname)
              FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relname LIKE $1),
           (SELECT string_agg(pg_get_indexdef(i.indexrelid), ';' ORDER BY 1)
              FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname LIKE $1),
           (SELECT string_agg(c.relname || ':' || t.tgname, ';' ORDER BY c.relname, t.tgname)
              FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relname LIKE $1 AND NOT t.tgisinternal)",
    )
    .bind(like)
    .fetch_one(owner)
    .await
    .unwrap();
    (0..4)
        .map(|i| row.get::<Option<String>, _>(i).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn emit(metas: &[&'static TableMeta]) -> String {
    ddl::emit(&Ordered::new(metas.iter().copied()).unwrap())
}

async fn apply(owner: &PgPool, sql: &str) {
    let mut tx = owner.begin().await.unwrap();
    tx.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("the DDL applies: {e}"));
    tx.commit().await.unwrap();
}

#[sqlx::test]
async fn generated_model_sets_apply_twice_unchanged_and_isolate_tenants(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts.clone()).await;
    let [a, b] = db.tenants;
    let example: Vec<&'static TableMeta> = registry::tables().unwrap().iter().collect();
    let mut applied = example.clone();
    let strategy = prop::collection::vec(any::<(bool, bool, bool, bool, usize)>(), 1..6);
    let mut runner = TestRunner::deterministic();
    for set in 0..SETS {
        let drawn = strategy.new_tree(&mut runner).unwrap().current();
        let shapes: Vec<Shape> = drawn
            .into_iter()
            .map(
                |(unique_name, index_created, nullable_note, references_previous, action)| Shape {
                    unique_name,
                    index_created,
                    nullable_note,
                    references_previous,
                    on_delete: OnDelete::ALL[action % OnDelete::ALL.len()].1,
                },
            )
            .collect();
        let prefix = format!("gen{set}");
        // First with every reference's delete action turned one step, then
        // as drawn: a later migration changes the action it declares.
        let turned: Vec<Shape> = shapes.iter().map(|s| s.turned()).collect();
        apply(&db.owner, &emit(&generated::tables(&prefix, &turned))).await;
        let before = fingerprint(&db.owner, &prefix).await;
        let metas = generated::tables(&prefix, &shapes);
        let sql = emit(&metas);
        applied.extend(metas.iter().copied());
        apply(&db.owner, &sql).await;
        setup::grant(&db.owner).await.unwrap();
        let first = fingerprint(&db.owner, &prefix).await;
        assert!(
            first.contains("rls_tenant"),
            "{shapes:?}: policies exist:\n{first}"
        );
        let references = shapes.iter().skip(1).any(|s| s.references_previous);
        assert_eq!(
            first != before,
            references,
            "{shapes:?}: the declared delete actions replace the old ones:\n{before}\n{first}"
        );
        for (i, shape) in shapes.iter().enumerate().skip(1) {
            if shape.references_previous {
                let clause = shape.on_delete.clause("parent_id");
                let fk = format!("REFERENCES {prefix}_{}(tenant_id, id){clause}", i - 1);
                assert!(first.contains(&fk), "{shapes:?}: {fk} in\n{first}");
            }
        }
        apply(&db.owner, &sql).await;
        assert_eq!(fingerprint(&db.owner, &prefix).await, first, "{shapes:?}");

        for meta in &metas {
            let table = meta.name;
            let mut tx = db.app.begin(a).await.unwrap();
            tx.conn()
                .execute(format!("INSERT INTO {table} (name) VALUES ('a-row')").as_str())
                .await
                .unwrap_or_else(|e| panic!("{table} {shapes:?}: {e}"));
            tx.commit().await.unwrap();
            for (tenant, rows) in [(a, 1), (b, 0)] {
                let mut tx = db.app.begin(tenant).await.unwrap();
                let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(tx.conn())
                    .await
                    .unwrap();
                assert_eq!(n, rows, "{table} {shapes:?}");
                tx.commit().await.unwrap();
            }
        }
    }
    // check, strict, passes with every set's models, and fails without
    // them: their tables are then tenant tables no model declares.
    assert_eq!(check(&opts, &db.key, applied).await, Outcome::Ok);
    assert_eq!(check(&opts, &db.key, example).await, Outcome::Findings);
    db.close().await;
}
