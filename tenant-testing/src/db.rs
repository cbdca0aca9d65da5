//! [`TestDb`]: a test's database, set up the way a deployment is.

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{
    PoolOptions, SystemMode, SystemPool, Tenant, TenantId, TenantMode, TenantPool, ddl, registry,
};

use crate::error::{Doing as _, SetupError};
use crate::roles::TestRoles;

/// What the migration owner applies to the empty database.
#[derive(Debug, Clone)]
enum Schema {
    /// `emit-rls`'s DDL for the models linked into the test binary.
    Models,
    /// The app's own migrations (`sqlx::migrate!()`).
    Migrations(&'static Migrator),
    /// SQL of the test's own.
    Sql(String),
}

/// The tenant context the test database offers its tenant pool: which
/// mechanism (`TenantPool::mechanism`) production will run under is a
/// property of its server, so a test can pick the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Context {
    /// What the migration makes of the server: the `tenant_context`
    /// extension when the server has it installed, plain SQL otherwise.
    #[default]
    Strongest,
    /// Plain SQL only, as on a managed service that loads no custom
    /// extension: after the schema, the owner switches the context to
    /// plain SQL (`tenancy.install_context(false)`) and drops the
    /// extension from the test database. The pool then enters tenants
    /// with the SQL session, or with bound tokens when its options say
    /// it goes through a transaction pooler.
    PlainSql,
}

/// A test's database, set up as the README's deployment steps set one up:
/// the three roles ([`TestRoles`]: migration owner, application role,
/// system role, under names of this database's own), the schema applied
/// by the owner (the DDL `emit-rls` writes for the app's linked models, or
/// the app's migrations), the grants again, a context key; then a
/// [`TenantPool`] logged in as the application role (no superuser, no
/// `BYPASSRLS`, owns nothing: row-level security applies to it as in
/// production), a [`SystemPool`] as the system role, and tenants (two by
/// default: "Tenant A" and "Tenant B").
///
/// It sets up the database it is given, the way `#[sqlx::test]` gives
/// one to each test (fresh and empty, created through `DATABASE_URL`,
/// whose role must be a superuser); `migrations = false`, since the
/// migration owner applies your migrations, not the superuser:
///
/// ```no_run
/// use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
/// use tenant_runtime::TenantScoped;
/// use tenant_testing::TestDb;
///
/// #[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
/// #[tenant_table(name = "notes")]
/// pub struct Note {
///     #[tenant(primary_key, generated)]
///     pub id: i64,
///     pub tenant_id: tenant_runtime::TenantId,
///     pub body: String,
/// }
///
/// #[sqlx::test(migrations = false)]
/// async fn a_tenant_sees_only_its_notes(_: PgPoolOptions, opts: PgConnectOptions) {
///     let db = TestDb::setup(&opts).await.unwrap();
///     let [a, b] = db.tenant_ids::<2>();
///     let tx = db.app().begin(a).await.unwrap();
///     let note = Note { id: 0, tenant_id: a, body: "a's".into() };
///     Note::scoped(&tx).insert(&note).await.unwrap();
///     tx.commit().await.unwrap();
///
///     let tx = db.app().begin(b).await.unwrap();
///     assert!(Note::scoped(&tx).all().await.unwrap().is_empty());
///     drop(tx);
///     db.close().await.unwrap();
/// }
/// ```
///
/// In a plain `#[tokio::test]`, [`TestDb::create`] makes a database of
/// its own first, with a random name, so that no other checkout running
/// the same test on the same server collides with it (sqlx names a
/// test's database after the test's path).
///
/// [`close`](TestDb::close) at the end, or dropping the `TestDb`, drops
/// the roles (and the database `create` made); see [`TestRoles`] for what
/// happens to those of a test that failed.
#[derive(Debug)]
pub struct TestDb {
    roles: TestRoles,
    key: ContextKey,
    app: TenantPool,
    system: SystemPool,
    tenants: Vec<Tenant>,
    /// The database, when [`TestDbBuilder::create`] made it.
    own: Option<OwnDatabase>,
    /// Whether [`TestDb::close`] ran (else dropping cleans up).
    closed: bool,
}

