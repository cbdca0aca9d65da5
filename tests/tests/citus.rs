//! Row-based sharding by tenant on Citus (`emit-rls --citus`).
//!
//! The emitted DDL is checked here always (a snapshot, and what it refuses
//! to emit). The isolation test needs a Citus coordinator with two workers
//! in `TENANT_CITUS_URL` (a superuser's URL, trust authentication for the
//! roles it makes; README, "Citus", says how to make one); without it, it
//! says it did not run and passes.

use std::str::FromStr as _;

use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenant_runtime::ddl::{self, CitusError, Roles};
use tenant_runtime::registry::Ordered;
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{
    ContextMechanism, SystemPool, TenantId, TenantPool, TenantScoped, TenantTable,
};
use tenant_tests::{Project, Task, User};

/// A note on a project, deleted with it: a co-located child table.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "citus_notes")]
pub struct Note {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// The project, of the same tenant.
    #[tenant(references = "projects", on_delete = "cascade")]
    pub project_id: i64,
    /// Text.
    pub body: String,
}

pub(crate) fn models() -> Ordered {
    Ordered::new([Project::META, User::META, Note::META]).unwrap()
}

#[test]
fn the_citus_ddl_is_stable() {
    let sql = ddl::emit_citus(&models()).unwrap();
    insta::assert_snapshot!("citus_ddl", sql);
}

#[test]
fn the_citus_ddl_keys_every_table_by_tenant() {
    let sql = ddl::emit_citus(&models()).unwrap();
    for table in ["projects", "users", "citus_notes"] {
        assert!(
            sql.contains(&format!(
                "PERFORM pg_catalog.create_distributed_table('\"public\".\"{table}\"', 'tenant_id'"
            )),
            "{table} is distributed"
        );
        assert!(
            sql.contains(&format!(
                "ADD CONSTRAINT \"{table}_pkey\" PRIMARY KEY (\"tenant_id\", \"id\")"
            )),
            "{table}: the tenant leads its primary key"
        );
    }
    assert!(sql.contains("create_reference_table('tenancy.tenant_ids')"));
    assert!(!sql.contains("CREATE OR REPLACE TRIGGER tenant_move_guard"));
    assert!(!sql.contains("(SELECT c.tenant FROM tenancy.context c))\n    WITH CHECK"));
    // The default form is untouched.
    assert!(!ddl::emit(&models()).contains("create_distributed_table"));
}

