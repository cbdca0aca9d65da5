//! [`TestRoles`]: the three roles of a deployment, under names of one
//! test database's own.

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tenant_runtime::ddl::Roles;
use tenant_runtime::registry;
use tenant_runtime::tx::ContextKey;

use crate::error::{Doing as _, SetupError};

/// What the comment on every role this crate creates starts with; the
/// database's oid follows. [`TestRoles::drop_stale`] drops the roles whose
/// database is gone.
const MARKER: &str = "tenant-testing: a role of the test database with oid ";

/// The migration owner, the application role and the system role of one
/// test database, created with [`Roles::sql`] (what `tenant roles
/// --apply` runs), under names no other test uses.
///
/// Roles are cluster-wide while test databases are not, and tests run in
/// parallel, in several processes, on a server others may share: each
/// database gets three new roles (`tt_<random>_owner`, `_app`,
/// `_system`), each with a random password, so nothing collides and no
/// test waits for another.
///
/// # Clean-up
///
/// [`TestDb::close`](crate::TestDb::close), or dropping the `TestDb`
/// (or [`TestRoles::remove`] here), drops the roles with everything they
/// own at the end of a test that passed. A test that failed keeps them with its database, for a look;
/// once that database is gone (sqlx drops it when the test next runs),
/// the next set-up anywhere on the server drops its roles
/// ([`TestRoles::drop_stale`]): each role is marked with its database's
/// oid.
#[derive(Clone)]
pub struct TestRoles {
    names: Roles,
    admin: PgConnectOptions,
    passwords: [String; 3],
}

impl std::fmt::Debug for TestRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRoles")
            .field("names", &self.names)
            .field("database", &self.admin.get_database())
            .finish_non_exhaustive()
    }
}

