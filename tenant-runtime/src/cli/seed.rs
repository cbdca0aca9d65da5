//! `seed`: creates a tenant through the system role and prints its id.

use super::{Outcome, db};
use crate::{Error, SystemPool, Tenant};

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
    /// Connection URL of the system role (BYPASSRLS): only it may write
    /// tenants. Defaults to $SYSTEM_DATABASE_URL, then $DATABASE_URL.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Print the created tenant as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: &SeedArgs) -> Result<Outcome, String> {
    let url = args
        .database_url
        .clone()
        .or_else(|| std::env::var("SYSTEM_DATABASE_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or(
            "no database: pass --database-url URL (the system role's) or set SYSTEM_DATABASE_URL",
        )?;
    db::block_on(async {
        let system = SystemPool::new(db::pool(&url, "--database-url").await?)
            .await
            .map_err(|e| match e {
                Error::SystemRoleLacksBypass { .. } => {
                    format!("{e}; seed writes the tenants table, which only that role may")
                }
                other => db::one_line(&other),
            })?;
        let tx = system.begin().await.map_err(|e| db::one_line(&e))?;
        let created = match &args.slug {
            Some(slug) => tx.tenants().create_with_slug(&args.name, slug).await,
            None => tx.tenants().create(&args.name).await,
        };
        match created {
            Ok(tenant) => {
                tx.commit().await.map_err(|e| db::one_line(&e))?;
                print_tenant(&tenant, args.json);
                Ok(Outcome::Ok)
            }
            Err(Error::SlugTaken { slug }) => {
                let existing = tx
                    .tenants()
                    .get_by_slug(&slug)
                    .await
                    .map_err(|e| db::one_line(&e))?;
                slug_taken(&slug, existing.as_ref(), args.json);
                Ok(Outcome::Findings)
            }
            Err(e) => Err(seed_error(&e)),
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

/// One line for the errors the tenants API can give here.
fn seed_error(e: &Error) -> String {
    if let Error::Database(sqlx::Error::Database(db)) = e
        && db.code().as_deref() == Some("42P01")
    {
        return format!(
            "{}: apply the emit-rls migration first (it creates public.tenants)",
            db.message()
        );
    }
    db::one_line(e)
}
