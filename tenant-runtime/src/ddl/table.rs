//! The DDL section for one tenant table.

use std::fmt::Write as _;

use tenant_sql::ident::quote;
use tenant_sql::{literal, names, types};

use crate::model::meta::{ColumnMeta, TableMeta};
use crate::model::registry::OrderedTable;

/// The tenant column's default: the transaction's tenant
/// (`tenancy.default_tenant()`, which the migration writes for the
/// mechanisms the database has); with no tenant entered, "no tenant
/// context" (TN001).
pub const TENANT_HINT: &str = "tenancy.default_tenant()";

/// Appends the section for `table`.
pub(super) fn emit(out: &mut String, table: &OrderedTable) {
    let meta = table.meta();
    let qualified = meta.quoted_name();
    let tenant = quote(meta.tenant_column);
    let _ = writeln!(out, "-- {}.{}", meta.schema, meta.name);
    create_table(out, meta, &qualified);

    // Inserts that leave the tenant column out get the transaction's tenant
    // from an inlined SQL function (no call per row), and the policy's WITH
    // CHECK compares the row to the verified tenant once per statement, so
    // a forged hint only makes a row that is refused.
    let _ = writeln!(
        out,
        "ALTER TABLE {qualified} ALTER COLUMN {tenant} SET DEFAULT {TENANT_HINT};"
    );
    for column in meta.without_statistics() {
        no_statistics(out, meta, &qualified, column);
    }
    add_constraint(
        out,
        &qualified,
        &names::object(meta.name, &[meta.tenant_column], "fkey"),
        &format!("FOREIGN KEY ({tenant}) REFERENCES public.tenants (id)"),
    );

    // Leads with the tenant: serves the policy's filter, key-ordered paging
    // within a tenant, and is the target of composite foreign keys.
    let tenant_key = [meta.tenant_column, meta.primary_key];
    create_index(out, meta, &qualified, &tenant_key, true);
    for u in meta.uniques {
        create_index(out, meta, &qualified, u.columns, true);
    }
    for i in meta.indexes {
        create_index(out, meta, &qualified, i.columns, false);
    }

    for (column, target) in table.references() {
        reference(out, meta, &qualified, column, target);
    }

    let _ = writeln!(
        out,
        "CREATE OR REPLACE TRIGGER tenant_move_guard BEFORE UPDATE ON {qualified}\n    \
         FOR EACH ROW WHEN (OLD.{tenant} IS DISTINCT FROM NEW.{tenant})\n    \
         EXECUTE FUNCTION tenancy.refuse_tenant_move({});",
        literal::quote(meta.tenant_column)
    );

    let policy = quote(&names::policy(meta.name));
    let _ = writeln!(out, "ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY;");
    let _ = writeln!(out, "ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY;");
    let _ = writeln!(out, "DROP POLICY IF EXISTS {policy} ON {qualified};");
    // The uuid column is compared to a uuid (never cast), so the index on
    // the tenant column serves the filter; the sub-select makes the tenant
    // an initPlan, read once per statement instead of once per row, from
    // the one view that holds the verified context.
    let _ = writeln!(
        out,
        "CREATE POLICY {policy} ON {qualified}\n    \
         USING ({tenant} = (SELECT c.tenant FROM tenancy.context c))\n    \
         WITH CHECK (CASE WHEN {tenant} = (SELECT c.tenant FROM tenancy.context c) THEN true\n        \
         ELSE tenancy.refuse_cross_tenant_write({}, {}, {tenant}) END);",
        literal::quote(meta.schema),
        literal::quote(meta.name)
    );
}

fn create_table(out: &mut String, meta: &TableMeta, table: &str) {
    let _ = writeln!(out, "CREATE TABLE IF NOT EXISTS {table} (");
    let columns: Vec<String> = meta
        .columns
        .iter()
        .map(|c| column_definition(meta, c))
        .collect();
    let _ = writeln!(out, "    {}\n);", columns.join(",\n    "));
}

fn column_definition(meta: &TableMeta, c: &ColumnMeta) -> String {
    let mut def = format!("{} {}", quote(c.name), c.sql_type);
    if let Some(default) = c.default {
        let _ = write!(def, " DEFAULT {default}");
    } else if c.generated
        && let Some(fill) = types::generated_fill(c.sql_type)
    {
        let _ = write!(def, " {fill}");
    }
    if c.name == meta.primary_key {
        def.push_str(" PRIMARY KEY");
    } else if !c.nullable {
        def.push_str(" NOT NULL");
    }
    def
}

pub(super) fn create_index(
    out: &mut String,
    meta: &TableMeta,
    table: &str,
    columns: &[&str],
    unique: bool,
) {
    let (kind, suffix) = if unique {
        ("UNIQUE INDEX", "key")
    } else {
        ("INDEX", "idx")
    };
    let name = quote(&names::object(meta.name, columns, suffix));
    let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let _ = writeln!(
        out,
        "CREATE {kind} IF NOT EXISTS {name} ON {table} ({});",
        cols.join(", ")
    );
}