#[test]
fn set_null_is_refused_with_what_to_do() {
    let ordered = Ordered::new([Project::META, User::META, Task::META]).unwrap();
    let err = ddl::emit_citus(&ordered).unwrap_err();
    assert!(
        matches!(
            err,
            CitusError::SetNull {
                column: "assignee_id",
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("public.tasks.assignee_id") && message.contains("cascade"),
        "{message}"
    );
}

pub(crate) const OWNER: &str = "citus_test_owner";
pub(crate) const APP: &str = "citus_test_app";
pub(crate) const SYSTEM: &str = "citus_test_system";

pub(crate) async fn pool_as(opts: &PgConnectOptions, role: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(opts.clone().username(role))
        .await
        .unwrap()
}

/// The port of the worker holding `tenant`'s rows of `projects`.
async fn worker_of(admin: &PgPool, tenant: TenantId) -> i32 {
    sqlx::query_scalar(
        "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid
          WHERE p.shardid = get_shard_id_for_distribution_column('projects', $1::uuid)",
    )
    .bind(tenant.as_uuid())
    .fetch_one(admin)
    .await
    .unwrap()
}

fn sql_code(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|db| db.code())
        .map(|c| c.into_owned())
        .unwrap_or_else(|| format!("{e}"))
}

/// `url` logged in as `role` (trust authentication).
fn role_url(opts: &PgConnectOptions, role: &str) -> String {
    format!(
        "postgres://{role}@{}:{}/{}",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("postgres")
    )
}

/// `tenant roles --apply`: in one transaction, as the CLI does.
pub(crate) async fn apply_roles(admin: &PgPool, roles: &Roles, ordered: &Ordered) {
    let mut tx = admin.begin().await.unwrap();
    sqlx::raw_sql(&roles.sql(ordered))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A superuser's pool on the server of `opts`, with the tables of an
/// earlier run dropped (tenants stay) and the roles applied.
pub(crate) async fn clean_slate(opts: &PgConnectOptions) -> (PgPool, Ordered, Roles) {
    let admin = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(opts.clone())
        .await
        .unwrap();
    let ordered = models();
    let roles = Roles::new(OWNER, APP, SYSTEM).unwrap();
    admin
        .execute("DROP TABLE IF EXISTS public.citus_notes, public.users, public.projects CASCADE")
        .await
        .unwrap();
    apply_roles(&admin, &roles, &ordered).await;
    (admin, ordered, roles)
}

/// `token`, set by SQL in a transaction of `tenant` and propagated to the
/// workers as SQL may ask Citus to, shows none of `other`'s rows.
async fn planted_token_shows_nothing(
    app: &TenantPool,
    tenant: TenantId,
    other: TenantId,
    token: &str,
    what: &str,
) {
    let mut tx = app.begin(tenant).await.unwrap();
    sqlx::query("SET LOCAL citus.propagate_set_commands = 'local'")
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(&format!("SET LOCAL tenancy.citus_token = '{token}'"))
        .execute(tx.conn())
        .await
        .unwrap();
    let seen = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(other.as_uuid())
        .fetch_one(tx.conn())
        .await;
    match seen {
        Ok(n) => assert_eq!(n, 0, "a {what} token shows nothing"),
        Err(e) => assert_eq!(sql_code(&e), "TN001", "{e}"),
    }
}

#[tokio::test]
async fn two_tenants_on_two_workers_stay_apart() {
    let Ok(url) = std::env::var("TENANT_CITUS_URL") else {
        eprintln!(
            "SKIPPED: TENANT_CITUS_URL unset: the Citus isolation test did not run (README, \"Citus\")"
        );
        return;
    };
    let opts = PgConnectOptions::from_str(&url).unwrap();
    let (admin, ordered, roles) = clean_slate(&opts).await;

    // A database the single-node form made, with rows: the Citus form
    // converts it (README, "Citus").
    let owner = pool_as(&opts, OWNER).await;
    let mut tx = owner.begin().await.unwrap();
    tx.execute(ddl::emit(&ordered).as_str()).await.unwrap();
    tx.commit().await.unwrap();
    apply_roles(&admin, &roles, &ordered).await;
    let system_sql = pool_as(&opts, SYSTEM).await;
    let before: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO public.tenants (name, slug) VALUES ('before', 'before-' || gen_random_uuid()) RETURNING id",
    )
    .fetch_one(&system_sql)
    .await
    .unwrap();
    sqlx::query(
        "WITH p AS (INSERT INTO projects (tenant_id, name) SELECT $1, 'old ' || g FROM generate_series(1, 10) g RETURNING id)
         INSERT INTO citus_notes (tenant_id, project_id, body) SELECT $1, p.id, 'old' FROM p",
    )
    .bind(before)
    .execute(&system_sql)
    .await
    .unwrap();

    // The migration, as its owner, twice: the second run changes nothing.
    let sql = ddl::emit_citus(&ordered).unwrap();
    for _ in 0..2 {
        let mut tx = owner.begin().await.unwrap();
        tx.execute(sql.as_str()).await.unwrap();
        tx.commit().await.unwrap();
    }
    let distributed: Vec<(String, String)> = sqlx::query_as(
        "SELECT logicalrelid::text, partmethod::text FROM pg_dist_partition ORDER BY 1",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    for table in ["citus_notes", "projects", "users"] {
        assert!(
            distributed.contains(&(table.to_owned(), "h".to_owned())),
            "{distributed:?}"
        );
    }
    assert!(
        distributed.contains(&("tenancy.tenant_ids".to_owned(), "n".to_owned())),
        "{distributed:?}"
    );
    assert!(
        !distributed.iter().any(|(t, _)| t == "tenants"),
        "{distributed:?}"
    );
    // Grants, now that the tables exist.
    apply_roles(&admin, &roles, &ordered).await;
    let converted: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM projects WHERE tenant_id = $1), (SELECT count(*) FROM citus_notes WHERE tenant_id = $1)",
    )
    .bind(before)
    .fetch_one(&system_sql)
    .await
    .unwrap();
    assert_eq!(converted, (10, 10), "the converted rows are on the shards");

    // A context key, on every node.
    owner
        .execute("DELETE FROM tenancy.context_keys")
        .await
        .unwrap();
    let key = ContextKey::generate(1);
    sqlx::query("INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2)")
        .bind(key.id())
        .bind(key.expose_bytes())
        .execute(&owner)
        .await
        .unwrap();
    let synced: i32 = sqlx::query_scalar("SELECT tenancy.citus_sync_keys()")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(synced, 1);

    // Two tenants whose rows live on different workers.
    let system = SystemPool::connect_with(opts.clone().username(SYSTEM))
        .await
        .unwrap();
    let system_sql = pool_as(&opts, SYSTEM).await;
    let mut by_worker: std::collections::BTreeMap<i32, TenantId> = Default::default();
    for i in 0..64 {
        if by_worker.len() == 2 {
            break;
        }
        let id: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO public.tenants (name, slug) VALUES ($1, $1 || '-' || gen_random_uuid()) RETURNING id",
        )
        .bind(format!("citus tenant {i}"))
        .fetch_one(&system_sql)
        .await
        .unwrap();
        let tenant = TenantId::from(id);
        by_worker
            .entry(worker_of(&admin, tenant).await)
            .or_insert(tenant);
    }
    assert_eq!(by_worker.len(), 2, "two workers hold shards: {by_worker:?}");
    let tenants: Vec<(i32, TenantId)> = by_worker.into_iter().collect();
    let (a, b) = (tenants[0].1, tenants[1].1);
    drop(system);

    // Both ways the coordinator may hold the context: the extension (when
    // the cluster has it) and plain SQL, each carried to the workers.
    let extension: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'tenant_context')",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    let mut kept = None;
    for use_extension in [false, true] {
        owner
            .execute(format!("SELECT tenancy.install_context({use_extension})").as_str())
            .await
            .unwrap();
        system_sql
            .execute("DELETE FROM citus_notes; DELETE FROM projects")
            .await
            .unwrap();
        let app = TenantPool::options()
            .context_key(key.clone())
            .max_connections(2)
            .connect_with(opts.clone().username(APP))
            .await
            .unwrap();
        let expected = if use_extension && extension {
            ContextMechanism::Extension
        } else {
            ContextMechanism::Session
        };
        assert_eq!(app.mechanism(), Some(expected));

        // Each tenant writes and reads its own rows, on its own worker.
        for (port, tenant) in &tenants {
            let mut tx = app.begin(*tenant).await.unwrap();
            let project: i64 =
                sqlx::query_scalar("INSERT INTO projects (name) VALUES ($1) RETURNING id")
                    .bind(format!("on {port}"))
                    .fetch_one(tx.conn())
                    .await
                    .unwrap();
            sqlx::query("INSERT INTO citus_notes (project_id, body) VALUES ($1, 'hello')")
                .bind(project)
                .execute(tx.conn())
                .await
                .unwrap();
            let updated = sqlx::query("UPDATE projects SET name = name || ' (seen)' WHERE id = $1")
                .bind(project)
                .execute(tx.conn())
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(updated, 1, "tenant on worker {port} updates its row");
            tx.commit().await.unwrap();

            let mut tx = app.begin(*tenant).await.unwrap();
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT p.name, count(n.id) FROM projects p LEFT JOIN citus_notes n
                     ON n.tenant_id = p.tenant_id AND n.project_id = p.id GROUP BY p.name",
            )
            .fetch_all(tx.conn())
            .await
            .unwrap();
            assert_eq!(
                rows,
                vec![(format!("on {port} (seen)"), 1)],
                "tenant on worker {port}"
            );
            tx.commit().await.unwrap();
        }

        // Neither sees, changes or writes the other's rows: not by naming it,
        // not with a query that reaches every worker.
        for (mine, theirs) in [(a, b), (b, a)] {
            let mut tx = app.begin(mine).await.unwrap();
            let all: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
                .fetch_one(tx.conn())
                .await
                .unwrap();
            assert_eq!(all, 1, "a query on every shard sees one tenant's row");
            let named: i64 =
                sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
                    .bind(theirs.as_uuid())
                    .fetch_one(tx.conn())
                    .await
                    .unwrap();
            assert_eq!(named, 0);
            let changed = sqlx::query("UPDATE projects SET name = 'mine' WHERE tenant_id = $1")
                .bind(theirs.as_uuid())
                .execute(tx.conn())
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(changed, 0);
            let deleted = sqlx::query("DELETE FROM citus_notes WHERE tenant_id = $1")
                .bind(theirs.as_uuid())
                .execute(tx.conn())
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(deleted, 0);
            tx.commit().await.unwrap();

            let mut tx = app.begin(mine).await.unwrap();
            let err = sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'planted')")
                .bind(theirs.as_uuid())
                .execute(tx.conn())
                .await
                .unwrap_err();
            assert_eq!(sql_code(&err), "TN003", "{err}");
            drop(tx);
        }

        // A token is worth nothing in another transaction: tenant a's, read
        // by SQL in a's transaction, set in b's.
        let mut tx = app.begin(a).await.unwrap();
        let token: String = sqlx::query_scalar("SELECT current_setting('tenancy.citus_token')")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert!(token.starts_with("c1."), "{token}");
        tx.commit().await.unwrap();
        planted_token_shows_nothing(&app, b, a, &token, "replayed").await;
        // Nor a forged one: b's own ids with a MAC SQL made up.
        let forged = format!("c1.1.{}..{}", a.as_uuid(), "0".repeat(64));
        planted_token_shows_nothing(&app, b, a, &forged, "forged").await;

        // Nor set on the worker itself, by a call Citus pushes down with the
        // query: the token names another distributed transaction.
        let mut tx = app.begin(b).await.unwrap();
        let seen = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM projects WHERE tenant_id = $1 AND set_config('tenancy.citus_token', $2, true) IS NOT NULL",
        )
        .bind(a.as_uuid())
        .bind(&token)
        .fetch_one(tx.conn())
        .await;
        match seen {
            Ok(n) => assert_eq!(n, 0, "a token set on the worker shows nothing"),
            Err(e) => assert_eq!(sql_code(&e), "TN001", "{e}"),
        }
        drop(tx);

        // SQL cannot give a transaction the id of another, nor run SQL on the
        // workers itself.
        let mut tx = app.begin(a).await.unwrap();
        let err = sqlx::query("SELECT assign_distributed_transaction_id(0, 1, now())")
            .execute(tx.conn())
            .await
            .unwrap_err();
        assert_eq!(sql_code(&err), "42501", "{err}");
        drop(tx);
        let mut tx = app.begin(a).await.unwrap();
        let err = sqlx::query("SELECT run_command_on_workers('SELECT 1')")
            .execute(tx.conn())
            .await
            .unwrap_err();
        assert_eq!(sql_code(&err), "42501", "{err}");
        drop(tx);
        // A pushed-down call, run on the worker, is refused there too.
        let mut tx = app.begin(a).await.unwrap();
        let err = sqlx::query(
            "SELECT run_command_on_workers('SELECT 1') FROM projects WHERE tenant_id = $1",
        )
        .bind(a.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap_err();
        assert_eq!(sql_code(&err), "42501", "{err}");
        drop(tx);

        // Outside a tenant transaction: no context, on any node.
        let plain = pool_as(&opts, APP).await;
        let err = sqlx::query("SELECT count(*) FROM projects")
            .fetch_one(&plain)
            .await
            .unwrap_err();
        assert_eq!(sql_code(&err), "TN001", "{err}");
        let err = sqlx::query("SELECT tenancy.citus_enter()")
            .execute(&plain)
            .await
            .unwrap_err();
        assert_eq!(sql_code(&err), "TN001", "{err}");
        kept = Some(app);
    }
    let app = kept.unwrap();

    // `tenant check` as the application role passes on the Citus form, its
    // probe entering a tenant whose rows are on each worker.
    let args = tenant_cli::CheckArgs {
        connect: tenant_cli::ConnectArgs {
            database_url: Some(role_url(&opts, APP)),
            system_url: Some(role_url(&opts, SYSTEM)),
        },
        tenant_column: "tenant_id".to_owned(),
        json: false,
        strict: true,
        no_probe: false,
        context_key: Some(key.expose_spec()),
        skip: Vec::new(),
        list: false,
    };
    let checked = tokio::task::spawn_blocking(move || {
        tenant_cli::check_models(&args, &[Project::META, User::META, Note::META])
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(checked, tenant_cli::Outcome::Ok);

    // Maintenance: moving tenant a's shards to the other worker. Citus
    // copies and checks them as the tables' owner, whom FORCE subjects to
    // the policies, so the move fails as it is; a superuser lets the owner
    // bypass row-level security for the move only. The application role
    // is not the owner and cannot become it: its isolation never lifts.
    let (from, to) = (tenants[0].0, tenants[1].0);
    let shard: i64 =
        sqlx::query_scalar("SELECT get_shard_id_for_distribution_column('projects', $1::uuid)")
            .bind(a.as_uuid())
            .fetch_one(&admin)
            .await
            .unwrap();
    let move_sql = format!(
        "SELECT citus_move_shard_placement({shard}, '127.0.0.1', {from}, '127.0.0.1', {to}, shard_transfer_mode => 'block_writes')"
    );
    let refused = sqlx::query(&move_sql).execute(&admin).await.unwrap_err();
    assert_eq!(sql_code(&refused), "TN001", "{refused}");
    admin
        .execute(format!("ALTER ROLE {OWNER} BYPASSRLS").as_str())
        .await
        .unwrap();
    // The refused move's cleanup can still hold Citus's colocation lock
    // for a moment ("could not acquire the lock required to move"): the
    // move is retried while that is the error, for up to 10 s.
    let mut moved = sqlx::query(&move_sql).execute(&admin).await;
    for _ in 0..50 {
        match &moved {
            Err(e)
                if e.to_string()
                    .contains("could not acquire the lock required to move") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                moved = sqlx::query(&move_sql).execute(&admin).await;
            }
            _ => break,
        }
    }
    admin
        .execute(format!("ALTER ROLE {OWNER} NOBYPASSRLS").as_str())
        .await
        .unwrap();
    moved.unwrap();
    assert_eq!(worker_of(&admin, a).await, to, "tenant a's rows moved");
    for (mine, theirs) in [(a, b), (b, a)] {
        let mut tx = app.begin(mine).await.unwrap();
        sqlx::query("INSERT INTO projects (name) VALUES ('after the move')")
            .execute(tx.conn())
            .await
            .unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(rows, 2, "own rows after the move, and only those");
        let named: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
            .bind(theirs.as_uuid())
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(named, 0);
        drop(tx);
    }

    // The system role sees both, across shards.
    let both: i64 = sqlx::query_scalar("SELECT count(DISTINCT tenant_id) FROM projects")
        .fetch_one(&system_sql)
        .await
        .unwrap();
    assert_eq!(both, 2);
}
