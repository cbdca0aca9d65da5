//! The behavioural probe: statements run as the connected (application)
//! role inside one transaction that is always rolled back, each behind a
//! savepoint so a refused statement does not end the others.
//!
//! 1. With `app.current_tenant` unset, then empty (what a pooled
//!    connection reads after a tenant transaction committed), reading a
//!    tenant table must return no row and inserting into it must be
//!    refused, with the no-tenant-context error (TN001). Both, because a
//!    scan of an empty table never evaluates the policy, while the
//!    insert's WITH CHECK always does.
//! 2. With a random tenant set through `set_config` (as injected SQL would),
//!    every tenant
//!    table must show no rows, and inserting a row for another random
//!    tenant must be refused by row-level security.
//! 3. With an existing tenant's id set through `set_config`, and with a
//!    forged call of `tenancy.enter`, the transaction must not be in that
//!    tenant: `tenancy.current_tenant()` must refuse and no table may
//!    return a row. Only the library's `begin` enters a tenant.
//! 4. Writing the tenants table must be refused.
//! 5. With the service's context key, a tenant entered the way
//!    `TenantPool` enters it must read, and insert, read back, update and
//!    delete a row of its own in every tenant table ([`own_rows`]), in a
//!    transaction of its own that is rolled back too.
//!
//! Nothing is kept, except that an insert that reaches a column default
//! may consume a sequence value (sequences are not transactional).
//!
//! [`own_rows`]: super::own_rows

use sqlx::postgres::{PgConnection, PgDatabaseError};
use sqlx::{Connection as _, Executor as _, Postgres, Transaction};

use super::own_rows::{self, Entry, OwnRows, OwnTable, Round};
use super::{Check, Ctx, Finding, Severity, TenantTable, Verdict};
use tenant_sql::ident::quote as quote_ident;

use crate::catalog::Catalog;
use tenant_runtime::sqlstate;

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "probe.no-tenant-fails-closed",
        severity: Severity::Error,
        title: "probe: with no tenant set (unset or empty), no tenant table returns a row or takes an insert",
        run: fails_closed,
    },
    Check {
        id: "probe.no-tenant-error",
        severity: Severity::Warning,
        title: "probe: with no tenant set, reading or writing a tenant table fails with no tenant context (TN001)",
        run: no_tenant_error,
    },
    Check {
        id: "probe.random-tenant-sees-nothing",
        severity: Severity::Error,
        title: "probe: a random tenant set with set_config sees no row in any tenant table",
        run: random_tenant_sees_nothing,
    },
    Check {
        id: "probe.cross-tenant-insert-refused",
        severity: Severity::Error,
        title: "probe: inserting a row for another tenant is refused by row-level security",
        run: cross_tenant_insert_refused,
    },
    Check {
        id: "probe.forged-switch-refused",
        severity: Severity::Error,
        title: "probe: set_config to an existing tenant, or a forged tenancy.enter, does not enter that tenant",
        run: forged_switch_refused,
    },
    Check {
        id: "probe.tenant-own-rows",
        severity: Severity::Error,
        title: "probe: a tenant entered through TenantPool (the service's context key) reads every tenant table and inserts, reads back, updates and deletes a row of its own in each (tables where no row can be made up are only read)",
        run: tenant_own_rows,
    },
    Check {
        id: "probe.tenants-write-refused",
        severity: Severity::Error,
        title: "probe: the application role cannot insert or update tenants",
        run: tenants_write_refused,
    },
];

/// Keeps the probe from waiting on other sessions' locks or running long.
const LIMITS: &str = "SET LOCAL statement_timeout = '10s'; SET LOCAL lock_timeout = '2s'";
const SAVEPOINT: &str = "SAVEPOINT tenant_check_probe";
const UNDO: &str = "ROLLBACK TO SAVEPOINT tenant_check_probe; RELEASE SAVEPOINT tenant_check_probe";
/// What `app.current_tenant` reads on a pooled connection after COMMIT.
const SET_EMPTY: &str = "SELECT set_config('app.current_tenant', '', true)";
const SET_TENANT: &str = "SELECT set_config('app.current_tenant', $1, true)";
/// Values no real tenant has (the name says where they came from).
const TENANTS_INSERT: &str =
    "INSERT INTO public.tenants (name, slug) VALUES ('tenant check probe', 'tenant-check-probe')";
