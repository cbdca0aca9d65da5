//! The statements the generated API runs for one table, built once (by
//! the derive, at compile time) so the runtime only hands `&'static str`
//! to sqlx, and sqlx caches one prepared statement per text and
//! connection.
//!
//! Scoped statements filter by the tenant explicitly (`$1`) on top of the
//! row-level security policy: the generated API stays isolated even on a
//! database where the policies were never applied, and the planner sees a
//! plain parameter it can match to the `(tenant, key)` index.
//!
//! Page sizes are bound as `LIMIT (SELECT $n::bigint)`, not `LIMIT $n`.
//! With a bare parameter, PostgreSQL costs each custom plan with the real
//! limit (say 50 rows) but the generic plan with a guessed 10% of the
//! tenant's rows, so the generic plan never looks as cheap and every
//! execution is planned again, policy included: measured on PostgreSQL
//! 15, that replanning was a third of the server time of listing 50 rows.
//! A sub-select hides the value from both plans alike, the cached generic
//! plan wins after five executions, and the value is still read once.

use crate::ident::{qualified, quote};

/// A table as the statements see it. Names are the names themselves
/// (not quoted); the builder quotes them.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    /// Schema.
    pub schema: &'a str,
    /// Table name.
    pub name: &'a str,
    /// The tenant column.
    pub tenant: &'a str,
    /// The single-column primary key.
    pub key: &'a str,
    /// Every column, in field order.
    pub columns: &'a [Column<'a>],
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    /// Column name.
    pub name: &'a str,
    /// The Rust field it is read into (`SELECT .. AS <field>`).
    pub field: &'a str,
    /// Filled by the database: inserts and updates leave it out.
    pub generated: bool,
}

/// Every statement for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statements {
    /// `INSERT .. RETURNING ..`: the non-generated columns, in field order.
    pub insert: String,
    /// Statements of one tenant: `$1` is the tenant.
    pub scoped: QuerySet,
    /// Statements across tenants, for the system role.
    pub system: QuerySet,
    /// Deletes up to `$2` rows of tenant `$1`, for the purge.
    pub purge_batch: String,
    /// The pieces a filtered query is built from at run time.
    pub filter: FilterPieces,
}

/// The fixed parts of a filtered query (`Model::scoped(&tx).filter(..)`):
/// the run time only appends `WHERE`, `ORDER BY` and `LIMIT` clauses made
/// of the quoted names below and of parameters, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPieces {
    /// `SELECT <columns> FROM <table>`.
    pub select: String,
    /// The table, quoted and qualified.
    pub table: String,
    /// The tenant column, quoted.
    pub tenant: String,
    /// The primary key, quoted.
    pub key: String,
}

/// Read and write statements of one access mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySet {
    /// Every row, in key order.
    pub all: String,
    /// `LIMIT` / `OFFSET` page.
    pub page: String,
    /// Keyset page: rows after a key.
    pub after: String,
    /// One row by key.
    pub find: String,
    /// `count(*)`.
    pub count: String,
    /// `UPDATE .. RETURNING ..` by key: the updated columns first, then
    /// (scoped) the tenant and the key.
    pub update: String,
    /// `DELETE` by key.
    pub delete: String,
}