/// `(tenant, column) -> target (tenant, key)`: a row can only point at a row
/// of its own tenant (foreign key checks do not go through RLS), plus the
/// index that keeps deletes on the target from scanning this table.
pub(super) fn reference(
    out: &mut String,
    meta: &TableMeta,
    table: &str,
    column: &ColumnMeta,
    target: &TableMeta,
) {
    let columns = [meta.tenant_column, column.name];
    let declared = meta
        .indexes
        .iter()
        .map(|i| i.columns)
        .chain(meta.uniques.iter().map(|u| u.columns))
        .any(|cols| cols.starts_with(&columns));
    if !declared {
        create_index(out, meta, table, &columns, false);
    }
    let on_delete = column.references.map(|r| r.on_delete).unwrap_or_default();
    let name = names::object(meta.name, &columns, "fkey");
    let definition = format!(
        "FOREIGN KEY ({}, {}) REFERENCES {} ({}, {}){}",
        quote(meta.tenant_column),
        quote(column.name),
        target.quoted_name(),
        quote(target.tenant_column),
        quote(target.primary_key),
        on_delete.clause(&quote(column.name)),
    );
    // Made again when its delete action is not the declared one, so a
    // changed `on_delete` reaches a database the migration ran on before.
    let body = format!(
        " BEGIN\n    \
         IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = {regclass}::regclass \
         AND conname = {literal} AND confdeltype = '{code}') THEN\n        \
         ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {quoted};\n        \
         ALTER TABLE {table} ADD CONSTRAINT {quoted} {definition};\n    \
         END IF;\n\
         END ",
        regclass = literal::quote(table),
        literal = literal::quote(&name),
        code = on_delete.catalog_code(),
        quoted = quote(&name),
    );
    let _ = writeln!(out, "DO {};", literal::dollar_quote(&body));
}

/// `#[tenant(no_statistics)]`: no planner statistics on `column`.
///
/// Under row-level security PostgreSQL hides `pg_stats` but still plans
/// with a column's statistics when the operator is leakproof (text `=`,
/// `<>`, `<`, `IN`, `^@` are; `LIKE` and `~` are not), so EXPLAIN's row
/// estimates give away its most common values and histogram, every
/// tenant's rows included. `SET STATISTICS 0` makes ANALYZE skip the
/// column (and extended statistics objects with it among their plain
/// columns), but PostgreSQL 15 keeps what ANALYZE collected before: the
/// next ANALYZE does not remove it, and only a superuser can delete from
/// `pg_statistic`. What the table's owner can do is set the column's type
/// again, to the type and collation it has: that drops the column's
/// statistics and the extended statistics data over it, rewrites no rows,
/// keeps plain indexes, rebuilds expression indexes over the column (with
/// their statistics targets back at the default) and checks CHECK
/// constraints over it again (one scan of the table). It needs the
/// ACCESS EXCLUSIVE lock the section's policy statements take anyway, and
/// runs only when there are statistics to clear: `pg_stats` shows them to
/// the owner once `FORCE ROW LEVEL SECURITY` is lifted, which the block
/// does inside the migration's transaction and puts back before it ends,
/// so no other session ever sees the table without it. A view, rule,
/// trigger or policy that uses the column refuses the type change; the
/// block then fails the migration and says what to do, rather than leave
/// the statistics behind. Index expressions and statistics objects over
/// the column get statistics of their own, which `SET STATISTICS 0` on
/// the column does not stop: `tenant check` reports them
/// (`column.no-statistics`).
pub(super) fn no_statistics(out: &mut String, meta: &TableMeta, table: &str, column: &ColumnMeta) {
    let name = quote(column.name);
    let _ = writeln!(
        out,
        "-- #[tenant(no_statistics)]: no planner statistics, and none left from before\n\
         ALTER TABLE {table} ALTER COLUMN {name} SET STATISTICS 0;"
    );
    let regclass = format!("{}::regclass", literal::quote(table));
    let alter_type = literal::quote(&format!("ALTER TABLE {table} ALTER COLUMN {name} TYPE "));
    let body = format!(
        "
DECLARE
    forced boolean;
    collected boolean;
BEGIN
    SELECT c.relforcerowsecurity INTO forced FROM pg_catalog.pg_class c WHERE c.oid = {regclass};
    IF forced THEN
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
    END IF;
    collected := EXISTS (SELECT FROM pg_catalog.pg_stats s
        WHERE s.schemaname = {schema} AND s.tablename = {relname} AND s.attname = {attname});
    IF forced THEN
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
    END IF;
    IF collected THEN
        EXECUTE (SELECT {alter_type} || pg_catalog.format_type(a.atttypid, a.atttypmod)
                 || coalesce(' COLLATE ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(co.collname), '')
            FROM pg_catalog.pg_attribute a
            LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
            LEFT JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
            WHERE a.attrelid = {regclass} AND a.attname = {attname});
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    RAISE EXCEPTION 'cannot clear the planner statistics of %.%: %', {table_text}, {name_text}, SQLERRM
        USING HINT = {hint};
END
",
        schema = literal::quote(meta.schema),
        relname = literal::quote(meta.name),
        attname = literal::quote(column.name),
        table_text = literal::quote(table),
        name_text = literal::quote(&name),
        hint = literal::quote(
            "drop what uses the column before this migration and create it again after it, \
             or have a superuser delete the column's rows from pg_statistic first"
        ),
    );
    let _ = writeln!(out, "DO {};", literal::dollar_quote(&body));
}

/// `ADD CONSTRAINT` has no `IF NOT EXISTS`; adding a name that exists
/// raises duplicate_object, which the block turns into a no-op.
pub(super) fn add_constraint(out: &mut String, table: &str, name: &str, definition: &str) {
    let body = format!(
        " BEGIN\n    \
         ALTER TABLE {table} ADD CONSTRAINT {} {definition};\n\
         EXCEPTION WHEN duplicate_object THEN NULL;\n\
         END ",
        quote(name)
    );
    let _ = writeln!(out, "DO {};", literal::dollar_quote(&body));
}