const TENANTS_UPDATE: &str = "UPDATE public.tenants SET name = name";
/// A real tenant to forge a switch into: the attacker's first query.
const SOME_TENANT: &str = "SELECT id FROM public.tenants ORDER BY created_at LIMIT 1";
/// Counts 1 when the forged setting is taken for the transaction's tenant.
const CURRENT_TENANT: &str =
    "SELECT count(probe.t) FROM (SELECT tenancy.current_tenant() AS t) AS probe";

/// What one probe statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// It ran: rows read (0 or 1; reads stop at the first) or written.
    Rows(u64),
    /// The database refused it.
    Failed { code: String, message: String },
    /// Not run; why.
    NotRun(&'static str),
}

impl Attempt {
    fn failed_with(&self, codes: &[&str]) -> bool {
        matches!(self, Attempt::Failed { code, .. } if codes.contains(&code.as_str()))
    }

    fn describe(&self) -> String {
        match self {
            Attempt::Rows(n) => format!("it succeeded ({n} row{})", if *n == 1 { "" } else { "s" }),
            Attempt::Failed { code, message } => format!("it failed with {code}: {message}"),
            Attempt::NotRun(why) => format!("not run: {why}"),
        }
    }
}

/// A read and an insert with no tenant set.
#[derive(Debug, Clone)]
pub(crate) struct NoTenant {
    pub(crate) read: Attempt,
    pub(crate) insert: Attempt,
}

/// The probe of one tenant table.
#[derive(Debug, Clone)]
pub(crate) struct TableProbe {
    /// `schema.table`.
    pub(crate) table: String,
    pub(crate) unset: NoTenant,
    pub(crate) empty: NoTenant,
    pub(crate) random: Attempt,
    pub(crate) insert: Attempt,
    /// A read with an existing tenant's id set through `set_config`.
    pub(crate) forged: Attempt,
}

/// A forged switch into an existing tenant.
#[derive(Debug, Clone)]
pub(crate) struct Forged {
    /// `tenancy.current_tenant()` after `set_config` to the tenant.
    pub(crate) current: Attempt,
    /// `CALL tenancy.enter(<tenant>, NULL, 1, '00', NULL)` with a made-up token.
    pub(crate) enter: Attempt,
}

/// Everything the probe saw.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) tables: Vec<TableProbe>,
    /// `None` without a tenants table.
    pub(crate) tenants_insert: Option<Attempt>,
    pub(crate) tenants_update: Option<Attempt>,
    /// `None` without a tenant to forge a switch into.
    pub(crate) forged: Option<Forged>,
    /// A tenant's round trip of its own rows.
    pub(crate) own: OwnRows,
}

