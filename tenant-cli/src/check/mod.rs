//! `check`: validates a live database's tenant isolation, as the
//! application role sees it, and finishes with a behavioural probe in a
//! transaction that is always rolled back.
//!
//! Each validation is a [`Check`]: an id, a severity, what passing means,
//! and a function over the catalog snapshot (and the probe's results) that
//! returns findings, each with a message and a fix. The groups live in
//! their own files; [`CHECKS`] lists them in the order they are printed.

mod columns;
mod drift;
mod exposure;
mod keys;
mod mechanism;
mod own_rows;
mod policies;
mod probe;
mod report;
mod roles;
mod tenancy;

use std::collections::BTreeSet;

use anyhow::bail;
use tenant_runtime::meta::TableMeta;
use tenant_runtime::registry;
use tenant_runtime::tx::{CONTEXT_KEY_ENV, ContextKey};

use crate::Outcome;
use crate::catalog::{Catalog, Column, Table};
use crate::db::{self, ConnectArgs, QueryContext as _, Url};

pub(crate) use probe::Probe;

/// Options of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Where to connect: --database-url is the role checked (the one your
    /// service logs in as; checking as a superuser or the tables' owner
    /// reports that role, not the one production uses); --system-url, if
    /// given, is checked to bypass row-level security and to be another role.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Column that makes a table without a model a tenant table.
    #[arg(long, value_name = "NAME", default_value = "tenant_id")]
    pub tenant_column: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 on failed warnings too, not only on failed errors.
    #[arg(long)]
    pub strict: bool,
    /// Leave out the behavioural probe (reads and refused writes as the
    /// application role, and a tenant's round trip of its own rows, in
    /// transactions that are always rolled back).
    #[arg(long)]
    pub no_probe: bool,
    /// The context key the service's TenantPool holds, `<id>:<hex>`, so
    /// the probe can enter a tenant as the pool does and insert, read,
    /// update and delete a row of its own in every tenant table (rolled
    /// back; sequences the inserts draw from still advance). Prefer the
    /// environment variable to the flag, which other users of the machine
    /// may see in the process list [env: TENANT_CONTEXT_KEY].
    #[arg(long, value_name = "ID:HEX")]
    pub context_key: Option<String>,
    /// Leave out a validation, by id (repeatable).
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,
    /// Print the validations (id, severity, what each checks) and exit,
    /// without connecting.
    #[arg(long)]
    pub list: bool,
}

/// How bad a failed validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// Rows can leak, or isolation silently depends on luck: exit 1.
    Error,
    /// Slower, harder to debug or weaker than it should be: exit 1 only
    /// with `--strict`.
    Warning,
}

/// One validation.
pub(crate) struct Check {
    /// Stable id, `group.what`, for `--skip` and machines.
    pub(crate) id: &'static str,
    pub(crate) severity: Severity,
    /// What passing means, as a sentence.
    pub(crate) title: &'static str,
    pub(crate) run: fn(&Ctx<'_>) -> Verdict,
}

/// One thing wrong, on one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Finding {
    /// `schema.table`, a role, a function: what is wrong.
    pub(crate) object: String,
    /// What is wrong and why it matters.
    pub(crate) message: String,
    /// What to do about it (often the SQL).
    pub(crate) fix: String,
}

impl Finding {
    pub(crate) fn new(
        object: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            object: object.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// The result of one validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Passed, with facts the report shows (what was found, what was
    /// only partly checked).
    Note(String),
    Fail(Vec<Finding>),
    /// Could not run; says why.
    Skip(String),
}

impl Verdict {
    /// `Pass` when there are no findings.
    pub(crate) fn from_findings(findings: Vec<Finding>) -> Verdict {
        if findings.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail(findings)
        }
    }
}

/// A table the checks treat as tenant-owned: one a model declares, or one
/// with the tenant column.
pub(crate) struct TenantTable<'a> {
    pub(crate) table: &'a Table,
    /// The tenant column's name (the model's, else `--tenant-column`).
    pub(crate) tenant_column: &'a str,
    /// The model that declares the table, if one is linked in.
    pub(crate) model: Option<&'static TableMeta>,
}