/// A database [`TestDbBuilder::create`] made, dropped by
/// [`TestDb::close`].
#[derive(Debug)]
struct OwnDatabase {
    server: PgConnectOptions,
    name: String,
}

/// What the comment on every database this crate creates starts with;
/// the Unix time it was made follows.
const DB_MARKER: &str = "tenant-testing: a test database created at ";

/// How old a database of this crate's must be before a later
/// [`TestDbBuilder::create`] drops it as stale (when nothing is connected
/// to it): a failed test's, kept that long for a look.
const STALE_AFTER_SECS: u64 = 3600;

/// How a [`TestDb`] is set up; [`TestDb::builder`] starts one.
#[derive(Debug)]
#[must_use = "a builder does nothing until .setup(..)"]
pub struct TestDbBuilder {
    schema: Schema,
    allow_no_models: bool,
    context: Context,
    tenants: Vec<String>,
    app_pool: PoolOptions<TenantMode>,
    system_pool: PoolOptions<SystemMode>,
}

impl Default for TestDbBuilder {
    fn default() -> Self {
        Self {
            schema: Schema::Models,
            allow_no_models: false,
            context: Context::Strongest,
            tenants: vec!["Tenant A".to_owned(), "Tenant B".to_owned()],
            app_pool: PoolOptions::new().max_connections(4),
            system_pool: PoolOptions::new().max_connections(2),
        }
    }
}

impl TestDbBuilder {
    /// Applies the app's migrations (`static MIGRATOR: Migrator =
    /// sqlx::migrate!()`) as the migration owner, instead of the DDL of
    /// the linked models: the committed files are what production runs
    /// (`emit-rls --check` keeps them in step with the models).
    pub fn migrations(mut self, migrator: &'static Migrator) -> Self {
        self.schema = Schema::Migrations(migrator);
        self
    }

    /// Applies `sql` as the migration owner, in one transaction, instead
    /// of the DDL of the linked models.
    pub fn sql(mut self, sql: impl Into<String>) -> Self {
        self.schema = Schema::Sql(sql.into());
        self
    }

    /// With the models' DDL (the default), goes on when no model is
    /// linked into the test binary (only the tenants table and the
    /// tenancy schema are made), instead of [`SetupError::NoModels`].
    pub fn allow_no_models(mut self) -> Self {
        self.allow_no_models = true;
        self
    }