/// Runs the probe as `conn`'s role; an error here is a lost connection or
/// the like, not a finding.
pub(crate) async fn run(
    conn: &mut PgConnection,
    catalog: &Catalog,
    tables: &[TenantTable<'_>],
    entry: Option<&Entry>,
) -> sqlx::Result<Probe> {
    let mut tx = conn.begin().await?;
    tx.execute(LIMITS).await?;
    let read = |t: &TenantTable<'_>| {
        t.table.can_select.then(|| {
            format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1) AS probe",
                t.table.quoted()
            )
        })
    };
    // A row of another (random) tenant. A literal, not a typed parameter,
    // so it also fits a tenant column that is not uuid; a Uuid renders as
    // hex and dashes only.
    let other = uuid::Uuid::new_v4();
    let insert = |t: &TenantTable<'_>| {
        (t.table.can_insert && t.column().is_some()).then(|| {
            format!(
                "INSERT INTO {} ({}) VALUES ('{other}')",
                t.table.quoted(),
                quote_ident(t.tenant_column)
            )
        })
    };
    let no_tenant =
        async |tx: &mut Transaction<'_, Postgres>, t: &TenantTable<'_>| -> sqlx::Result<NoTenant> {
            Ok(NoTenant {
                read: attempt(tx, read(t), Kind::Count, NO_SELECT).await?,
                insert: attempt(tx, insert(t), Kind::Execute, NO_INSERT).await?,
            })
        };

    // The setting is unset only until something sets it in this session.
    let mut unset = Vec::with_capacity(tables.len());
    for t in tables {
        unset.push(no_tenant(&mut tx, t).await?);
    }
    sqlx::query(SET_EMPTY).execute(&mut *tx).await?;
    let mut empty = Vec::with_capacity(tables.len());
    for t in tables {
        empty.push(no_tenant(&mut tx, t).await?);
    }

    let random = uuid::Uuid::new_v4();
    sqlx::query(SET_TENANT)
        .bind(random.to_string())
        .execute(&mut *tx)
        .await?;
    let mut random_reads = Vec::with_capacity(tables.len());
    for t in tables {
        let random = attempt(&mut tx, read(t), Kind::Count, NO_SELECT).await?;
        let insert = attempt(&mut tx, insert(t), Kind::Execute, NO_INSERT).await?;
        random_reads.push((random, insert));
    }

    let existing = if catalog.tenants().is_some() {
        tx.execute(SAVEPOINT).await?;
        let id = sqlx::query_scalar::<_, uuid::Uuid>(SOME_TENANT)
            .fetch_optional(&mut *tx)
            .await;
        tx.execute(UNDO).await?;
        id.ok().flatten()
    } else {
        None
    };
    let mut forged_reads = Vec::with_capacity(tables.len());
    let forged = match existing {
        Some(id) => {
            sqlx::query(SET_TENANT)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            for t in tables {
                forged_reads.push(attempt(&mut tx, read(t), Kind::Count, NO_SELECT).await?);
            }
            let current =
                attempt(&mut tx, Some(CURRENT_TENANT.to_owned()), Kind::Count, "").await?;
            let enter = format!(
                "CALL tenancy.enter('{id}'::uuid, NULL::uuid, 1::int8, '00'::text, NULL::text)"
            );
            let enter = attempt(&mut tx, Some(enter), Kind::Execute, "").await?;
            Some(Forged { current, enter })
        }
        None => None,
    };
    let mut forged_reads = forged_reads.into_iter();
    let mut probes = Vec::with_capacity(tables.len());
    for (t, ((unset, empty), (random, insert))) in tables
        .iter()
        .zip(unset.into_iter().zip(empty).zip(random_reads))
    {
        probes.push(TableProbe {
            table: t.qualified(),
            unset,
            empty,
            random,
            insert,
            forged: forged_reads
                .next()
                .unwrap_or(Attempt::NotRun(NO_TENANT_TO_FORGE)),
        });
    }

    let (tenants_insert, tenants_update) = if catalog.tenants().is_some() {
        let insert = attempt(&mut tx, Some(TENANTS_INSERT.to_owned()), Kind::Execute, "").await?;
        let update = attempt(&mut tx, Some(TENANTS_UPDATE.to_owned()), Kind::Execute, "").await?;
        (Some(insert), Some(update))
    } else {
        (None, None)
    };
    tx.rollback().await?;
    let own = own_rows::run(conn, catalog, tables, entry).await?;
    Ok(Probe {
        tables: probes,
        tenants_insert,
        tenants_update,
        forged,
        own,
    })
}

const NO_SELECT: &str = "the role has no SELECT on the table";
const NO_TENANT_TO_FORGE: &str = "there is no tenant to forge a switch into";
const NO_INSERT: &str = "the role has no INSERT on the table, or the table has no tenant column";

enum Kind {
    /// A `SELECT count(*)`.
    Count,
    /// A write; counts the rows it affected.
    Execute,
}

