//! `roles`: the least-privilege roles and grants for the linked models,
//! printed as SQL or applied.
//!
//! Three roles, each with one job:
//! - the migration owner owns the tables and runs the migrations;
//!   row-level security is forced on it too, so it is no way around the
//!   policies;
//! - the application role is what `TenantPool` logs in as: no superuser,
//!   no `BYPASSRLS`, owns nothing, member of no other role; it may read
//!   and write the model tables and read the tenants table;
//! - the system role is what `SystemPool` logs in as: `BYPASSRLS`, for
//!   cross-tenant work and the tenants table; the application role can
//!   never switch to it.
//!
//! `check` verifies the result (`role.*`, `tenants.write-system-only`,
//! `grant.model-privileges`). The SQL itself is
//! `tenant_runtime::ddl::Roles::sql`, a supported API (tenant-testing
//! gives every test database the same roles with it).

use sqlx::Connection as _;
use tenant_runtime::ddl::Roles;
use tenant_runtime::registry;

use crate::Outcome;
use crate::db::{self, AdminArgs, ConnectArgs, QueryContext as _};

/// Options of `roles`.
#[derive(Debug, clap::Args)]
pub struct RolesArgs {
    /// The application role. Default: the user of --database-url, else
    /// `tenant_app`.
    #[arg(long, value_name = "NAME")]
    pub app_role: Option<String>,
    /// The system role. Default: the user of --system-url, else
    /// `tenant_system`.
    #[arg(long, value_name = "NAME")]
    pub system_role: Option<String>,
    /// The migration owner. A role that exists already (the owner of a
    /// database built before, say) is used as it is: `roles` alters only
    /// the roles it created.
    #[arg(long, value_name = "NAME", default_value = "tenant_owner")]
    pub owner_role: String,
    /// The role of a service that enters tenants with set_config alone
    /// (@usebetterdev/tenant; `tenant compat --allow-role`): grants it
    /// the model tables, their sequences and default privileges, and the
    /// tenants table (which it writes only with app.bypass_rls).
    #[arg(long, value_name = "NAME")]
    pub compat_role: Option<String>,
    /// Role names can also come from these URLs' users.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Apply the SQL, in one transaction, instead of printing it (needs
    /// --admin-url: creating a BYPASSRLS role needs a superuser).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: who applies it.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The application and system roles' names: the flag, else the user of
/// `--database-url` / `--system-url` (or their environment variables),
/// else `tenant_app` / `tenant_system`.
pub(crate) fn app_and_system(
    app_role: &Option<String>,
    system_role: &Option<String>,
    connect: &ConnectArgs,
) -> anyhow::Result<(String, String)> {
    let user = |url: Option<db::Url>| -> anyhow::Result<Option<String>> {
        url.map(|u| u.options().map(|o| o.get_username().to_owned()))
            .transpose()
    };
    let app = match app_role {
        Some(name) => name.clone(),
        None => user(connect.app())?.unwrap_or_else(|| "tenant_app".to_owned()),
    };
    let system = match system_role {
        Some(name) => name.clone(),
        None => user(connect.system())?.unwrap_or_else(|| "tenant_system".to_owned()),
    };
    Ok((app, system))
}

impl RolesArgs {
    fn roles(&self) -> anyhow::Result<Roles> {
        let (app, system) = app_and_system(&self.app_role, &self.system_role, &self.connect)?;
        let roles = Roles::new(self.owner_role.clone(), app, system)?;
        Ok(match &self.compat_role {
            Some(compat) => roles.with_compat(compat.clone())?,
            None => roles,
        })
    }
}

pub(crate) fn run(args: &RolesArgs) -> anyhow::Result<Outcome> {
    let roles = args.roles()?;
    let tables = registry::tables()?;
    if tables.is_empty() {
        eprintln!(
            "warning: no #[derive(TenantScoped)] model is linked into this binary; \
             only the tenants table gets grants (see the linking rule in the registry docs)"
        );
    }
    let text = roles.sql(tables);
    if !args.apply {
        out!("{text}");
        return Ok(Outcome::Ok);
    }
    let url = args
        .admin
        .require("--apply needs a role that may create roles (a superuser)")?;
    db::block_on(async {
        let mut conn = url.connect().await?;
        warn_superuser_owner(&mut conn, roles.owner()).await?;
        let mut tx = conn.begin().await.doing("beginning the transaction")?;
        sqlx::raw_sql(&text)
            .execute(&mut *tx)
            .await
            .doing("creating the roles and grants")?;
        tx.commit().await.doing("committing the roles and grants")?;
        outln!(
            "roles {}, {} and {}{} are set up for {} model tables",
            roles.owner(),
            roles.app(),
            roles.system(),
            roles
                .compat()
                .map(|c| format!(" (and compatibility role {c})"))
                .unwrap_or_default(),
            tables.len()
        );
        Ok(Outcome::Ok)
    })
}

/// Says so when the owner is an existing superuser (or has BYPASSRLS),
/// which `roles` leaves as it is: the SQL's own warning is a notice the
/// command line does not show.
pub(crate) async fn warn_superuser_owner(
    conn: &mut sqlx::PgConnection,
    owner: &str,
) -> anyhow::Result<()> {
    let privileged: Option<bool> = sqlx::query_scalar(
        "SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = $1",
    )
    .bind(owner)
    .fetch_optional(&mut *conn)
    .await
    .doing("reading the owner's attributes")?;
    let recorded: bool =
        sqlx::query_scalar("SELECT pg_catalog.to_regclass('tenancy.roles') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .doing("looking for tenancy.roles")?;
    let created_here = recorded
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT FROM tenancy.roles WHERE role_name = $1 AND created_here)",
        )
        .bind(owner)
        .fetch_one(&mut *conn)
        .await
        .doing("reading tenancy.roles")?;
    if privileged == Some(true) && !created_here {
        eprintln!(
            "warning: the owner role {owner} is a superuser or has BYPASSRLS and was not created by tenant roles: \
             it is left as it is (never demoted), and row-level security does not hold for it. Prefer a migration \
             owner of its own: --owner-role with a new name, then ALTER TABLE .. OWNER TO it"
        );
    }
    Ok(())
}
