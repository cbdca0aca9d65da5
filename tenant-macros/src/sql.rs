//! Query text for one model, built once at compile time so the runtime only
//! ever hands `&'static str` to sqlx (and sqlx caches one prepared statement
//! per text and connection).
//!
//! Scoped queries filter by the tenant explicitly (`$1`) on top of the RLS
//! policy: the generated API stays isolated even on a database where the
//! policies were never applied, and the planner sees a plain parameter.
//!
//! Page sizes are bound as `LIMIT (SELECT $n::bigint)`, not `LIMIT $n`.
//! With a bare parameter, PostgreSQL costs each custom plan with the real
//! limit (say 50 rows) but the generic plan with a guessed 10% of the
//! tenant's rows, so the generic plan never looks as cheap and every
//! execution is planned again, RLS policy included: measured on PostgreSQL
//! 15, that replanning was a third of the server time of listing 50 rows.
//! A sub-select hides the value from both plans alike, the cached generic
//! plan wins after five executions, and the value is still read once.

use crate::model::{Column, Model};

/// Every statement the generated API runs for one table.
pub(crate) struct Queries {
    pub(crate) insert: String,
    pub(crate) scoped: QuerySet,
    pub(crate) system: QuerySet,
    pub(crate) purge_batch: String,
}

/// The read and write statements of one access mode.
pub(crate) struct QuerySet {
    pub(crate) all: String,
    pub(crate) page: String,
    pub(crate) after: String,
    pub(crate) find: String,
    pub(crate) count: String,
    pub(crate) update: String,
    pub(crate) delete: String,
}

/// `"name"`; names are validated plain identifiers, quoting only keeps
/// reserved words such as `user` or `order` usable.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

pub(crate) fn build(model: &Model) -> Queries {
    let table = format!("{}.{}", quote(&model.schema), quote(&model.table));
    let select = select_list(model);
    let tenant = quote(&model.tenant_column().name);
    let key = quote(&model.primary_key_column().name);
    let from = format!("SELECT {select} FROM {table}");

    let insert_cols: Vec<&Column> = model.insert_columns().collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({}) RETURNING {select}",
        join(insert_cols.iter().map(|c| quote(&c.name))),
        join((1..=insert_cols.len()).map(|i| format!("${i}"))),
    );

    let (set, n) = set_clause(model);
    let limit = |n: usize| format!("LIMIT (SELECT ${n}::bigint)");
    let offset = |n: usize| format!("OFFSET (SELECT ${n}::bigint)");
    let scoped = QuerySet {
        all: format!("{from} WHERE {tenant} = $1 ORDER BY {key}"),
        page: format!(
            "{from} WHERE {tenant} = $1 ORDER BY {key} {} {}",
            limit(2),
            offset(3)
        ),
        after: format!(
            "{from} WHERE {tenant} = $1 AND {key} > $2 ORDER BY {key} {}",
            limit(3)
        ),
        find: format!("{from} WHERE {tenant} = $1 AND {key} = $2"),
        count: format!("SELECT count(*) FROM {table} WHERE {tenant} = $1"),
        update: format!(
            "UPDATE {table} SET {set} WHERE {tenant} = ${} AND {key} = ${} RETURNING {select}",
            n + 1,
            n + 2
        ),
        delete: format!("DELETE FROM {table} WHERE {tenant} = $1 AND {key} = $2"),
    };
    let system = QuerySet {
        all: format!("{from} ORDER BY {tenant}, {key}"),
        page: format!("{from} ORDER BY {tenant}, {key} {} {}", limit(1), offset(2)),
        after: format!(
            "{from} WHERE ({tenant}, {key}) > ($1, $2) ORDER BY {tenant}, {key} {}",
            limit(3)
        ),
        find: format!("{from} WHERE {key} = $1"),
        count: format!("SELECT count(*) FROM {table}"),
        update: format!(
            "UPDATE {table} SET {set} WHERE {key} = ${} RETURNING {select}",
            n + 1
        ),
        delete: format!("DELETE FROM {table} WHERE {key} = $1"),
    };
    let purge_batch = format!(
        "DELETE FROM {table} WHERE {key} = ANY (ARRAY(SELECT {key} FROM {table} WHERE {tenant} = $1 LIMIT $2))"
    );
    Queries {
        insert,
        scoped,
        system,
        purge_batch,
    }
}

/// Columns aliased to field names, so `#[derive(sqlx::FromRow)]` on the
/// struct reads them whatever `#[tenant(column = ..)]` renamed.
fn select_list(model: &Model) -> String {
    join(model.columns.iter().map(|c| {
        let field = syn::ext::IdentExt::unraw(&c.field).to_string();
        if field == c.name {
            quote(&c.name)
        } else {
            format!("{} AS {}", quote(&c.name), quote(&field))
        }
    }))
}

/// `"a" = $1, "b" = $2` and the number of parameters it uses. A table with
/// nothing to update sets its key to itself, so `update` still returns the row.
fn set_clause(model: &Model) -> (String, usize) {
    let cols: Vec<&Column> = model.update_columns().collect();
    if cols.is_empty() {
        let key = quote(&model.primary_key_column().name);
        return (format!("{key} = {key}"), 0);
    }
    let set = join(
        cols.iter()
            .enumerate()
            .map(|(i, c)| format!("{} = ${}", quote(&c.name), i + 1)),
    );
    (set, cols.len())
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