/// Runs `sql` behind a savepoint and undoes it whatever happened.
async fn attempt(
    tx: &mut Transaction<'_, Postgres>,
    sql: Option<String>,
    kind: Kind,
    not_run: &'static str,
) -> sqlx::Result<Attempt> {
    let Some(sql) = sql else {
        return Ok(Attempt::NotRun(not_run));
    };
    tx.execute(SAVEPOINT).await?;
    let result = match kind {
        Kind::Count => sqlx::query_scalar::<_, i64>(&sql)
            .fetch_one(&mut **tx)
            .await
            .map(|n| u64::try_from(n).unwrap_or_default()),
        Kind::Execute => sqlx::query(&sql)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected()),
    };
    tx.execute(UNDO).await?;
    match result {
        Ok(rows) => Ok(Attempt::Rows(rows)),
        Err(e) => refusal(e),
    }
}

/// A statement the database refused, as an [`Attempt`]; any other error
/// (a lost connection) as is.
pub(super) fn refusal(e: sqlx::Error) -> sqlx::Result<Attempt> {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default().into_owned();
            let mut message = db.message().to_owned();
            if let Some(detail) = db
                .try_downcast_ref::<PgDatabaseError>()
                .and_then(|pg| pg.detail())
            {
                message = format!("{message} ({detail})");
            }
            Ok(Attempt::Failed { code, message })
        }
        other => Err(other),
    }
}

/// Gathers `f`'s findings over the probed tables; skips when the probe did
/// not run, or ran none of the statements `pick` selects.
fn each_probe(
    ctx: &Ctx<'_>,
    pick: impl Fn(&TableProbe) -> Vec<&Attempt>,
    f: impl Fn(&TableProbe) -> Vec<Finding>,
) -> Verdict {
    let Some(probe) = ctx.probe else {
        return Verdict::Skip("the probe was left out (--no-probe)".to_owned());
    };
    if probe.tables.is_empty() {
        return Verdict::Skip(ctx.no_tenant_tables());
    }
    let attempts: Vec<&Attempt> = probe.tables.iter().flat_map(&pick).collect();
    if attempts.iter().all(|a| matches!(a, Attempt::NotRun(_))) {
        let why = attempts.iter().find_map(|a| match a {
            Attempt::NotRun(why) => Some(*why),
            _ => None,
        });
        return Verdict::Skip(format!(
            "no statement could run: {}",
            why.unwrap_or_default()
        ));
    }
    Verdict::from_findings(probe.tables.iter().flat_map(f).collect())
}