impl TestRoles {
    /// Creates the three roles for the database `admin` connects to, and
    /// grants them what [`Roles::sql`] grants for the linked models.
    /// `admin` must be a superuser (the system role has `BYPASSRLS`):
    /// `#[sqlx::test]`'s options are. Drops stale roles of earlier tests
    /// first ([`TestRoles::drop_stale`]).
    pub async fn create(admin: &PgConnectOptions) -> Result<TestRoles, SetupError> {
        let mut conn = PgConnection::connect_with(admin)
            .await
            .doing("connecting as the admin (DATABASE_URL's role)")?;
        let superuser: bool = sqlx::query_scalar(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await
        .doing("reading the admin's attributes")?;
        if !superuser {
            return Err(SetupError::NotSuperuser {
                user: admin.get_username().to_owned(),
            });
        }
        drop_stale_on(&mut conn).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("tt_{}", &id[..16]);
        let names = Roles::new(
            format!("{prefix}_owner"),
            format!("{prefix}_app"),
            format!("{prefix}_system"),
        )?;
        let passwords = [(); 3].map(|()| uuid::Uuid::new_v4().simple().to_string());
        let roles = TestRoles {
            names,
            admin: admin.clone(),
            passwords,
        };
        let mut tx = conn
            .begin()
            .await
            .doing("beginning the roles' transaction")?;
        sqlx::raw_sql(&roles.names.sql(registry::tables()?))
            .execute(&mut *tx)
            .await
            .doing("creating the roles (tenant_runtime::ddl::Roles::sql)")?;
        let oid: sqlx::postgres::types::Oid = sqlx::query_scalar(
            "SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()",
        )
        .fetch_one(&mut *tx)
        .await
        .doing("reading the database's oid")?;
        for (name, password) in roles.all().into_iter().zip(&roles.passwords) {
            // Role names and passwords are made here of [a-z0-9_] only;
            // DDL takes no bind parameters.
            let sql = format!(
                "ALTER ROLE \"{name}\" PASSWORD '{password}'; COMMENT ON ROLE \"{name}\" IS '{MARKER}{}'",
                oid.0
            );
            sqlx::raw_sql(&sql)
                .execute(&mut *tx)
                .await
                .doing("marking the roles as this database's")?;
        }
        tx.commit().await.doing("committing the roles")?;
        let _ = conn.close().await;
        Ok(roles)
    }

    /// The three names.
    pub fn names(&self) -> &Roles {
        &self.names
    }

    fn all(&self) -> [&str; 3] {
        [self.names.owner(), self.names.app(), self.names.system()]
    }

    /// The admin's connect options (the superuser, on this database).
    pub fn admin_options(&self) -> PgConnectOptions {
        self.admin.clone()
    }

    /// Connect options for the migration owner, on this database.
    pub fn owner_options(&self) -> PgConnectOptions {
        self.options(0)
    }

    /// Connect options for the application role (what a `TenantPool`
    /// logs in as), on this database.
    pub fn app_options(&self) -> PgConnectOptions {
        self.options(1)
    }

    /// Connect options for the system role (what a `SystemPool` logs in
    /// as), on this database.
    pub fn system_options(&self) -> PgConnectOptions {
        self.options(2)
    }

    /// The migration owner's URL, password included: for a command line
    /// (`tenant context-key new --admin-url`) or a child process.
    pub fn owner_url(&self) -> String {
        self.url(0)
    }

    /// The application role's URL, password included (`tenant check
    /// --database-url`).
    pub fn app_url(&self) -> String {
        self.url(1)
    }

    /// The system role's URL, password included (`--system-url`).
    pub fn system_url(&self) -> String {
        self.url(2)
    }

    /// Names and passwords are made of `[a-z0-9_]`, and the database's
    /// name, if not, is percent-encoded.
    fn url(&self, n: usize) -> String {
        let database = encode(self.admin.get_database().unwrap_or("postgres"));
        let (user, password) = (self.all()[n], &self.passwords[n]);
        let port = self.admin.get_port();
        match self.admin.get_socket() {
            Some(dir) => format!(
                "postgres://{user}:{password}@/{database}?host={}&port={port}",
                encode(&dir.to_string_lossy())
            ),
            None => {
                let host = self.admin.get_host();
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                format!("postgres://{user}:{password}@{host}:{port}/{database}")
            }
        }
    }

    fn options(&self, n: usize) -> PgConnectOptions {
        self.admin
            .clone()
            .username(self.all()[n])
            .password(&self.passwords[n])
    }

    /// Runs [`Roles::sql`] again, as the admin: after a migration added
    /// tables, which need their grants (as `tenant roles --apply` is run
    /// again after each deploy's migration).
    pub async fn grant(&self) -> Result<(), SetupError> {
        let mut conn = PgConnection::connect_with(&self.admin)
            .await
            .doing("connecting as the admin")?;
        let mut tx = conn.begin().await.doing("beginning the grants")?;
        sqlx::raw_sql(&self.names.sql(registry::tables()?))
            .execute(&mut *tx)
            .await
            .doing("granting (tenant_runtime::ddl::Roles::sql)")?;
        tx.commit().await.doing("committing the grants")?;
        let _ = conn.close().await;
        Ok(())
    }

    /// Makes a context key and installs it as the migration owner under
    /// the next free id, as `tenant context-key new` does (the migration
    /// must have run: it creates `tenancy.context_keys`). The key's bytes
    /// go in as a bind parameter.
    pub async fn install_context_key(&self) -> Result<ContextKey, SetupError> {
        let mut conn = PgConnection::connect_with(&self.owner_options())
            .await
            .doing("connecting as the migration owner")?;
        let id: i32 =
            sqlx::query_scalar("SELECT coalesce(max(key_id), 0) + 1 FROM tenancy.context_keys")
                .fetch_one(&mut conn)
                .await
                .doing("reading tenancy.context_keys (apply the migration first)")?;
        let key = ContextKey::generate(id);
        sqlx::query("INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2)")
            .bind(key.id())
            .bind(key.expose_bytes())
            .execute(&mut conn)
            .await
            .doing("installing the context key")?;
        let _ = conn.close().await;
        Ok(key)
    }

    /// Drops the roles and everything they own in this database, as the
    /// admin. Close the pools that log in as them first: sessions of
    /// theirs still open after a few seconds are terminated.
    pub async fn remove(self) -> Result<(), SetupError> {
        self.remove_after(40).await
    }

    /// [`remove`](Self::remove), terminating the roles' sessions still
    /// open after `patience` rounds of 50 ms.
    pub(crate) async fn remove_after(self, patience: u32) -> Result<(), SetupError> {
        let mut conn = PgConnection::connect_with(&self.admin)
            .await
            .doing("connecting as the admin")?;
        let [owner, app, system] = self.all();
        let names = [owner.to_owned(), app.to_owned(), system.to_owned()];
        // A closed connection's backend drops its temporary objects (the
        // tenancy session's, owned by the owner) as it exits, which would
        // race the DROP OWNED below: wait for the roles' backends to end.
        for round in 0..100 {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = ANY($1)",
            )
            .bind(&names[..])
            .fetch_one(&mut conn)
            .await
            .doing("waiting for the test roles' sessions to end")?;
            if left == 0 {
                break;
            }
            let wait = if round >= patience {
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = ANY($1)"
            } else {
                "SELECT pg_catalog.pg_sleep(0.05) WHERE $1::name[] IS NOT NULL"
            };
            sqlx::query(wait)
                .bind(&names[..])
                .execute(&mut conn)
                .await
                .doing("waiting for the test roles' sessions to end")?;
        }
        // One role at a time: `DROP OWNED BY` several roles at once trips
        // over the owner's default privileges that name the others.
        let sql = format!(
            "DROP OWNED BY \"{app}\" CASCADE; DROP OWNED BY \"{system}\" CASCADE; \
             DROP OWNED BY \"{owner}\" CASCADE; \
             DROP ROLE \"{app}\", \"{system}\", \"{owner}\""
        );
        let mut tx = conn.begin().await.doing("beginning the clean-up")?;
        sqlx::raw_sql(&sql)
            .execute(&mut *tx)
            .await
            .doing("dropping the test roles")?;
        tx.commit().await.doing("committing the clean-up")?;
        let _ = conn.close().await;
        Ok(())
    }

