//! `TestDb` against the real database: what it sets up holds the way
//! production does (the application role under row-level security, two
//! tenants kept apart), its roles are its own and go away.
//!
//! Most tests make a database of their own (`TestDb::create`), so a
//! checkout running the same tests on the same server cannot collide
//! with them; the ones about `#[sqlx::test]`'s database use that.

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use tenant_runtime::{ContextMechanism, Error, PoolOptions, TenantId, TenantScoped, ddl, registry};
use tenant_testing::{Context, SetupError, TestDb, TestRoles};

/// A tenant table of the test binary, so the registry has one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "notes", unique(tenant_id, title))]
pub struct Note {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// Unique per tenant.
    pub title: String,
}

/// A child that references a note of the same tenant.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "note_tags")]
pub struct NoteTag {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// A note of the same tenant.
    #[tenant(references = "notes")]
    pub note_id: i64,
    /// The tag.
    pub tag: String,
}

/// The server `DATABASE_URL` names, as its superuser.
fn server() -> PgConnectOptions {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is set")
        .parse()
        .unwrap()
}

fn note(tenant: TenantId, title: &str) -> Note {
    Note {
        id: 0,
        tenant_id: tenant,
        title: title.to_owned(),
    }
}

async fn role_exists(admin: &PgConnectOptions, role: &str) -> bool {
    let mut conn = PgConnection::connect_with(admin).await.unwrap();
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    found
}