fn no_tenant_states(p: &TableProbe) -> [(&'static str, &NoTenant); 2] {
    [("unset", &p.unset), ("empty ('')", &p.empty)]
}

fn no_tenant_attempts(p: &TableProbe) -> Vec<&Attempt> {
    vec![
        &p.unset.read,
        &p.unset.insert,
        &p.empty.read,
        &p.empty.insert,
    ]
}

fn fails_closed(ctx: &Ctx<'_>) -> Verdict {
    each_probe(ctx, no_tenant_attempts, |p| {
        let mut findings = Vec::new();
        for (how, state) in no_tenant_states(p) {
            if matches!(state.read, Attempt::Rows(n) if n > 0) {
                findings.push(Finding::new(
                    p.table.as_str(),
                    format!("with app.current_tenant {how}, SELECT returned rows: code that forgets the tenant sees every tenant's rows"),
                    "enable and force row-level security with the emit-rls policy (see table.rls-enabled, policy.tenant-predicate)",
                ));
            }
            if matches!(state.insert, Attempt::Rows(n) if n > 0) {
                findings.push(Finding::new(
                    p.table.as_str(),
                    format!("with app.current_tenant {how}, inserting a row for some tenant succeeded: code that forgets the tenant can write into any tenant"),
                    "enable and force row-level security with the emit-rls policy (its WITH CHECK needs the current tenant)",
                ));
            }
        }
        findings
    })
}

fn no_tenant_error(ctx: &Ctx<'_>) -> Verdict {
    each_probe(ctx, no_tenant_attempts, |p| {
        no_tenant_states(p)
            .into_iter()
            .filter(|(_, s)| {
                let ran = !matches!((&s.read, &s.insert), (Attempt::NotRun(_), Attempt::NotRun(_)));
                // Rows read or written without a tenant are
                // probe.no-tenant-fails-closed's finding, not this one's.
                let open = [&s.read, &s.insert].iter().any(|a| matches!(a, Attempt::Rows(n) if *n > 0));
                let tn001 = |a: &Attempt| a.failed_with(&[sqlstate::NO_TENANT_CONTEXT]);
                ran && !open && !tn001(&s.read) && !tn001(&s.insert)
            })
            .map(|(how, s)| {
                Finding::new(
                    p.table.as_str(),
                    format!(
                        "with app.current_tenant {how}, neither a read nor an insert failed with no tenant context ({}): the read: {}; the insert: {}; a forgotten tenant then looks like an empty table or a cast bug",
                        sqlstate::NO_TENANT_CONTEXT,
                        s.read.describe(),
                        s.insert.describe()
                    ),
                    "read the tenant through (SELECT tenancy.current_tenant()) in the policy, as the emit-rls migration does",
                )
            })
            .collect()
    })
}

fn random_tenant_sees_nothing(ctx: &Ctx<'_>) -> Verdict {
    each_probe(
        ctx,
        |p| vec![&p.random],
        |p| match p.random {
            Attempt::Rows(n) if n > 0 => vec![Finding::new(
                p.table.as_str(),
                "a random tenant that does not exist, set with set_config, read rows: other tenants' rows are visible",
                "enable and force row-level security with the emit-rls policy (see policy.tenant-predicate)",
            )],
            _ => Vec::new(),
        },
    )
}

/// `42501` is also "permission denied", but the probe only inserts into
/// tables the role may insert into, so here it is the RLS refusal.
/// TN001 is the policy refusing a tenant that was set but never entered.
const REFUSED_BY_RLS: &[&str] = &[
    sqlstate::CROSS_TENANT_WRITE,
    sqlstate::NO_TENANT_CONTEXT,
    "42501",
];

fn cross_tenant_insert_refused(ctx: &Ctx<'_>) -> Verdict {
    each_probe(
        ctx,
        |p| vec![&p.insert],
        |p| match &p.insert {
            Attempt::NotRun(_) => Vec::new(),
            a if a.failed_with(REFUSED_BY_RLS) => Vec::new(),
            a => vec![Finding::new(
                p.table.as_str(),
                format!(
                    "inserting a row for another tenant was not refused by row-level security: {}",
                    a.describe()
                ),
                "add the emit-rls policy: its WITH CHECK refuses rows of another tenant (TN003) before any constraint runs",
            )],
        },
    )
}

fn forged_switch_refused(ctx: &Ctx<'_>) -> Verdict {
    let Some(probe) = ctx.probe else {
        return Verdict::Skip("the probe was left out (--no-probe)".to_owned());
    };
    let Some(forged) = &probe.forged else {
        return Verdict::Skip(NO_TENANT_TO_FORGE.to_owned());
    };
    const FIX: &str = "apply the emit-rls migration: its policies read the tenant through tenancy.context, which only the library's begin can set";
    let mut findings = Vec::new();
    if !matches!(forged.current, Attempt::Failed { .. }) {
        findings.push(Finding::new(
            "tenancy.current_tenant()",
            format!(
                "after set_config('app.current_tenant', <an existing tenant>), tenancy.current_tenant() was asked for the tenant and {}: any SQL can switch tenant",
                forged.current.describe()
            ),
            FIX,
        ));
    }
    if !matches!(forged.enter, Attempt::Failed { .. }) {
        findings.push(Finding::new(
            "tenancy.enter",
            format!(
                "a call of tenancy.enter with a made-up token was not refused: {}",
                forged.enter.describe()
            ),
            FIX,
        ));
    }
    for p in &probe.tables {
        if matches!(p.forged, Attempt::Rows(n) if n > 0) {
            findings.push(Finding::new(
                p.table.as_str(),
                "after set_config('app.current_tenant', <an existing tenant>), the table returned that tenant's rows",
                FIX,
            ));
        }
    }
    Verdict::from_findings(findings)
}

fn tenants_write_refused(ctx: &Ctx<'_>) -> Verdict {
    let Some(probe) = ctx.probe else {
        return Verdict::Skip("the probe was left out (--no-probe)".to_owned());
    };
    let (Some(insert), Some(update)) = (&probe.tenants_insert, &probe.tenants_update) else {
        return Verdict::Skip("there is no public.tenants table (see tenants.exists)".to_owned());
    };
    let mut findings = Vec::new();
    if !insert.failed_with(&["42501"]) {
        findings.push(Finding::new(
            "public.tenants",
            format!(
                "the application role tried to insert a tenant and {}",
                insert.describe()
            ),
            "only the system role (BYPASSRLS) should write tenants: see tenants.write-system-only",
        ));
    }
    if matches!(update, Attempt::Rows(n) if *n > 0) {
        findings.push(Finding::new(
            "public.tenants",
            format!(
                "the application role tried to update every tenant and {}",
                update.describe()
            ),
            "only the system role (BYPASSRLS) should write tenants: see tenants.write-system-only",
        ));
    }
    Verdict::from_findings(findings)
}

const POLICY_FIX: &str = "apply the emit-rls policy: USING and WITH CHECK compare the tenant column to (SELECT c.tenant FROM tenancy.context c), which admits the entered tenant's rows (see policy.exact)";

/// What to do about a statement of the entered tenant on its own rows
/// that the database refused with `code`.
fn access_fix(code: &str, message: &str, table: &str, role: &str) -> String {
    match code {
        "42501" if message.contains("row-level security") => POLICY_FIX.to_owned(),
        "42501" => format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}; and USAGE on its schema and EXECUTE on what its policy, defaults and triggers call (tenant roles --apply grants what the models need)"
        ),
        sqlstate::NO_TENANT_CONTEXT => "the table's policy does not see the tenant TenantPool entered: it must read it through tenancy.context (apply the emit-rls migration; if the extension is installed, SELECT tenancy.install_context(); as the owner)".to_owned(),
        sqlstate::CROSS_TENANT_WRITE => "the row made for the entered tenant was taken for another tenant's: check the tenant column's default (tenancy.default_tenant()) and the policy's WITH CHECK (apply the emit-rls migration)".to_owned(),
        _ => "find what refuses the statement (a policy, a trigger, a grant, a function it calls) and let the entered tenant use its own rows; if the table is meant to be read-only for the application, leave this out with --skip probe.tenant-own-rows".to_owned(),
    }
}