impl TenantTable<'_> {
    pub(crate) fn qualified(&self) -> String {
        self.table.qualified()
    }

    /// The tenant column, if the table has it.
    pub(crate) fn column(&self) -> Option<&Column> {
        self.table.column(self.tenant_column)
    }
}

/// The system role, as its own connection reports it.
pub(crate) struct SystemRole {
    pub(crate) role: String,
    pub(crate) superuser: bool,
    pub(crate) bypassrls: bool,
}

/// What every validation reads.
pub(crate) struct Ctx<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) tenant_tables: Vec<TenantTable<'a>>,
    /// The registered models (empty in a binary that links none).
    pub(crate) models: &'a [&'static TableMeta],
    pub(crate) system: Option<&'a SystemRole>,
    /// `None` with `--no-probe`.
    pub(crate) probe: Option<&'a Probe>,
}

impl<'a> Ctx<'a> {
    /// The tenant table with this oid.
    pub(crate) fn tenant_table(&self, oid: i64) -> Option<&TenantTable<'a>> {
        self.tenant_tables.iter().find(|t| t.table.oid == oid)
    }

    /// Runs `f` on every tenant table and gathers its findings; skips when
    /// there is no tenant table, rather than passing on nothing.
    pub(crate) fn each_table(&self, f: impl Fn(&TenantTable<'a>) -> Vec<Finding>) -> Verdict {
        if self.tenant_tables.is_empty() {
            return Verdict::Skip(self.no_tenant_tables());
        }
        Verdict::from_findings(self.tenant_tables.iter().flat_map(f).collect())
    }

    pub(crate) fn no_tenant_tables(&self) -> String {
        "no tenant table in the database (no registered model's table, no table with the tenant column)".to_owned()
    }
}

/// Every table a model declares, plus every other table that has the
/// tenant column, in catalog order (by schema, then name).
fn tenant_tables<'a>(
    catalog: &'a Catalog,
    models: &[&'static TableMeta],
    tenant_column: &'a str,
) -> Vec<TenantTable<'a>> {
    catalog
        .tables
        .iter()
        .filter_map(|table| {
            let model = models
                .iter()
                .copied()
                .find(|m| m.schema == table.schema && m.name == table.name);
            match model {
                Some(m) => Some(TenantTable {
                    table,
                    tenant_column: m.tenant_column,
                    model: Some(m),
                }),
                None if table.column(tenant_column).is_some() => Some(TenantTable {
                    table,
                    tenant_column,
                    model: None,
                }),
                None => None,
            }
        })
        .collect()
}

/// Every validation, in the order the report lists them.
pub(crate) fn checks() -> impl Iterator<Item = &'static Check> {
    [
        roles::CHECKS,
        tenancy::CHECKS,
        mechanism::CHECKS,
        policies::CHECKS,
        columns::CHECKS,
        keys::CHECKS,
        exposure::CHECKS,
        drift::CHECKS,
        probe::CHECKS,
    ]
    .into_iter()
    .flatten()
}

/// Runs every validation not in `skip`.
pub(crate) fn evaluate(ctx: &Ctx<'_>, skip: &BTreeSet<&str>) -> Vec<(&'static Check, Verdict)> {
    checks()
        .map(|check| {
            let verdict = if skip.contains(check.id) {
                Verdict::Skip("left out with --skip".to_owned())
            } else {
                (check.run)(ctx)
            };
            (check, verdict)
        })
        .collect()
}

pub(crate) fn run(args: &CheckArgs) -> anyhow::Result<Outcome> {
    if !args.list {
        crate::require_models("check")?;
    }
    let models: Vec<&'static TableMeta> = registry::tables()?.iter().collect();
    run_with_models(args, &models)
}