    /// The tenant context the database offers (default:
    /// [`Context::Strongest`]).
    pub fn context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// The tenants created, by name (slugs follow from the names), in
    /// this order. Default: "Tenant A" and "Tenant B".
    pub fn tenants<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants = names.into_iter().map(Into::into).collect();
        self
    }

    /// Options of the application role's [`TenantPool`] (default: 4
    /// connections); the context key is set by the set-up.
    pub fn app_pool(mut self, options: PoolOptions<TenantMode>) -> Self {
        self.app_pool = options;
        self
    }

    /// Options of the system role's [`SystemPool`] (default: 2
    /// connections).
    pub fn system_pool(mut self, options: PoolOptions<SystemMode>) -> Self {
        self.system_pool = options;
        self
    }

    /// Sets up the empty database `admin` connects to (a superuser's
    /// options, such as `#[sqlx::test(migrations = false)]` passes).
    pub async fn setup(self, admin: &PgConnectOptions) -> Result<TestDb, SetupError> {
        refuse_non_empty(admin).await?;
        let roles = TestRoles::create(admin).await?;
        self.apply_schema(&roles).await?;
        roles.grant().await?;
        let key = roles.install_context_key().await?;
        check_app_role(&roles).await?;
        let system = self
            .system_pool
            .connect_with(roles.system_options())
            .await
            .map_err(|source| SetupError::Pool {
                which: "system pool",
                source,
            })?;
        let app = self
            .app_pool
            .context_key(key.clone())
            .connect_with(roles.app_options())
            .await
            .map_err(|source| SetupError::Pool {
                which: "tenant pool",
                source,
            })?;
        let mut db = TestDb {
            roles,
            key,
            app,
            system,
            tenants: Vec::with_capacity(self.tenants.len()),
            own: None,
            closed: false,
        };
        for name in &self.tenants {
            let tenant = db.create_tenant(name).await?;
            db.tenants.push(tenant);
        }
        Ok(db)
    }

    /// Creates a database of its own, with a random name, on the server
    /// `DATABASE_URL` names (a superuser's URL), and sets it up as
    /// [`setup`](Self::setup) does; [`TestDb::close`] drops it. For a
    /// plain `#[tokio::test]`: unlike `#[sqlx::test]`, whose database
    /// name follows from the test's path, no other checkout running the
    /// same test on the same server can collide with it.
    ///
    /// A failed test's database stays for a look; a `create` an hour
    /// later, anywhere on the server, drops it if nothing is connected.
    pub async fn create(self) -> Result<TestDb, SetupError> {
        let url = std::env::var("DATABASE_URL").map_err(|_| SetupError::DatabaseUrl {
            problem: "is not set".to_owned(),
        })?;
        let server: PgConnectOptions = url.parse().map_err(|e| SetupError::DatabaseUrl {
            problem: format!("does not parse ({e})"),
        })?;
        self.create_on(&server).await
    }

    /// [`create`](Self::create) on the server `server` connects to (a
    /// superuser's options), rather than `DATABASE_URL`'s.
    pub async fn create_on(self, server: &PgConnectOptions) -> Result<TestDb, SetupError> {
        let mut conn = PgConnection::connect_with(server)
            .await
            .doing("connecting as the admin (DATABASE_URL's role)")?;
        drop_stale_databases(&mut conn).await?;
        let name = format!("tt_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]);
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // CREATE DATABASE runs outside a transaction: one statement per
        // message. The name is made here of [a-z0-9_] only.
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .doing("creating the test database")?;
        sqlx::raw_sql(&format!(
            "COMMENT ON DATABASE \"{name}\" IS '{DB_MARKER}{created}'"
        ))
        .execute(&mut conn)
        .await
        .doing("marking the test database")?;
        let _ = conn.close().await;
        match self.setup(&server.clone().database(&name)).await {
            Ok(mut db) => {
                db.own = Some(OwnDatabase {
                    server: server.clone(),
                    name,
                });
                Ok(db)
            }
            Err(e) => {
                // Its roles go with the next set-up's sweep.
                let _ = drop_database(server, &name).await;
                Err(e)
            }
        }
    }

    async fn apply_schema(&self, roles: &TestRoles) -> Result<(), SetupError> {
        let mut owner = PgConnection::connect_with(&roles.owner_options())
            .await
            .doing("connecting as the migration owner")?;
        match &self.schema {
            Schema::Migrations(migrator) => migrator.run(&mut owner).await?,
            Schema::Models => {
                let tables = registry::tables()?;
                if tables.is_empty() && !self.allow_no_models {
                    return Err(SetupError::NoModels);
                }
                apply(&mut owner, &ddl::emit(tables)).await?;
            }
            Schema::Sql(sql) => apply(&mut owner, sql).await?,
        }
        if self.context == Context::PlainSql {
            apply(
                &mut owner,
                "SELECT tenancy.install_context(false); DROP EXTENSION IF EXISTS tenant_context;",
            )
            .await?;
        }
        let _ = owner.close().await;
        Ok(())
    }
}

/// Drops the databases of earlier [`TestDbBuilder::create`] calls older
/// than [`STALE_AFTER_SECS`] that nothing is connected to.
async fn drop_stale_databases(conn: &mut PgConnection) -> Result<(), SetupError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cutoff = i64::try_from(now.saturating_sub(STALE_AFTER_SECS)).unwrap_or(i64::MAX);
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT d.datname::text FROM pg_catalog.pg_database d \
         CROSS JOIN LATERAL (SELECT pg_catalog.shobj_description(d.oid, 'pg_database') AS c) x \
         WHERE starts_with(x.c, $1) \
           AND substr(x.c, length($1) + 1) ~ '^[0-9]{1,18}$' \
           AND substr(x.c, length($1) + 1)::bigint < $2",
    )
    .bind(DB_MARKER)
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await
    .doing("looking for stale test databases")?;
    for name in stale {
        // Without FORCE: a database someone is connected to stays.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\""));
        let _ = sqlx::raw_sql(&sql).execute(&mut *conn).await;
    }
    Ok(())
}