/// What went wrong for the entered tenant on one table.
fn own_table_findings(t: &OwnTable, how: &str, role: &str) -> Vec<Finding> {
    let refused = |what: &str, code: &str, message: &str| {
        Finding::new(
            t.table.as_str(),
            format!("{how}, {what} was refused with {code}: {message}"),
            access_fix(code, message, &t.quoted, role),
        )
    };
    let mut findings = Vec::new();
    if let Attempt::Failed { code, message } = &t.read {
        findings.push(refused(
            "reading the table (the tenant's own rows)",
            code,
            message,
        ));
    }
    if let Some(Attempt::Failed { code, message }) = &t.insert
        && !own_rows::refused_by_rules(code)
    {
        findings.push(refused(
            "inserting a row of its own (made up by the probe)",
            code,
            message,
        ));
    }
    // A read cannot break a table's rules; a write can (noted, not failed).
    let steps = [
        (
            "reading back the row it had just inserted",
            &t.read_back,
            false,
        ),
        ("updating the row it had just inserted", &t.update, true),
        ("deleting the row it had just inserted", &t.delete, true),
    ];
    for (what, attempt, write) in steps {
        match attempt {
            None | Some(Attempt::Rows(1) | Attempt::NotRun(_)) => {}
            Some(Attempt::Failed { code, .. }) if write && own_rows::refused_by_rules(code) => {}
            Some(Attempt::Failed { code, message }) => findings.push(refused(what, code, message)),
            Some(Attempt::Rows(n)) => findings.push(Finding::new(
                t.table.as_str(),
                format!(
                    "{how}, {what} found {n} rows instead of 1: a policy's USING does not admit the tenant's own row, so the tenant cannot read or change what it writes"
                ),
                POLICY_FIX,
            )),
        }
    }
    findings
}