#[tokio::test]
async fn the_app_pool_is_the_application_role_under_row_level_security() {
    let db = TestDb::create().await.unwrap();
    let opts = db.roles().admin_options();
    let names = db.roles().names().clone();
    assert_eq!(db.tenants().len(), 2);

    // The role the tenant pool's transactions run as.
    let tx = db.app().begin(db.tenant(0).id).await.unwrap();
    let (user, superuser, bypass, owns_notes): (String, bool, bool, bool) = tx
        .raw(
            "SELECT current_user::text, r.rolsuper, r.rolbypassrls, \
                    pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') \
             FROM pg_catalog.pg_roles r, pg_catalog.pg_class c \
             WHERE r.rolname = current_user AND c.oid = 'public.notes'::regclass",
        )
        .fetch_one()
        .await
        .unwrap();
    drop(tx);
    assert_eq!(user, names.app());
    assert!(!superuser && !bypass && !owns_notes);

    // The owner made the tables, the system role bypasses RLS.
    let mut admin = PgConnection::connect_with(&opts).await.unwrap();
    let (table_owner, system_bypass, member): (String, bool, bool) = sqlx::query_as(
        "SELECT pg_catalog.pg_get_userbyid(c.relowner)::text, s.rolbypassrls, \
                pg_catalog.pg_has_role($1, $2, 'MEMBER') \
         FROM pg_catalog.pg_class c, pg_catalog.pg_roles s \
         WHERE c.oid = 'public.notes'::regclass AND s.rolname = $2",
    )
    .bind(names.app())
    .bind(names.system())
    .fetch_one(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    assert_eq!(table_owner, names.owner());
    assert!(system_bypass);
    assert!(!member, "the application role can become the system role");

    // The roles are this database's: gone after close.
    assert!(role_exists(&server(), names.app()).await);
    db.close().await.unwrap();
    for role in [names.owner(), names.app(), names.system()] {
        assert!(!role_exists(&server(), role).await, "{role} outlives close");
    }
}

#[sqlx::test(migrations = false)]
async fn a_tenant_cannot_see_or_touch_another_tenants_rows(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::setup(&opts).await.unwrap();
    let [a, b] = db.tenant_ids();
    assert_ne!(a, b);
    let app = db.app();

    let tx = app.begin(a).await.unwrap();
    let a_note = Note::scoped(&tx)
        .insert(&note(a, "a's plan"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // A sees its row: the assertions below could fail.
    let tx = app.begin(a).await.unwrap();
    assert_eq!(Note::scoped(&tx).all().await.unwrap(), vec![a_note.clone()]);
    drop(tx);

    let mut tx = app.begin(b).await.unwrap();
    assert!(Note::scoped(&tx).all().await.unwrap().is_empty());
    assert_eq!(Note::scoped(&tx).find(&a_note.id).await.unwrap(), None);
    // Raw SQL in B's transaction: the policy filters it.
    let (seen,): (i64,) = tx
        .raw("SELECT count(*) FROM notes")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let changed = sqlx::query("UPDATE notes SET title = 'stolen'")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    tx.commit().await.unwrap();

    // B cannot write a row into A, nor reference A's note.
    let tx = app.begin(b).await.unwrap();
    let got = Note::scoped(&tx).insert(&note(a, "planted")).await;
    assert!(
        matches!(got, Err(Error::CrossTenantWrite { .. })),
        "{got:?}"
    );
    drop(tx);
    let tx = app.begin(b).await.unwrap();
    let tag = NoteTag {
        id: 0,
        tenant_id: b,
        note_id: a_note.id,
        tag: "x".to_owned(),
    };
    assert!(NoteTag::scoped(&tx).insert(&tag).await.is_err());
    drop(tx);

    // The system role sees A's row, untouched.
    let tx = db.system().begin().await.unwrap();
    let all = Note::system(&tx).all().await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(all, vec![a_note]);

    // A third tenant, made by the helper, starts empty too.
    let c = db.create_tenant("Tenant C").await.unwrap();
    assert_eq!(c.slug, "tenant-c");
    let tx = app.begin(c.id).await.unwrap();
    assert_eq!(Note::scoped(&tx).count().await.unwrap(), 0);
    drop(tx);
    db.close().await.unwrap();
}

#[tokio::test]
async fn named_tenants_and_the_schema_of_the_tests_own() {
    let sql = ddl::emit(registry::tables().unwrap());
    let db = TestDb::builder()
        .sql(sql)
        .tenants(["Acme", "Globex", "Initech"])
        .create()
        .await
        .unwrap();
    let slugs: Vec<&str> = db.tenants().iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, ["acme", "globex", "initech"]);
    let [_, globex, initech] = db.tenant_ids();
    let tx = db.app().begin(globex).await.unwrap();
    Note::scoped(&tx).insert(&note(globex, "g")).await.unwrap();
    tx.commit().await.unwrap();
    let tx = db.app().begin(initech).await.unwrap();
    assert_eq!(Note::scoped(&tx).count().await.unwrap(), 0);
    drop(tx);
    db.close().await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_database_the_superuser_filled_is_refused(_: PgPoolOptions, opts: PgConnectOptions) {
    let mut admin = PgConnection::connect_with(&opts).await.unwrap();
    sqlx::raw_sql("CREATE TABLE notes (id bigint)")
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let got = TestDb::setup(&opts).await;
    assert!(
        matches!(&got, Err(SetupError::NotEmpty { found }) if found == "public.notes"),
        "{got:?}"
    );
}

/// What an extension brought along (one in the template database, say)
/// is no table of the superuser's.
#[sqlx::test(migrations = false)]
async fn an_extensions_relations_do_not_count(_: PgPoolOptions, opts: PgConnectOptions) {
    let mut admin = PgConnection::connect_with(&opts).await.unwrap();
    sqlx::raw_sql("CREATE EXTENSION pg_buffercache")
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let db = TestDb::setup(&opts).await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn roles_are_new_for_each_set_up_and_stale_ones_are_dropped() {
    let db = TestDb::create().await.unwrap();
    let opts = db.roles().admin_options();
    let first = TestRoles::create(&opts).await.unwrap();
    let second = TestRoles::create(&opts).await.unwrap();
    assert_ne!(first.names(), second.names());
    assert_ne!(first.names().app(), second.names().app());

    // A role marked as a test role of a database that does not exist is
    // stale; the roles of this database are not.
    let mut admin = PgConnection::connect_with(&opts).await.unwrap();
    let stale = format!("{}_stale", first.names().app());
    sqlx::raw_sql(&format!(
        "CREATE ROLE \"{stale}\"; \
         COMMENT ON ROLE \"{stale}\" IS 'tenant-testing: a role of the test database with oid 4294967295'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    assert!(TestRoles::drop_stale(&opts).await.unwrap() >= 1);
    assert!(!role_exists(&opts, &stale).await);
    assert!(role_exists(&opts, first.names().app()).await);

    // Each logs in with its own password.
    let mut app = PgConnection::connect_with(&first.app_options())
        .await
        .unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut app)
        .await
        .unwrap();
    app.close().await.unwrap();
    assert_eq!(user, first.names().app());

    for roles in [first, second] {
        let app = roles.names().app().to_owned();
        roles.remove().await.unwrap();
        assert!(!role_exists(&opts, &app).await);
    }
    db.close().await.unwrap();
}

async fn database_exists(admin: &PgConnectOptions, name: &str) -> bool {
    let mut conn = PgConnection::connect_with(admin).await.unwrap();
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    found
}

#[tokio::test]
async fn a_database_of_its_own_is_created_isolates_and_is_dropped() {
    let db = TestDb::create().await.unwrap();
    let admin = db.roles().admin_options();
    let name = admin.get_database().unwrap().to_owned();
    assert!(name.starts_with("tt_"), "{name}");
    let app_role = db.roles().names().app().to_owned();

    let [a, b] = db.tenant_ids();
    let tx = db.app().begin(a).await.unwrap();
    Note::scoped(&tx).insert(&note(a, "mine")).await.unwrap();
    tx.commit().await.unwrap();
    let tx = db.app().begin(b).await.unwrap();
    let (seen,): (i64,) = tx
        .raw("SELECT count(*) FROM notes")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let tx_user: (String,) = tx
        .raw("SELECT current_user::text")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(tx_user.0, app_role);
    drop(tx);

    let server = server();
    assert!(database_exists(&server, &name).await);
    db.close().await.unwrap();
    assert!(
        !database_exists(&server, &name).await,
        "{name} outlives close"
    );
    assert!(!role_exists(&server, &app_role).await);
}

#[tokio::test]
async fn a_failed_tests_database_is_dropped_an_hour_later() {
    let server = server();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (old, recent) = (format!("tt_old_{suffix}"), format!("tt_recent_{suffix}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    for (name, created) in [(&old, now - 3601), (&recent, now - 60)] {
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "COMMENT ON DATABASE \"{name}\" IS 'tenant-testing: a test database created at {created}'"
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    let db = TestDb::create().await.unwrap();
    assert!(!database_exists(&server, &old).await, "{old} is stale");
    assert!(
        database_exists(&server, &recent).await,
        "{recent} may be in use"
    );
    db.close().await.unwrap();
    sqlx::raw_sql(&format!("DROP DATABASE \"{recent}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
}

/// B's transaction sees none of A's notes, A's sees its one.
async fn isolates(db: &TestDb) {
    let [a, b] = db.tenant_ids();
    let tx = db.app().begin(a).await.unwrap();
    Note::scoped(&tx).insert(&note(a, "a's")).await.unwrap();
    tx.commit().await.unwrap();
    for (tenant, expected) in [(a, 1), (b, 0)] {
        let tx = db.app().begin(tenant).await.unwrap();
        let (n,): (i64,) = tx
            .raw("SELECT count(*) FROM notes")
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(n, expected, "{:?}", db.app().mechanism());
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn each_context_the_server_may_offer_isolates() {
    let with_extension: bool = {
        let mut admin = PgConnection::connect_with(&server()).await.unwrap();
        let found = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'tenant_context')",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
        found
    };
    let strongest = if with_extension {
        ContextMechanism::Extension
    } else {
        ContextMechanism::Session
    };
    for (context, pooler, expected) in [
        (Context::Strongest, false, strongest),
        (Context::PlainSql, false, ContextMechanism::Session),
        (Context::PlainSql, true, ContextMechanism::Bound),
    ] {
        let db = TestDb::builder()
            .context(context)
            .app_pool(
                PoolOptions::new()
                    .max_connections(2)
                    .transaction_pooler(pooler),
            )
            .create()
            .await
            .unwrap();
        assert_eq!(
            db.app().mechanism(),
            Some(expected),
            "{context:?}, pooler {pooler}"
        );
        isolates(&db).await;
        db.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_urls_log_in_as_the_roles() {
    let db = TestDb::create().await.unwrap();
    for (url, role) in [
        (db.app_url(), db.roles().names().app()),
        (db.system_url(), db.roles().names().system()),
        (db.roles().owner_url(), db.roles().names().owner()),
    ] {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let user: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        assert_eq!(user, role);
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn dropping_cleans_up_as_close_does() {
    let db = TestDb::create().await.unwrap();
    let name = db
        .roles()
        .admin_options()
        .get_database()
        .unwrap()
        .to_owned();
    let names = db.roles().names().clone();
    let app = db.app().clone();
    drop(db);
    assert!(
        !database_exists(&server(), &name).await,
        "{name} outlives drop"
    );
    for role in [names.owner(), names.app(), names.system()] {
        assert!(!role_exists(&server(), role).await, "{role} outlives drop");
    }
    // The clone of the pool is closed with it.
    assert!(app.begin(uuid::Uuid::new_v4().into()).await.is_err());
}

#[tokio::test]
async fn a_role_that_is_not_a_superuser_cannot_set_up() {
    let db = TestDb::create().await.unwrap();
    // The migration owner may create in its database, not roles.
    let got = TestRoles::create(&db.owner_options()).await;
    assert!(
        matches!(&got, Err(SetupError::NotSuperuser { user }) if user == db.roles().names().owner()),
        "{got:?}"
    );
    // Nor does Debug show the roles' passwords.
    let shown = format!("{:?}", db.roles());
    assert!(shown.contains(db.roles().names().app()), "{shown}");
    let url = db.app_url();
    let password = url.split('@').next().unwrap().rsplit(':').next().unwrap();
    assert_eq!(password.len(), 32, "{url}");
    assert!(!shown.contains(password), "{shown}");
    db.close().await.unwrap();
}
