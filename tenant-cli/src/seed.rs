//! `seed`: creates a tenant through the system role and prints its id.

use anyhow::Context as _;
use tenant_runtime::{Error, SystemPool, Tenant};

use crate::Outcome;
use crate::db::{self, ConnectArgs};

/// Options of `seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// The tenant's display name.
    #[arg(long)]
    pub name: String,
    /// URL-safe unique name (`acme-corp`). Without it the slug is derived
    /// from the name, with `-2`, `-3`, .. when taken; with it, a taken slug
    /// is an error (exit 1).
    #[arg(long)]
    pub slug: Option<String>,
    /// Where to connect; seed writes the tenants table, so it uses the
    /// system role (--system-url).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print the created tenant as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: &SeedArgs) -> anyhow::Result<Outcome> {
    let url = args
        .connect
        .require_system("only the system role may write the tenants table")?;
    db::block_on(async {
        let options = url.reachable().await?;
        let system = SystemPool::options()
            .max_connections(1)
            .connect_timeout(db::CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| match e {
                Error::SystemRoleLacksBypass { .. } => {
                    anyhow::anyhow!("{e}; seed writes the tenants table, which only that role may")
                }
                other => anyhow::Error::new(other),
            })
            .with_context(|| url.flag)?;
        let tx = system.begin().await?;
        let created = match &args.slug {
            Some(slug) => tx.tenants().create_with_slug(&args.name, slug).await,
            None => tx.tenants().create(&args.name).await,
        };
        match created {
            Ok(tenant) => {
                tx.commit().await?;
                print_tenant(&tenant, args.json);
                Ok(Outcome::Ok)
            }
            Err(Error::SlugTaken { slug }) => {
                let existing = tx.tenants().get_by_slug(&slug).await?;
                slug_taken(&slug, existing.as_ref(), args.json);
                Ok(Outcome::Findings)
            }
            Err(e) => Err(seed_error(e)),
        }
    })
}

fn print_tenant(tenant: &Tenant, json: bool) {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(tenant).expect("a tenant serializes")
        );
    } else {
        outln!("{}", tenant.id);
    }
}

/// A taken slug is exit 1 (nothing created; the database already holds
/// that tenant), not 2: a seeding script can tell it from a usage or
/// connection error and, with `--json`, read the existing tenant's id.
fn slug_taken(slug: &str, existing: Option<&Tenant>, json: bool) {
    let owner = existing.map_or_else(String::new, |t| {
        format!(" by tenant {} ({:?})", t.id, t.name)
    });
    eprintln!(
        "error: slug {slug:?} is taken{owner}: nothing was created; choose another --slug, or leave it out to derive a free one"
    );
    if json {
        let body = serde_json::json!({ "error": "slug_taken", "slug": slug, "tenant": existing });
        outln!(
            "{}",
            serde_json::to_string_pretty(&body).expect("the error serializes")
        );
    }
}

/// The errors the tenants API can give here, with what to do.
fn seed_error(e: Error) -> anyhow::Error {
    if let Error::Database(sqlx::Error::Database(db)) = &e
        && db.code().as_deref() == Some("42P01")
    {
        return anyhow::anyhow!(
            "{}: apply the emit-rls migration first (it creates public.tenants)",
            db.message()
        );
    }
    anyhow::Error::new(e)
}