/// [`run`] against `models` instead of the linked registry.
pub(crate) fn run_with_models(
    args: &CheckArgs,
    models: &[&'static TableMeta],
) -> anyhow::Result<Outcome> {
    if args.list {
        report::print_list(checks(), args.json);
        return Ok(Outcome::Ok);
    }
    let known: BTreeSet<&str> = checks().map(|c| c.id).collect();
    if let Some(unknown) = args.skip.iter().find(|id| !known.contains(id.as_str())) {
        bail!("--skip {unknown}: no validation has this id; `check --list` prints them");
    }
    let skip: BTreeSet<&str> = args.skip.iter().map(String::as_str).collect();
    let url = args
        .connect
        .require_app("check validates the database as that role")?;
    let key = context_key(args)?;
    db::block_on(async {
        let mut conn = url.connect().await?;
        let catalog = Catalog::read(&mut conn).await?;
        let system = match args.connect.system() {
            Some(url) => Some(system_role(&url).await?),
            None => None,
        };
        let tenant_tables = tenant_tables(&catalog, models, &args.tenant_column);
        let probe = if args.no_probe {
            None
        } else {
            // Left out with --skip: not even run (it writes, if only in a
            // transaction that is rolled back).
            let entry = match &key {
                Some(_) if skip.contains("probe.tenant-own-rows") => None,
                Some(key) => Some(own_rows::Entry {
                    key: key.clone(),
                    options: url.options()?,
                }),
                None => None,
            };
            let probe = probe::run(&mut conn, &catalog, &tenant_tables, entry.as_ref()).await;
            Some(probe.doing("running the probe")?)
        };
        let ctx = Ctx {
            catalog: &catalog,
            tenant_tables,
            models,
            system: system.as_ref(),
            probe: probe.as_ref(),
        };
        let results = evaluate(&ctx, &skip);
        report::print(&ctx, &results, args.json);
        let failed = |s: Severity| {
            results
                .iter()
                .any(|(c, v)| c.severity == s && matches!(v, Verdict::Fail(_)))
        };
        Ok(
            if failed(Severity::Error) || (args.strict && failed(Severity::Warning)) {
                Outcome::Findings
            } else {
                Outcome::Ok
            },
        )
    })
}

/// The context key from `--context-key` or `TENANT_CONTEXT_KEY`, if
/// given; a malformed one is a usage error.
fn context_key(args: &CheckArgs) -> anyhow::Result<Option<ContextKey>> {
    let given = args
        .context_key
        .clone()
        .map(|k| (k, "--context-key"))
        .or_else(|| {
            std::env::var(CONTEXT_KEY_ENV)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|k| (k, CONTEXT_KEY_ENV))
        });
    let Some((spec, from)) = given else {
        return Ok(None);
    };
    spec.trim()
        .parse()
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{from} is not a context key: {e}"))
}

const SYSTEM_ROLE: &str = "SELECT current_user::text, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user";

async fn system_role(url: &Url) -> anyhow::Result<SystemRole> {
    let mut conn = url.connect().await?;
    let (role, superuser, bypassrls) = sqlx::query_as(SYSTEM_ROLE)
        .fetch_one(&mut conn)
        .await
        .doing("reading the system role")?;
    Ok(SystemRole {
        role,
        superuser,
        bypassrls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_models_or_tenant_tables_the_checks_skip_rather_than_pass() {
        let catalog = Catalog::for_tests(Vec::new());
        let ctx = Ctx {
            catalog: &catalog,
            tenant_tables: Vec::new(),
            models: &[],
            system: None,
            probe: None,
        };
        for (check, verdict) in evaluate(&ctx, &BTreeSet::new()) {
            let group = check.id.split('.').next().unwrap_or_default();
            match group {
                "table" | "policy" | "column" | "index" | "unique" | "fk" | "grant"
                | "function" | "drift" | "probe" => {
                    assert!(
                        matches!(verdict, Verdict::Skip(_)),
                        "{}: {verdict:?}",
                        check.id
                    );
                }
                _ => {}
            }
            if check.id == "tenants.exists" {
                assert!(matches!(verdict, Verdict::Fail(_)));
            }
        }
    }
}
