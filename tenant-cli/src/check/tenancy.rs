//! The shared part emit-rls installs: the tenants table (readable by the
//! application role, writable only by the system role) and the `tenancy`
//! functions every policy and default goes through.

use super::{Check, Ctx, Finding, Severity, Verdict};
use crate::catalog::{Catalog, Table, TenancyFunction};

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "tenants.exists",
        severity: Severity::Error,
        title: "the tenants table public.tenants exists",
        run: exists,
    },
    Check {
        id: "tenants.shape",
        severity: Severity::Error,
        title: "public.tenants has id uuid primary key, name, unique slug, created_at and deleted_at",
        run: shape,
    },
    Check {
        id: "tenants.readable",
        severity: Severity::Error,
        title: "the application role can read public.tenants (to resolve a request's tenant)",
        run: readable,
    },
    Check {
        id: "tenants.write-system-only",
        severity: Severity::Error,
        title: "the application role cannot insert, update, delete or truncate public.tenants",
        run: write_system_only,
    },
    Check {
        id: "context.current-tenant",
        severity: Severity::Error,
        title: "the view tenancy.context and tenancy.current_tenant() exist, and the application role can read them",
        run: current_tenant,
    },
    Check {
        id: "context.enter-tenant",
        severity: Severity::Error,
        title: "tenancy.open_session(integer, bytea, bytea) and the procedure tenancy.enter(uuid, uuid, bigint, text, text) exist and the application role can call them (TenantPool does)",
        run: enter_tenant,
    },
    Check {
        id: "context.functions-pinned",
        severity: Severity::Error,
        title: "every tenancy function pins search_path = pg_catalog, pg_temp (nothing a session sets can change what it calls)",
        run: functions_pinned,
    },
    Check {
        id: "context.keys-private",
        severity: Severity::Error,
        title: "the application role cannot read or write tenancy.context_keys",
        run: keys_private,
    },
    Check {
        id: "context.no-compat-for-app",
        severity: Severity::Error,
        title: "the application role is not in tenancy.compat_roles (which would let any of its SQL set the tenant)",
        run: no_compat_for_app,
    },
    Check {
        id: "context.guard-functions",
        severity: Severity::Error,
        title: "tenancy.refuse_cross_tenant_write(text, text, uuid) and tenancy.refuse_tenant_move() exist",
        run: guard_functions,
    },
];

const APPLY_DDL: &str = "apply the migration `emit-rls -o migrations/` writes (it creates the tenants table and the tenancy schema)";
const NO_TENANTS: &str = "there is no public.tenants table (see tenants.exists)";

fn exists(ctx: &Ctx<'_>) -> Verdict {
    if ctx.catalog.tenants().is_some() {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        "public.tenants",
        "there is no public.tenants table: tenant ids cannot be resolved or checked, and tenant columns have nothing to reference",
        APPLY_DDL,
    )])
}

/// Column, accepted `format_type`s, NOT NULL required.
const TENANTS_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("id", &["uuid"], true),
    ("name", &["text", "character varying"], true),
    ("slug", &["text", "character varying"], true),
    ("created_at", &["timestamp with time zone"], true),
    ("deleted_at", &["timestamp with time zone"], false),
];