    /// Drops the roles this crate created for test databases that no
    /// longer exist, on the server `admin` (a superuser) connects to, and
    /// returns how many. Every [`TestRoles::create`] does it first; a CI
    /// job may call it once at the end. Roles of databases that still
    /// exist, and roles this crate did not create, are left alone.
    pub async fn drop_stale(admin: &PgConnectOptions) -> Result<u64, SetupError> {
        let mut conn = PgConnection::connect_with(admin)
            .await
            .doing("connecting as the admin")?;
        let dropped = drop_stale_on(&mut conn).await?;
        let _ = conn.close().await;
        Ok(dropped)
    }
}

async fn drop_stale_on(conn: &mut PgConnection) -> Result<u64, SetupError> {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT r.rolname::text FROM pg_catalog.pg_roles r \
         CROSS JOIN LATERAL (SELECT pg_catalog.shobj_description(r.oid, 'pg_authid') AS d) c \
         WHERE starts_with(c.d, $1) \
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_database db \
                           WHERE db.oid::text = substr(c.d, length($1) + 1))",
    )
    .bind(MARKER)
    .fetch_all(&mut *conn)
    .await
    .doing("looking for stale test roles")?;
    let mut dropped = 0;
    for role in stale {
        // Another process may be dropping the same role: its error is
        // no reason to fail this test.
        let sql = format!("DROP ROLE IF EXISTS \"{}\"", role.replace('"', "\"\""));
        if sqlx::raw_sql(&sql).execute(&mut *conn).await.is_ok() {
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Percent-encodes all but unreserved URL characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
