//! Table metadata the derive writes at compile time, all `&'static`.
//!
//! The registry, the DDL emitter, the purge and the `check` command read
//! these; nothing here is computed at run time. Names are the SQL names
//! themselves, unquoted (`Order Items`, not `"Order Items"`); whatever
//! writes SQL quotes them through `tenant_sql::ident`.

/// One `#[derive(TenantScoped)]` model and the table it maps to.
#[derive(Debug)]
pub struct TableMeta {
    /// The Rust type, `crate::module::Type`, for error messages.
    pub model: &'static str,
    /// SQL schema (`public` unless `#[tenant_table(schema = "..")]`).
    pub schema: &'static str,
    /// SQL table name.
    pub name: &'static str,
    /// The column holding the tenant id.
    pub tenant_column: &'static str,
    /// The single-column primary key.
    pub primary_key: &'static str,
    /// Every column, in struct field order.
    pub columns: &'static [ColumnMeta],
    /// `unique(..)` and `global_unique(..)` sets, as declared.
    pub uniques: &'static [UniqueMeta],
    /// `index(..)` sets, as declared.
    pub indexes: &'static [IndexMeta],
    /// Query text for the generated API.
    pub sql: TableSql,
}

/// One column.
#[derive(Debug)]
pub struct ColumnMeta {
    /// SQL column name.
    pub name: &'static str,
    /// Rust field name.
    pub field: &'static str,
    /// SQL type, e.g. `bigint` or `text[]`.
    pub sql_type: &'static str,
    /// `Option<T>` in Rust, NULL allowed in SQL.
    pub nullable: bool,
    /// Filled by the database; inserts and updates leave it out.
    pub generated: bool,
    /// SQL default expression from `#[tenant(default = "..")]`.
    pub default: Option<&'static str>,
    /// Another tenant table this column points at.
    pub references: Option<TableRef>,
    /// `#[tenant(no_statistics)]`: the planner keeps no statistics on this
    /// column (`SET STATISTICS 0`, and the migration clears what ANALYZE
    /// collected before), so EXPLAIN row estimates cannot give its values
    /// away to other tenants.
    pub no_statistics: bool,
}

pub use tenant_sql::on_delete::OnDelete;

/// The table a `references = ".."` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRef {
    /// Its schema; `None` means the referencing table's own.
    pub schema: Option<&'static str>,
    /// Its name.
    pub name: &'static str,
    /// What deleting the referenced row does (`on_delete = ".."`).
    pub on_delete: OnDelete,
}

impl std::fmt::Display for TableRef {
    /// `schema.name`, or `name` when it is in the referencing table's schema.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

impl TableRef {
    /// `(schema, name)`, the schema filled from the referencing table.
    pub fn resolve(&self, from: &TableMeta) -> (&'static str, &'static str) {
        (self.schema.unwrap_or(from.schema), self.name)
    }
}

/// A set of columns that is unique together.
#[derive(Debug)]
pub struct UniqueMeta {
    /// SQL column names, in declared order.
    pub columns: &'static [&'static str],
    /// Declared with `global_unique(..)`: unique across all tenants.
    pub global: bool,
}

/// A declared index.
#[derive(Debug)]
pub struct IndexMeta {
    /// SQL column names, in declared order.
    pub columns: &'static [&'static str],
}

/// Every statement the generated API runs for one table.
#[derive(Debug)]
pub struct TableSql {
    /// `INSERT .. RETURNING ..`, non-generated columns in field order.
    pub insert: &'static str,
    /// Statements run through [`Scoped`](crate::query::Scoped): `$1` is the tenant.
    pub scoped: QuerySql,
    /// Statements run through [`System`](crate::query::System), across tenants.
    pub system: QuerySql,
    /// Deletes up to `$2` rows of tenant `$1`, for the purge.
    pub purge_batch: &'static str,
    /// What filtered queries ([`Query`](crate::query::Query)) are built from.
    pub filter: FilterSql,
}

/// The fixed parts of a filtered query: the run time appends clauses of
/// quoted names and parameters to them, never a value.
#[derive(Debug)]
pub struct FilterSql {
    /// `SELECT <columns> FROM <table>`.
    pub select: &'static str,
    /// The table, quoted and qualified.
    pub table: &'static str,
    /// The tenant column, quoted.
    pub tenant: &'static str,
    /// The primary key, quoted.
    pub key: &'static str,
}

/// Read and write statements of one access mode.
#[derive(Debug)]
pub struct QuerySql {
    /// Every row, in key order.
    pub all: &'static str,
    /// `LIMIT` / `OFFSET` page.
    pub page: &'static str,
    /// Keyset page: rows after a key.
    pub after: &'static str,
    /// One row by primary key.
    pub find: &'static str,
    /// `count(*)`.
    pub count: &'static str,
    /// `UPDATE .. RETURNING ..` by primary key.
    pub update: &'static str,
    /// `DELETE` by primary key.
    pub delete: &'static str,
}

impl TableSql {
    /// No statements: for metadata that is not a compiled model (a model
    /// that failed to validate, or one `init` reads from a database).
    #[doc(hidden)]
    pub const NONE: TableSql = {
        const NONE: QuerySql = QuerySql {
            all: "",
            page: "",
            after: "",
            find: "",
            count: "",
            update: "",
            delete: "",
        };
        TableSql {
            insert: "",
            scoped: NONE,
            system: NONE,
            purge_batch: "",
            filter: FilterSql {
                select: "",
                table: "",
                tenant: "",
                key: "",
            },
        }
    };
}

impl TableMeta {
    /// `schema.table`, as written in messages (the names as they are, not
    /// quoted).
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"schema"."table"`, for SQL text.
    pub fn quoted_name(&self) -> String {
        tenant_sql::ident::qualified(self.schema, self.name)
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&'static ColumnMeta> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Columns that reference another tenant table.
    pub fn references(&self) -> impl Iterator<Item = &'static ColumnMeta> {
        self.columns.iter().filter(|c| c.references.is_some())
    }

    /// Columns marked `#[tenant(no_statistics)]`.
    pub fn without_statistics(&self) -> impl Iterator<Item = &'static ColumnMeta> {
        self.columns.iter().filter(|c| c.no_statistics)
    }
}