/// What a passing round trip did, table by table.
fn own_rows_note(round: &Round) -> String {
    let mut full = Vec::new();
    let mut partial = Vec::new();
    let mut only_read = Vec::new();
    for t in &round.tables {
        let rules = |what: &str, a: &Option<Attempt>| match a {
            Some(Attempt::Failed { code, message }) => Some(format!(
                "{what} was refused by the table's own rules with {code}: {message}"
            )),
            _ => None,
        };
        if let Some(why) = &t.only_read {
            only_read.push(format!("{}: {why}", t.table));
        } else if let Some(why) =
            rules("the update", &t.update).or_else(|| rules("the delete", &t.delete))
        {
            partial.push(format!("{}: inserted and read back, but {why}", t.table));
        } else {
            full.push(t.table.as_str());
        }
    }
    let mechanism = round.mechanism.map_or_else(
        || "its mechanism".to_owned(),
        |m| format!("the {m} mechanism"),
    );
    let on = round
        .node
        .as_ref()
        .map_or_else(String::new, |n| format!(" (its rows on worker {n})"));
    let mut note = format!(
        "tenant {}{on} entered through TenantPool ({mechanism}) read every tenant table; ",
        round.tenant
    );
    if full.is_empty() {
        note.push_str("it could write a row of its own in no table");
    } else {
        note.push_str(&format!(
            "it inserted, read back, updated and deleted a made-up row of its own in {}",
            full.join(", ")
        ));
    }
    if !partial.is_empty() {
        note.push_str(&format!("; partly: {}", partial.join("; ")));
    }
    if !only_read.is_empty() {
        note.push_str(&format!("; only read: {}", only_read.join("; ")));
    }
    note.push_str(" (all rolled back)");
    note
}

fn tenant_own_rows(ctx: &Ctx<'_>) -> Verdict {
    let Some(probe) = ctx.probe else {
        return Verdict::Skip("the probe was left out (--no-probe)".to_owned());
    };
    if ctx.tenant_tables.is_empty() {
        return Verdict::Skip(ctx.no_tenant_tables());
    }
    let rounds = match &probe.own {
        OwnRows::NotRun(why) => return Verdict::Skip(why.clone()),
        OwnRows::Refused(what) => {
            return Verdict::Fail(vec![Finding::new(
                "TenantPool",
                format!(
                    "{what}: the probe could not enter a tenant as the service does, so nothing shows that a tenant can read and write its own rows"
                ),
                "give check the context key the service uses (TENANT_CONTEXT_KEY; `tenant context-key list` shows the live ones) and fix what the error names",
            )]);
        }
        OwnRows::Ran(rounds) => rounds,
    };
    let role = &ctx.catalog.session.role;
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for round in rounds {
        let before = findings.len();
        round_findings(round, role, &mut findings);
        if findings.len() == before {
            notes.push(own_rows_note(round));
        }
    }
    if findings.is_empty() {
        Verdict::Note(notes.join("; "))
    } else {
        Verdict::Fail(findings)
    }
}

/// What one tenant's round trip found wrong.
fn round_findings(round: &Round, role: &str, findings: &mut Vec<Finding>) {
    let on = round
        .node
        .as_ref()
        .map_or_else(String::new, |n| format!(" (its rows on worker {n})"));
    let how = format!(
        "with tenant {}{on} entered through TenantPool",
        round.tenant
    );
    if !matches!(round.entered, Attempt::Rows(1)) {
        let what = match &round.entered {
            Attempt::Failed { code, message } => format!("failed with {code}: {message}"),
            _ => "returned another tenant, or none".to_owned(),
        };
        findings.push(Finding::new(
            "tenancy.current_tenant()",
            format!(
                "after TenantPool::begin({}), tenancy.current_tenant() {what}: the pool's begin did not enter the tenant",
                round.tenant
            ),
            "apply the emit-rls migration (tenancy.context must read the context the pool's begin sets; with the extension installed, SELECT tenancy.install_context(); as the owner)",
        ));
    }
    for t in &round.tables {
        findings.extend(own_table_findings(t, &how, role));
    }
}
