//! `emit-rls`: print, write or check the row-level security migration.

use std::path::PathBuf;

use anyhow::Context as _;
use tenant_runtime::{ddl, registry};

use crate::Outcome;
use crate::migrations::{self, Written};

/// Options of `emit-rls`.
#[derive(Debug, clap::Args)]
pub struct EmitArgs {
    /// Write a sqlx migration `<version>_tenant_rls.sql` into DIR, only when
    /// the DDL differs from the newest one there (an applied file is never
    /// rewritten).
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        conflicts_with = "check"
    )]
    pub out: Option<PathBuf>,
    /// Exit 1 and print a diff when the newest `*_tenant_rls.sql` in DIR no
    /// longer matches the models (for CI).
    #[arg(long, value_name = "DIR")]
    pub check: Option<PathBuf>,
    /// With -o: print what would be written, write nothing.
    #[arg(long, requires = "out")]
    pub dry_run: bool,
    /// Emit the shared part (the tenants table and the tenant context)
    /// even with no model linked into the binary, which is otherwise an
    /// error.
    #[arg(long)]
    pub allow_no_models: bool,
    /// Emit the DDL for a Citus cluster, sharded by tenant: the tenant in
    /// every primary key, `tenants` a reference table, the tenant tables
    /// distributed and co-located, and the tenant context carried to the
    /// workers (README, "Citus"). Apply it on the coordinator.
    #[arg(long)]
    pub citus: bool,
}

pub(crate) fn run(args: &EmitArgs) -> anyhow::Result<Outcome> {
    if !args.allow_no_models {
        crate::require_models("emit-rls")?;
    }
    let tables = registry::tables()?;
    let sql = if args.citus {
        ddl::emit_citus(tables)?
    } else {
        ddl::emit(tables)
    };
    if let Some(dir) = &args.check {
        let newest = migrations::newest(dir).with_context(|| dir.display().to_string())?;
        return match newest {
            None => {
                outln!(
                    "{}: no *{} file: run emit-rls -o {0}",
                    dir.display(),
                    migrations::SUFFIX
                );
                Ok(Outcome::Findings)
            }
            Some(newest) if newest.sql == sql => {
                outln!("{}: up to date", newest.path.display());
                Ok(Outcome::Ok)
            }
            Some(newest) => {
                let old = newest.path.display().to_string();
                let diff = similar::TextDiff::from_lines(&newest.sql, &sql);
                out!(
                    "{}",
                    diff.unified_diff().context_radius(3).header(&old, "models")
                );
                outln!(
                    "{old} no longer matches the models: run emit-rls -o {}",
                    dir.display()
                );
                Ok(Outcome::Findings)
            }
        };
    }
    let Some(dir) = &args.out else {
        out!("{sql}");
        return Ok(Outcome::Ok);
    };
    let now = migrations::now_version();
    match migrations::write_if_changed(dir, &sql, now, args.dry_run)
        .with_context(|| dir.display().to_string())?
    {
        Written::UpToDate(path) => outln!("{}: up to date", path.display()),
        Written::New(path) if args.dry_run => {
            outln!("would write {}:", path.display());
            out!("{sql}");
        }
        Written::New(path) => outln!("wrote {}", path.display()),
    }
    Ok(Outcome::Ok)
}
