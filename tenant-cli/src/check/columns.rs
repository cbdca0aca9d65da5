//! The tenant column of each tenant table: a non-null uuid referencing
//! tenants, filled from the transaction's tenant, and never changed.

use super::{Check, Ctx, Finding, Severity, TenantTable, Verdict};

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "column.tenant-uuid-not-null",
        severity: Severity::Error,
        title: "every tenant table has its tenant column, as uuid NOT NULL",
        run: uuid_not_null,
    },
    Check {
        id: "column.tenant-fk",
        severity: Severity::Error,
        title: "every tenant column has a foreign key to public.tenants (id)",
        run: tenant_fk,
    },
    Check {
        id: "column.tenant-default",
        severity: Severity::Warning,
        title: "inserts fill the tenant column from the transaction's tenant (the emit-rls default reads it)",
        run: tenant_default,
    },
    Check {
        id: "column.tenant-move-guard",
        severity: Severity::Warning,
        title: "a trigger refuses to move a row to another tenant, for every role (tenancy.refuse_tenant_move)",
        run: move_guard,
    },
];

fn alter(t: &TenantTable<'_>, what: &str) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} {what};",
        t.table.quoted(),
        t.tenant_column
    )
}

fn uuid_not_null(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let Some(c) = t.column() else {
            let model = t.model.map_or("", |m| m.model);
            return vec![Finding::new(
                t.qualified(),
                format!("has no tenant column {} (model {model} declares it)", t.tenant_column),
                format!(
                    "ALTER TABLE {} ADD COLUMN {} uuid NOT NULL REFERENCES public.tenants (id); (backfill it first for existing rows)",
                    t.table.quoted(),
                    t.tenant_column
                ),
            )];
        };
        let mut findings = Vec::new();
        if c.sql_type != "uuid" {
            findings.push(Finding::new(
                t.qualified(),
                format!("tenant column {} is {}, not uuid", c.name, c.sql_type),
                alter(t, &format!("TYPE uuid USING {}::uuid", c.name)),
            ));
        }
        if !c.not_null {
            findings.push(Finding::new(
                t.qualified(),
                format!(
                    "tenant column {} allows NULL: a row without a tenant belongs to no one, and `NULL = tenant` hides it from everyone but bypassing roles",
                    c.name
                ),
                alter(t, "SET NOT NULL"),
            ));
        }
        findings
    })
}

fn tenant_fk(ctx: &Ctx<'_>) -> Verdict {
    let tenants = ctx.catalog.tenants().map(|t| t.oid);
    ctx.each_table(|t| {
        if t.column().is_none() {
            return Vec::new();
        }
        let has = t.table.foreign_keys().any(|fk| {
            fk.columns == [t.tenant_column] && Some(fk.ref_oid) == tenants && fk.ref_columns == ["id"]
        });
        if has {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "tenant column {} has no foreign key to public.tenants (id): rows can name a tenant that does not exist, and a purged tenant can leave rows behind",
                t.tenant_column
            ),
            format!(
                "ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES public.tenants (id);",
                t.table.quoted(),
                t.tenant_column
            ),
        )]
    })
}

fn tenant_default(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let Some(c) = t.column() else { return Vec::new() };
        let by_default = c
            .default
            .as_deref()
            .is_some_and(|d| {
                d.contains("default_tenant()")
                    || d.contains("current_tenant()")
                    || d.contains("'app.current_tenant'")
            });
        let by_trigger = t.table.triggers.iter().any(|tr| tr.enabled && tr.before && tr.on_insert);
        if by_default || by_trigger {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "nothing fills {} on insert (default: {}): every INSERT must name the tenant, and a raw INSERT that forgets it fails",
                c.name,
                c.default.as_deref().unwrap_or("none")
            ),
            alter(t, &format!("SET DEFAULT {}", tenant_runtime::ddl::TENANT_DEFAULT)),
        )]
    })
}

fn move_guard(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let guarded = t.table.triggers.iter().any(|tr| {
            tr.enabled && tr.before && tr.on_update && tr.function == "tenancy.refuse_tenant_move"
        });
        if guarded || t.column().is_none() {
            return Vec::new();
        }
        let col = t.tenant_column;
        vec![Finding::new(
            t.qualified(),
            format!(
                "no trigger stops an UPDATE from changing {col}: the system role (which bypasses row-level security) can move a row to another tenant"
            ),
            format!(
                "CREATE TRIGGER tenant_move_guard BEFORE UPDATE ON {} FOR EACH ROW WHEN (OLD.{col} IS DISTINCT FROM NEW.{col}) EXECUTE FUNCTION tenancy.refuse_tenant_move('{col}');",
                t.table.quoted()
            ),
        )]
    })
}