/// Drops `name`, ending the sessions still connected to it.
async fn drop_database(server: &PgConnectOptions, name: &str) -> Result<(), SetupError> {
    let mut conn = PgConnection::connect_with(server)
        .await
        .doing("connecting as the admin")?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .doing("dropping the test database")?;
    let _ = conn.close().await;
    Ok(())
}

/// `sql` in one transaction, as a migration runs.
async fn apply(conn: &mut PgConnection, sql: &str) -> Result<(), SetupError> {
    let mut tx = conn.begin().await.doing("beginning the schema")?;
    sqlx::raw_sql(sql)
        .execute(&mut *tx)
        .await
        .doing("applying the schema as the migration owner")?;
    tx.commit().await.doing("committing the schema")
}

/// A table the superuser made (sqlx's migrations, say) would be owned by
/// it, and the owner's DDL could not alter it. What an extension of the
/// template database brought along does not count.
async fn refuse_non_empty(admin: &PgConnectOptions) -> Result<(), SetupError> {
    let mut conn = PgConnection::connect_with(admin)
        .await
        .doing("connecting as the admin (DATABASE_URL's role)")?;
    let found: Option<String> = sqlx::query_scalar(
        "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
           AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d \
                           WHERE d.classid = 'pg_catalog.pg_class'::regclass \
                             AND d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 1 LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await
    .doing("looking at the test database")?;
    let _ = conn.close().await;
    match found {
        Some(found) => Err(SetupError::NotEmpty { found }),
        None => Ok(()),
    }
}

/// What production's application role is: no superuser, no `BYPASSRLS`,
/// owner of nothing in the database, member of neither other role (the
/// pool checks the first two again when it connects).
async fn check_app_role(roles: &TestRoles) -> Result<(), SetupError> {
    let mut conn = PgConnection::connect_with(&roles.app_options())
        .await
        .doing("connecting as the application role")?;
    let (superuser, bypass, owns, member): (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls, \
                EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relowner = r.oid), \
                pg_catalog.pg_has_role(r.oid, $1, 'MEMBER') OR pg_catalog.pg_has_role(r.oid, $2, 'MEMBER') \
         FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
    )
    .bind(roles.names().owner())
    .bind(roles.names().system())
    .fetch_one(&mut conn)
    .await
    .doing("reading the application role's attributes")?;
    let _ = conn.close().await;
    let reason = if superuser {
        "is a superuser"
    } else if bypass {
        "has BYPASSRLS"
    } else if owns {
        "owns tables"
    } else if member {
        "is a member of the owner or the system role"
    } else {
        return Ok(());
    };
    Err(SetupError::AppRole {
        role: roles.names().app().to_owned(),
        reason,
    })
}

impl TestDb {
    /// How the database is set up (schema, tenants, pools).
    pub fn builder() -> TestDbBuilder {
        TestDbBuilder::default()
    }

    /// Sets up the empty database `admin` connects to with the defaults:
    /// the linked models' DDL, two tenants. See [`TestDbBuilder::setup`].
    pub async fn setup(admin: &PgConnectOptions) -> Result<TestDb, SetupError> {
        Self::builder().setup(admin).await
    }

    /// Creates a database of its own through `DATABASE_URL` and sets it up
    /// with the defaults. See [`TestDbBuilder::create`].
    pub async fn create() -> Result<TestDb, SetupError> {
        Self::builder().create().await
    }

    /// The application role's pool: what the app under test gets.
    pub fn app(&self) -> &TenantPool {
        &self.app
    }

    /// The system role's pool (`BYPASSRLS`): for arranging and checking
    /// rows across tenants.
    pub fn system(&self) -> &SystemPool {
        &self.system
    }