impl Table<'_> {
    /// Columns an INSERT sends: all but the generated ones.
    pub fn insert_columns(&self) -> impl Iterator<Item = &Column<'_>> {
        self.columns.iter().filter(|c| !c.generated)
    }

    /// Columns an UPDATE sets: never the key, the tenant or a generated one.
    pub fn update_columns(&self) -> impl Iterator<Item = &Column<'_>> {
        self.columns
            .iter()
            .filter(|c| c.name != self.tenant && c.name != self.key && !c.generated)
    }

    /// Builds every statement.
    pub fn statements(&self) -> Statements {
        let table = qualified(self.schema, self.name);
        let select = self.select_list();
        let tenant = quote(self.tenant);
        let key = quote(self.key);
        let from = format!("SELECT {select} FROM {table}");

        let inserted: Vec<&Column<'_>> = self.insert_columns().collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING {select}",
            join(inserted.iter().map(|c| quote(c.name))),
            join((1..=inserted.len()).map(|i| format!("${i}"))),
        );

        let (set, n) = self.set_clause();
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
        Statements {
            insert,
            scoped,
            system,
            purge_batch,
            filter: FilterPieces {
                select: from,
                table,
                tenant,
                key,
            },
        }
    }

    /// One row of the tenant (`$1`) by the columns of a unique constraint
    /// other than the tenant column (`$2`, `$3`, .. in the order given):
    /// the statement of a generated `find_by_..` finder.
    pub fn find_by(&self, columns: &[&str]) -> String {
        let table = qualified(self.schema, self.name);
        let mut sql = format!(
            "SELECT {} FROM {table} WHERE {} = $1",
            self.select_list(),
            quote(self.tenant)
        );
        for (i, column) in columns.iter().enumerate() {
            sql.push_str(&format!(" AND {} = ${}", quote(column), i + 2));
        }
        sql
    }

    /// Columns aliased to field names, so `#[derive(sqlx::FromRow)]` reads
    /// them whatever name the column has.
    fn select_list(&self) -> String {
        join(self.columns.iter().map(|c| {
            if c.field == c.name {
                quote(c.name)
            } else {
                format!("{} AS {}", quote(c.name), quote(c.field))
            }
        }))
    }

    /// `"a" = $1, "b" = $2` and the number of parameters it uses. A table
    /// with nothing to update sets its key to itself, so `update` still
    /// returns the row.
    fn set_clause(&self) -> (String, usize) {
        let cols: Vec<&Column<'_>> = self.update_columns().collect();
        if cols.is_empty() {
            let key = quote(self.key);
            return (format!("{key} = {key}"), 0);
        }
        let set = join(
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("{} = ${}", quote(c.name), i + 1)),
        );
        (set, cols.len())
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column<'static>] = &[
        Column {
            name: "id",
            field: "id",
            generated: true,
        },
        Column {
            name: "tenant_id",
            field: "tenant_id",
            generated: false,
        },
        Column {
            name: "Display Name",
            field: "name",
            generated: false,
        },
    ];

    fn table() -> Table<'static> {
        Table {
            schema: "public",
            name: "Order Items",
            tenant: "tenant_id",
            key: "id",
            columns: COLUMNS,
        }
    }

    #[test]
    fn scoped_statements_bind_the_tenant_first_and_quote_every_name() {
        let s = table().statements();
        assert_eq!(
            s.scoped.find,
            "SELECT \"id\", \"tenant_id\", \"Display Name\" AS \"name\" FROM \"public\".\"Order Items\" WHERE \"tenant_id\" = $1 AND \"id\" = $2"
        );
        assert_eq!(
            s.insert,
            "INSERT INTO \"public\".\"Order Items\" (\"tenant_id\", \"Display Name\") VALUES ($1, $2) RETURNING \"id\", \"tenant_id\", \"Display Name\" AS \"name\""
        );
        assert!(s.scoped.update.starts_with(
            "UPDATE \"public\".\"Order Items\" SET \"Display Name\" = $1 WHERE \"tenant_id\" = $2 AND \"id\" = $3"
        ));
        assert!(
            s.scoped
                .page
                .ends_with("LIMIT (SELECT $2::bigint) OFFSET (SELECT $3::bigint)")
        );
        assert!(!s.system.find.contains("tenant_id\" = $"));
    }

    #[test]
    fn a_finder_binds_the_tenant_then_the_unique_columns_in_order() {
        assert_eq!(
            table().find_by(&["Display Name", "id"]),
            "SELECT \"id\", \"tenant_id\", \"Display Name\" AS \"name\" FROM \"public\".\"Order Items\" WHERE \"tenant_id\" = $1 AND \"Display Name\" = $2 AND \"id\" = $3"
        );
        let pieces = table().statements().filter;
        assert_eq!(pieces.table, "\"public\".\"Order Items\"");
        assert_eq!(pieces.tenant, "\"tenant_id\"");
        assert!(pieces.select.starts_with("SELECT \"id\", "));
    }

    #[test]
    fn a_table_with_nothing_to_update_still_returns_the_row() {
        let only_keys = [COLUMNS[0], COLUMNS[1]];
        let t = Table {
            columns: &only_keys,
            ..table()
        };
        let s = t.statements();
        assert!(
            s.scoped
                .update
                .contains("SET \"id\" = \"id\" WHERE \"tenant_id\" = $1 AND \"id\" = $2"),
            "{}",
            s.scoped.update
        );
    }

    #[test]
    fn quotes_in_names_are_escaped() {
        let cols = [
            Column {
                name: "id",
                field: "id",
                generated: false,
            },
            Column {
                name: "tenant_id",
                field: "tenant_id",
                generated: false,
            },
        ];
        let t = Table {
            name: "a\"b",
            columns: &cols,
            ..table()
        };
        assert!(
            t.statements()
                .scoped
                .count
                .contains("FROM \"public\".\"a\"\"b\"")
        );
    }
}