fn shape(ctx: &Ctx<'_>) -> Verdict {
    let Some(t) = ctx.catalog.tenants() else {
        return Verdict::Skip(NO_TENANTS.to_owned());
    };
    let mut findings = Vec::new();
    let mut wrong =
        |message: String, fix: String| findings.push(Finding::new("public.tenants", message, fix));
    for &(name, types, not_null) in TENANTS_COLUMNS {
        match t.column(name) {
            None if name == "deleted_at" => wrong(
                "has no deleted_at column: the tenants API reads it (soft delete and purge)"
                    .to_owned(),
                "ALTER TABLE public.tenants ADD COLUMN deleted_at timestamptz;".to_owned(),
            ),
            None => wrong(format!("has no {name} column"), APPLY_DDL.to_owned()),
            Some(c) => {
                let base = c.sql_type.split('(').next().unwrap_or_default();
                if !types.contains(&base) {
                    wrong(
                        format!("column {name} is {}, expected {}", c.sql_type, types[0]),
                        format!(
                            "ALTER TABLE public.tenants ALTER COLUMN {name} TYPE {} USING {name}::{};",
                            types[0], types[0]
                        ),
                    );
                }
                if not_null && !c.not_null {
                    wrong(
                        format!("column {name} allows NULL"),
                        format!("ALTER TABLE public.tenants ALTER COLUMN {name} SET NOT NULL;"),
                    );
                }
            }
        }
    }
    if t.primary_key() != ["id"] {
        wrong(
            format!(
                "the primary key is ({}), not (id)",
                t.primary_key().join(", ")
            ),
            "ALTER TABLE public.tenants ADD PRIMARY KEY (id);".to_owned(),
        );
    }
    let slug_unique = t
        .indexes
        .iter()
        .any(|i| i.unique && !i.partial && i.columns == ["slug"]);
    if t.column("slug").is_some() && !slug_unique {
        wrong(
            "slug is not unique: two tenants could resolve from one subdomain or path".to_owned(),
            "ALTER TABLE public.tenants ADD CONSTRAINT tenants_slug_key UNIQUE (slug);".to_owned(),
        );
    }
    Verdict::from_findings(findings)
}

fn readable(ctx: &Ctx<'_>) -> Verdict {
    let Some(t) = ctx.catalog.tenants() else {
        return Verdict::Skip(NO_TENANTS.to_owned());
    };
    let role = &ctx.catalog.session.role;
    let reason = if !t.can_select {
        format!("{role} has no SELECT on public.tenants")
    } else if rls_applies(ctx.catalog, t)
        && !t
            .policies
            .iter()
            .any(|p| p.permissive && p.applies_to_role && p.allows_reads())
    {
        format!("row-level security is on and no policy lets {role} read public.tenants")
    } else {
        return Verdict::Pass;
    };
    Verdict::Fail(vec![Finding::new(
        "public.tenants",
        format!("{reason}: the application cannot resolve a request's slug to its tenant"),
        format!(
            "GRANT SELECT ON public.tenants TO {role}; CREATE POLICY rls_tenants_read ON public.tenants FOR SELECT USING (true);"
        ),
    )])
}

/// Whether policies are enforced on the session's role for `t`.
fn rls_applies(catalog: &Catalog, t: &Table) -> bool {
    t.rls_enabled && (t.rls_forced || t.owner != catalog.session.role)
}

fn write_system_only(ctx: &Ctx<'_>) -> Verdict {
    let Some(t) = ctx.catalog.tenants() else {
        return Verdict::Skip(NO_TENANTS.to_owned());
    };
    let role = &ctx.catalog.session.role;
    let mut findings = Vec::new();
    if t.can_truncate {
        findings.push(Finding::new(
            "public.tenants",
            format!("{role} may TRUNCATE public.tenants, and TRUNCATE ignores row-level security"),
            format!("REVOKE TRUNCATE ON public.tenants FROM {role};"),
        ));
    }
    let writes = t.can_insert || t.can_update || t.can_delete;
    if writes && !rls_applies(ctx.catalog, t) {
        findings.push(Finding::new(
            "public.tenants",
            format!(
                "{role} has write privileges on public.tenants and row-level security does not apply to it there, so any statement of the service can create, rename or delete tenants"
            ),
            format!(
                "ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY; ALTER TABLE public.tenants FORCE ROW LEVEL SECURITY; or REVOKE INSERT, UPDATE, DELETE ON public.tenants FROM {role};"
            ),
        ));
    } else if writes {
        for p in t
            .policies
            .iter()
            .filter(|p| p.permissive && p.applies_to_role && p.allows_writes())
            // The migration's policy for @usebetterdev/tenant's system
            // switch holds only for roles in tenancy.compat_roles, which
            // the application role must not be (context.no-compat-for-app).
            .filter(|p| !is_compat_system_policy(p))
        {
            findings.push(Finding::new(
                "public.tenants",
                format!(
                    "policy {} lets {role} write tenants (USING {}): only the system role, which bypasses row-level security, should",
                    p.name,
                    p.using.as_deref().unwrap_or("true")
                ),
                format!("DROP POLICY {} ON public.tenants;", p.name),
            ));
        }
    }
    Verdict::from_findings(findings)
}