    /// The tenants the set-up created, in the order named.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The `n`th tenant the set-up created.
    ///
    /// # Panics
    ///
    /// When there are not that many (see [`TestDbBuilder::tenants`]).
    pub fn tenant(&self, n: usize) -> &Tenant {
        self.tenants.get(n).unwrap_or_else(|| {
            panic!(
                "the set-up created {} tenants, so there is no tenant {n}",
                self.tenants.len()
            )
        })
    }

    /// The ids of the first `N` tenants: `let [a, b] = db.tenant_ids();`.
    ///
    /// # Panics
    ///
    /// When the set-up created fewer.
    pub fn tenant_ids<const N: usize>(&self) -> [TenantId; N] {
        std::array::from_fn(|n| self.tenant(n).id)
    }

    /// Creates one more tenant, through the system pool.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, SetupError> {
        let failed = |source| SetupError::Tenant {
            name: name.to_owned(),
            source,
        };
        let tx = self.system.begin().await.map_err(failed)?;
        let tenant = tx.tenants().create(name).await.map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(tenant)
    }

    /// The context key the tenant pool holds (installed in the database),
    /// for a second pool or the command line.
    pub fn context_key(&self) -> &ContextKey {
        &self.key
    }

    /// The roles, and connect options for each.
    pub fn roles(&self) -> &TestRoles {
        &self.roles
    }

    /// Connect options for the application role: for another
    /// `TenantPool` (with [`context_key`](Self::context_key)), a raw
    /// connection an attack test runs SQL on, or `tenant check`.
    pub fn app_options(&self) -> PgConnectOptions {
        self.roles.app_options()
    }

    /// Connect options for the system role.
    pub fn system_options(&self) -> PgConnectOptions {
        self.roles.system_options()
    }

    /// Connect options for the migration owner.
    pub fn owner_options(&self) -> PgConnectOptions {
        self.roles.owner_options()
    }

    /// The application role's URL, password included: for a command line
    /// (`tenant check --database-url`) or a child process.
    pub fn app_url(&self) -> String {
        self.roles.app_url()
    }

    /// The system role's URL, password included.
    pub fn system_url(&self) -> String {
        self.roles.system_url()
    }

    /// Closes both pools and drops the roles with what they own, and the
    /// database too when [`TestDbBuilder::create`] made it; says what
    /// failed. Dropping a `TestDb` does the same (and prints what
    /// failed), except while the thread panics: a test that fails keeps
    /// its roles until its database is gone (see [`TestRoles`]). Clones of
    /// the pools (a server task's, say) are closed too.
    pub async fn close(mut self) -> Result<(), SetupError> {
        self.closed = true;
        self.app.close();
        self.system.close();
        clean_up(self.roles.clone(), self.own.take(), 40).await
    }
}

/// Drops the roles, and the database when `create` made it. `patience`:
/// see [`TestRoles::remove_after`].
async fn clean_up(
    roles: TestRoles,
    own: Option<OwnDatabase>,
    patience: u32,
) -> Result<(), SetupError> {
    roles.remove_after(patience).await?;
    match own {
        Some(own) => drop_database(&own.server, &own.name).await,
        None => Ok(()),
    }
}

impl Drop for TestDb {
    /// What [`close`](TestDb::close) does, for a test that did not call
    /// it: on a thread of its own, which the dropping thread waits for.
    /// Not while a test fails (the thread panics): its roles and database
    /// stay for a look (see [`TestRoles`]).
    fn drop(&mut self) {
        if self.closed || std::thread::panicking() {
            return;
        }
        self.app.close();
        self.system.close();
        let (roles, own) = (self.roles.clone(), self.own.take());
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            // The dropping thread waits, so its runtime cannot close the
            // connections of transactions dropped just before: end their
            // sessions at once.
            runtime
                .block_on(clean_up(roles, own, 0))
                .map_err(|e| e.to_string())
        })
        .join();
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("tenant-testing: cleaning up the test database failed: {e}"),
            Err(_) => eprintln!("tenant-testing: cleaning up the test database panicked"),
        }
    }
}
