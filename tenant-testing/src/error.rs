//! [`SetupError`]: why a test database could not be set up.

use tenant_runtime::ddl::RolesError;
use tenant_runtime::registry::RegistryError;

/// Why a test database or its roles could not be set up. Each says what
/// to change; a test usually `unwrap`s or `?`s it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A statement failed.
    #[error("{doing}: {source}")]
    Database {
        /// What was being done.
        doing: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// `DATABASE_URL` is not set, or not a PostgreSQL URL.
    #[error(
        "DATABASE_URL {problem}: set it to a superuser's URL on the test server, \
         e.g. postgres://postgres@127.0.0.1:5432/postgres"
    )]
    DatabaseUrl {
        /// What is wrong with it.
        problem: String,
    },
    /// The role the test connects with cannot create the roles: a role
    /// with `BYPASSRLS` can only be made by a superuser.
    #[error(
        "{user} is not a superuser, and only a superuser can create the test roles (the system role has BYPASSRLS): \
         point DATABASE_URL at one, as #[sqlx::test] needs anyway"
    )]
    NotSuperuser {
        /// The role.
        user: String,
    },
    /// The database already has tables, made by a role other than the
    /// test's migration owner.
    #[error(
        "the test database is not empty (it has {found}): use #[sqlx::test(migrations = false)], \
         since sqlx would apply migrations/ as the superuser, and pass your migrations to \
         TestDb::builder().migrations(&MIGRATOR) so the migration owner applies them"
    )]
    NotEmpty {
        /// The first relation found, `schema.name`.
        found: String,
    },
    /// The linked models do not form a valid set.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// No `#[derive(TenantScoped)]` model is linked into the test binary.
    #[error(
        "no #[derive(TenantScoped)] model is linked into this test binary, so there is no DDL to apply: \
         name something from the crate with the models in the test (a `use` that is used, or a \
         `models::link()` call), pass .migrations(&MIGRATOR), or allow it with .allow_no_models()"
    )]
    NoModels,
    /// A migration failed.
    #[error("applying the migrations as the migration owner: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The three role names are not a deployment's roles.
    #[error(transparent)]
    Roles(#[from] RolesError),
    /// A pool refused to connect.
    #[error("connecting the {which}: {source}")]
    Pool {
        /// Which pool.
        which: &'static str,
        /// Its error.
        #[source]
        source: tenant_runtime::Error,
    },
    /// Creating a tenant failed.
    #[error("creating tenant {name:?}: {source}")]
    Tenant {
        /// The tenant's name.
        name: String,
        /// The error.
        #[source]
        source: tenant_runtime::Error,
    },
    /// The application role is not what production runs as: a test on it
    /// would prove nothing.
    #[error("the application role {role} {reason}: isolation tests on it would prove nothing")]
    AppRole {
        /// The role.
        role: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// `?` for sqlx errors, saying what was being done.
pub(crate) trait Doing<T> {
    fn doing(self, what: &'static str) -> Result<T, SetupError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T, SetupError> {
        self.map_err(|source| SetupError::Database { doing, source })
    }
}
