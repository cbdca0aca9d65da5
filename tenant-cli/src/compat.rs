//! `compat`: the opt-in compatibility mode for a service that sets the
//! tenant the way @usebetterdev/tenant does, with
//! `set_config('app.current_tenant', ..)` alone. Sessions of a role listed
//! in `tenancy.compat_roles` are trusted with that setting, so any SQL
//! they run can switch tenant: give that service a role of its own, never
//! the application role of a `TenantPool` (`check` fails on that).

use anyhow::bail;

use crate::Outcome;
use crate::db::{self, AdminArgs, ConnectArgs, QueryContext as _};

/// Options of `compat`.
#[derive(Debug, clap::Args)]
pub struct CompatArgs {
    /// Trust this role's `app.current_tenant` setting.
    #[arg(long, value_name = "ROLE", conflicts_with = "disallow_role")]
    pub allow_role: Option<String>,
    /// Stop trusting it.
    #[arg(long, value_name = "ROLE")]
    pub disallow_role: Option<String>,
    /// The application role (--database-url) is refused as a compat role.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Who may write `tenancy.compat_roles`: the migration owner.
    #[command(flatten)]
    pub admin: AdminArgs,
}

pub(crate) fn run(args: &CompatArgs) -> anyhow::Result<Outcome> {
    let url = args
        .admin
        .require("only the tenancy schema's owner can change the compatibility roles")?;
    if let (Some(role), Some(app)) = (&args.allow_role, args.connect.app()) {
        let app = app.options()?;
        if app.get_username() == role {
            bail!(
                "--allow-role {role}: that is the application role of --database-url; trusting its setting \
                 would let injected SQL switch tenant. Create a separate role for the set_config service"
            );
        }
    }
    db::block_on(async {
        let mut conn = url.connect().await?;
        match (&args.allow_role, &args.disallow_role) {
            (Some(role), _) => {
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)",
                )
                .bind(role)
                .fetch_one(&mut conn)
                .await
                .doing("looking the role up")?;
                if !exists {
                    bail!(
                        "--allow-role {role}: there is no such role; create it first (tenant roles --compat-role {role} does, with its grants)"
                    );
                }
                refuse_recorded_job(&mut conn, role).await?;
                sqlx::query("INSERT INTO tenancy.compat_roles (role_name) VALUES ($1) ON CONFLICT DO NOTHING")
                    .bind(role)
                    .execute(&mut conn)
                    .await
                    .doing(MISSING)?;
                eprintln!(
                    "warning: any SQL run as {role} can now enter any tenant with set_config; keep that role to the set_config service"
                );
                outln!("compatibility mode on for role {role}");
            }
            (None, Some(role)) => {
                sqlx::query("DELETE FROM tenancy.compat_roles WHERE role_name = $1")
                    .bind(role)
                    .execute(&mut conn)
                    .await
                    .doing(MISSING)?;
                outln!("compatibility mode off for role {role}");
            }
            (None, None) => {
                let roles: Vec<String> = sqlx::query_scalar(
                    "SELECT role_name::text FROM tenancy.compat_roles ORDER BY 1",
                )
                .fetch_all(&mut conn)
                .await
                .doing(MISSING)?;
                if roles.is_empty() {
                    outln!("compatibility mode is off: no role may enter a tenant with set_config");
                }
                for role in roles {
                    outln!("{role}");
                }
            }
        }
        Ok(Outcome::Ok)
    })
}

/// Refuses a role that `tenant roles` recorded in `tenancy.roles` as the
/// application, system or owner role of this database: what the database
/// says, whatever URL the command was given.
pub(crate) async fn refuse_recorded_job(
    conn: &mut sqlx::PgConnection,
    role: &str,
) -> anyhow::Result<()> {
    let job: Option<String> = sqlx::query_scalar(
        "SELECT r.job FROM tenancy.roles r WHERE pg_catalog.to_regclass('tenancy.roles') IS NOT NULL \
         AND r.role_name = $1 AND r.job <> 'compat'",
    )
    .bind(role)
    .fetch_optional(&mut *conn)
    .await
    .or_else(|e| match &e {
        // Before `tenant roles` ran there is no record (undefined_table).
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(None),
        _ => Err(e),
    })
    .doing("reading tenancy.roles")?;
    let Some(job) = job else { return Ok(()) };
    let what = match job.as_str() {
        "app" => {
            "the application role (a TenantPool logs in as it): trusting its setting would let injected SQL switch tenant"
        }
        "system" => "the system role (BYPASSRLS)",
        _ => "the migration owner",
    };
    bail!(
        "--allow-role {role}: tenancy.roles records it as {what}. Give the set_config service a role of its own \
         (tenant roles --compat-role NAME --apply creates one with its grants)"
    )
}

const MISSING: &str = "using tenancy.compat_roles (apply the emit-rls migration first, as the tenancy schema's owner)";