/// The emit-rls policy `rls_tenants_compat_system`, exactly as written.
fn is_compat_system_policy(p: &crate::catalog::Policy) -> bool {
    const EXPR: &str = "( SELECT tenancy.compat_system() AS compat_system)";
    p.name == "rls_tenants_compat_system"
        && p.using.as_deref() == Some(EXPR)
        && p.check.as_deref() == Some(EXPR)
}

/// Checks that `tenancy.<name>` exists with these arguments and result,
/// and (when `execute`) that the session's role can call it.
fn function(
    ctx: &Ctx<'_>,
    name: &str,
    args: &[&str],
    returns: &str,
    execute: bool,
) -> Vec<Finding> {
    let object = format!("tenancy.{name}");
    let found: Vec<&TenancyFunction> = ctx
        .catalog
        .tenancy_functions
        .iter()
        .filter(|f| f.name == name)
        .collect();
    let Some(f) = found
        .iter()
        .find(|f| arg_types(&f.args) == args && f.returns == returns)
    else {
        let message = match found.first() {
            Some(other) => format!(
                "tenancy.{name}({}) returns {}, expected tenancy.{name}({}) returning {returns}",
                other.args,
                other.returns,
                args.join(", ")
            ),
            None => format!("tenancy.{name}({}) does not exist", args.join(", ")),
        };
        return vec![Finding::new(object, message, APPLY_DDL)];
    };
    let role = &ctx.catalog.session.role;
    let mut findings = Vec::new();
    if execute && ctx.catalog.tenancy_usage != Some(true) {
        findings.push(Finding::new(
            "tenancy",
            format!("{role} has no USAGE on schema tenancy, so every policy that calls tenancy.{name} fails"),
            "GRANT USAGE ON SCHEMA tenancy TO PUBLIC;",
        ));
    }
    if execute && !f.can_execute {
        findings.push(Finding::new(
            object,
            format!(
                "{role} may not EXECUTE tenancy.{name}, so every statement that needs it fails"
            ),
            format!(
                "GRANT EXECUTE ON ROUTINE tenancy.{name}({}) TO {role};",
                args.join(", ")
            ),
        ));
    }
    findings
}

/// `table_name text, row_tenant uuid` -> `[text, uuid]`.
fn arg_types(identity_args: &str) -> Vec<&str> {
    identity_args
        .split(", ")
        .filter(|a| !a.is_empty())
        .map(|a| a.rsplit(' ').next().unwrap_or(a))
        .collect()
}

fn current_tenant(ctx: &Ctx<'_>) -> Verdict {
    let mut findings = function(ctx, "current_tenant", &[], "uuid", true);
    let role = &ctx.catalog.session.role;
    match ctx
        .catalog
        .views
        .iter()
        .find(|v| v.schema == "tenancy" && v.name == "context")
    {
        None => findings.push(Finding::new(
            "tenancy.context",
            "the view tenancy.context does not exist: every policy reads the verified tenant through it",
            APPLY_DDL,
        )),
        Some(v) if !v.can_select => findings.push(Finding::new(
            "tenancy.context",
            format!("{role} may not read tenancy.context, so every statement on a tenant table fails"),
            "GRANT SELECT ON tenancy.context TO PUBLIC;".to_owned(),
        )),
        Some(_) => {}
    }
    Verdict::from_findings(findings)
}

