//! `seed`: creates a tenant through the system role and prints its id;
//! with `--owner-email`, its first owner too, made by the linked library
//! that ships the users table (tenant-members), in the same transaction.

use anyhow::Context as _;
use tenant_runtime::{Error, FirstOwner, OwnerMaker, SystemPool, Tenant, owner_makers};

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
    /// The tenant's first owner: the user with this email (made when there
    /// is none) gets an owner membership, in the transaction that creates
    /// the tenant. Needs tenant-members linked into the binary.
    #[arg(long, value_name = "EMAIL")]
    pub owner_email: Option<String>,
    /// The owner's display name, when the user is made (default: the
    /// email's part before `@`).
    #[arg(long, value_name = "NAME", requires = "owner_email")]
    pub owner_name: Option<String>,
}

/// The owner to make, and who makes them: refused before anything is
/// written when no linked library can.
fn first_owner(args: &SeedArgs) -> anyhow::Result<Option<(FirstOwner, &'static OwnerMaker)>> {
    let Some(email) = &args.owner_email else {
        return Ok(None);
    };
    let makers = owner_makers();
    let [maker] = makers.as_slice() else {
        if makers.is_empty() {
            anyhow::bail!(
                "--owner-email needs a library with a users table linked into this binary, and none is: \
                 add tenant-members to the crate and call tenant_members::link() in the main that runs tenant_cli::main()"
            );
        }
        let names: Vec<&str> = makers.iter().map(|m| m.library()).collect();
        anyhow::bail!(
            "--owner-email: {} libraries make owners ({}), and seed cannot tell which users table is yours: \
             link only one, or make the owner with that library's API",
            names.len(),
            names.join(", ")
        );
    };
    let name = args
        .owner_name
        .clone()
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
    Ok(Some((
        FirstOwner {
            email: email.clone(),
            name,
        },
        maker,
    )))
}

pub(crate) fn run(args: &SeedArgs) -> anyhow::Result<Outcome> {
    let url = args
        .connect
        .require_system("only the system role may write the tenants table")?;
    let owner = first_owner(args)?;
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
                let made = match &owner {
                    Some((owner, maker)) => Some(
                        maker
                            .make(&tx, &tenant, owner)
                            .await
                            .map_err(seed_error)
                            .context("making the first owner (nothing was created)")?,
                    ),
                    None => None,
                };
                tx.commit().await?;
                print_tenant(&tenant, made.as_deref(), args.json);
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

fn print_tenant(tenant: &Tenant, owner: Option<&str>, json: bool) {
    if json {
        let mut value = serde_json::to_value(tenant).expect("a tenant serializes");
        if let (Some(owner), Some(object)) = (owner, value.as_object_mut()) {
            object.insert("owner".to_owned(), owner.into());
        }
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON serializes")
        );
    } else {
        outln!("{}", tenant.id);
        if let Some(owner) = owner {
            eprintln!("{owner}");
        }
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