fn enter_tenant(ctx: &Ctx<'_>) -> Verdict {
    let mut findings = function(
        ctx,
        "open_session",
        &["integer", "bytea", "bytea"],
        "void",
        true,
    );
    findings.extend(function(
        ctx,
        "enter",
        &["uuid", "uuid", "bigint", "text", "text"],
        "procedure",
        true,
    ));
    Verdict::from_findings(findings)
}

/// What every tenancy function's `SET` clause must hold.
const PINNED: &str = "search_path=pg_catalog, pg_temp";

/// The tenancy functions that must not pin it: the column default, and
/// with the extension the readers of the tenant and the user, which
/// PostgreSQL inlines where they are called only without a `SET` clause
/// (their bodies qualify every name they use, so a search_path changes
/// nothing in them).
const INLINED: &[&str] = &["default_tenant", "entered_tenant", "current_user_id"];

fn functions_pinned(ctx: &Ctx<'_>) -> Verdict {
    if ctx.catalog.tenancy_functions.is_empty() {
        return Verdict::Skip("there is no tenancy schema (see context.current-tenant)".to_owned());
    }
    let findings = ctx
        .catalog
        .tenancy_functions
        .iter()
        .filter(|f| !f.config.iter().any(|c| c == PINNED))
        .filter(|f| !(f.args.is_empty() && INLINED.contains(&f.name.as_str())))
        .map(|f| {
            let function = format!("tenancy.{}({})", f.name, f.args);
            Finding::new(
                function.as_str(),
                format!(
                    "{function} runs with the caller's search_path: a session that put its own schema first could change what the function calls"
                ),
                format!(
                    "ALTER ROUTINE {function} SET search_path = pg_catalog, pg_temp; (the emit-rls migration pins every function it creates)"
                ),
            )
        })
        .collect();
    Verdict::from_findings(findings)
}

fn keys_private(ctx: &Ctx<'_>) -> Verdict {
    let Some(keys) = ctx.catalog.table("tenancy", "context_keys") else {
        return Verdict::Fail(vec![Finding::new(
            "tenancy.context_keys",
            "there is no tenancy.context_keys table: no tenant pool can open a connection",
            APPLY_DDL,
        )]);
    };
    let role = &ctx.catalog.session.role;
    let readable = keys.can_select || keys.can_insert || keys.can_update || keys.can_delete;
    if !readable && keys.public_privileges.is_empty() {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        "tenancy.context_keys",
        format!(
            "{role} (or PUBLIC) may read or write the context keys: with a key, injected SQL can open a tenancy session of its own and enter any tenant"
        ),
        format!(
            "REVOKE ALL ON tenancy.context_keys FROM PUBLIC, {};",
            tenant_sql::ident::quote(role)
        ),
    )])
}

fn no_compat_for_app(ctx: &Ctx<'_>) -> Verdict {
    let Some(roles) = &ctx.catalog.compat_roles else {
        return Verdict::Skip("tenancy.compat_roles is missing or unreadable".to_owned());
    };
    let role = &ctx.catalog.session.role;
    if !roles.contains(role) {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        role.as_str(),
        format!(
            "{role} is in tenancy.compat_roles: its sessions may enter any tenant with set_config, so injected SQL can too"
        ),
        format!(
            "tenant compat --disallow-role {role} (compatibility mode is for a separate role of a service that only calls set_config)"
        ),
    )])
}

fn guard_functions(ctx: &Ctx<'_>) -> Verdict {
    let mut findings = function(
        ctx,
        "refuse_cross_tenant_write",
        &["text", "text", "uuid"],
        "boolean",
        true,
    );
    findings.extend(function(ctx, "refuse_tenant_move", &[], "trigger", false));
    Verdict::from_findings(findings)
}

#[cfg(test)]
mod tests {
    use super::arg_types;

    #[test]
    fn argument_types_drop_the_names() {
        assert_eq!(
            arg_types("table_name text, row_tenant uuid"),
            ["text", "uuid"]
        );
        assert_eq!(arg_types("uuid"), ["uuid"]);
        assert!(arg_types("").is_empty());
    }
}
