//! Model skeletons from existing tables, for `init` and `add-table`: a
//! `#[derive(TenantScoped)]` struct per tenant table, with the Rust type
//! of each column and the attributes that reproduce the table's key,
//! defaults, unique keys, indexes and references. What a model cannot say
//! is written as a `// review:` note next to the item it is about.
//!
//! The same description also becomes [`TableMeta`], so the migration
//! `init` writes is exactly what `emit-rls` prints once the skeletons are
//! compiled into a crate.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tenant_runtime::meta::{
    ColumnMeta, IndexMeta, OnDelete, TableMeta, TableRef, TableSql, UniqueMeta,
};
use tenant_sql::{default_expr, ident, types};

use crate::catalog::{Catalog, Column, Table};

/// A model to write.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) struct_name: String,
    pub(crate) tenant_column: String,
    /// `None` without a single-column primary key (the derive needs one).
    pub(crate) primary_key: Option<String>,
    pub(crate) fields: Vec<Field>,
    /// Column lists of `unique(..)` (`global` false) and `global_unique(..)`.
    pub(crate) uniques: Vec<(Vec<String>, bool)>,
    pub(crate) indexes: Vec<Vec<String>>,
    /// Notes about the table as a whole.
    pub(crate) notes: Vec<String>,
}

/// A field of a model.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) column: String,
    /// The Rust name (`r#type` for a keyword).
    pub(crate) ident: String,
    /// With `Option<..>` when nullable.
    pub(crate) rust_type: String,
    /// The SQL type the derive will record: inferred from the Rust type,
    /// or `sql_type = ".."` when that differs from the database.
    pub(crate) sql_type: String,
    pub(crate) explicit_sql_type: bool,
    pub(crate) nullable: bool,
    pub(crate) generated: bool,
    pub(crate) default: Option<String>,
    pub(crate) references: Option<Reference>,
    /// `SET STATISTICS 0` in the database: `#[tenant(no_statistics)]`.
    pub(crate) no_statistics: bool,
    /// The sqlx feature `rust_type` needs.
    pub(crate) sqlx_feature: Option<&'static str>,
    pub(crate) doc: String,
    pub(crate) notes: Vec<String>,
}

/// The tenant table a column points at; no schema means the model's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) schema: Option<String>,
    pub(crate) table: String,
    pub(crate) on_delete: OnDelete,
}

impl Reference {
    /// As written in `references = ".."`.
    fn spelled(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", ident::spell(schema), ident::spell(&self.table)),
            None => ident::spell(&self.table),
        }
    }

    fn qualified(&self, from_schema: &str) -> (String, String) {
        (
            self.schema
                .clone()
                .unwrap_or_else(|| from_schema.to_owned()),
            self.table.clone(),
        )
    }
}

/// The tables of `catalog` that have `tenant_column`, except the tenants
/// table itself.
pub(crate) fn tenant_tables<'c>(catalog: &'c Catalog, tenant_column: &str) -> Vec<&'c Table> {
    catalog
        .tables
        .iter()
        .filter(|t| {
            t.column(tenant_column).is_some() && !(t.schema == "public" && t.name == "tenants")
        })
        .collect()
}

/// Describes every table of `tables` as a model; `tables` are the tenant
/// tables a reference may point at.
pub(crate) fn models(catalog: &Catalog, tables: &[&Table], tenant_column: &str) -> Vec<Model> {
    let mut models: Vec<Model> = tables
        .iter()
        .map(|t| model(catalog, t, tables, tenant_column))
        .collect();
    // A reference needs a target model with a key (the foreign key goes to
    // it); one without a key gets no references attribute, only a note.
    let keyed: BTreeSet<(String, String)> = models
        .iter()
        .filter(|m| m.primary_key.is_some())
        .map(|m| (m.schema.clone(), m.table.clone()))
        .collect();
    for m in &mut models {
        let schema = m.schema.clone();
        for f in &mut m.fields {
            let Some(target) = f
                .references
                .take_if(|r| !keyed.contains(&r.qualified(&schema)))
            else {
                continue;
            };
            let target = target.spelled();
            f.notes.push(format!("references {target}, which has no single-column primary key to point at: add one, then #[tenant(references = {target:?})]"));
        }
    }
    // Two schemas with a table of the same name: prefix the schema.
    let names: Vec<String> = models.iter().map(|m| m.struct_name.clone()).collect();
    for m in &mut models {
        if names.iter().filter(|n| **n == m.struct_name).count() > 1 {
            m.struct_name = format!("{}{}", pascal_case(&m.schema), m.struct_name);
        }
    }
    models
}

fn model(catalog: &Catalog, t: &Table, tenant_tables: &[&Table], tenant_column: &str) -> Model {
    let mut notes = Vec::new();
    let primary_key = match t.primary_key() {
        [one] if one != tenant_column => Some(one.clone()),
        [] => {
            notes.push("the table has no primary key; the derive needs a single-column one: add it (ALTER TABLE .. ADD PRIMARY KEY (id)) and mark its field #[tenant(primary_key)]".to_owned());
            None
        }
        many => {
            notes.push(format!(
                "the primary key is ({}); the derive supports a single-column key: add an `id` column with a unique key and mark it #[tenant(primary_key)]",
                many.join(", ")
            ));
            None
        }
    };
    let mut fields: Vec<Field> = t
        .columns
        .iter()
        .map(|c| {
            field(
                c,
                c.name == tenant_column,
                primary_key.as_deref() == Some(&c.name),
            )
        })
        .collect();
    // Two columns that differ only in case or punctuation ("createdBy",
    // "created_by") would get one field name: number the later ones.
    let mut taken = BTreeSet::new();
    for f in &mut fields {
        let base = f.ident.clone();
        let mut n = 1;
        while !taken.insert(f.ident.clone()) {
            n += 1;
            f.ident = format!("{}_{n}", base.strip_prefix("r#").unwrap_or(&base));
        }
    }

    // References: (x) -> t(id) or (tenant, x) -> t(tenant, id) to a tenant table.
    for fk in t.foreign_keys() {
        let Some(target) = catalog.table_by_oid(fk.ref_oid) else {
            continue;
        };
        if target.schema == "public" && target.name == "tenants" {
            continue;
        }
        let is_tenant = tenant_tables.iter().any(|x| x.oid == target.oid);
        let own: Vec<&String> = fk.columns.iter().filter(|c| *c != tenant_column).collect();
        let target_key = target.primary_key();
        let pairs_tenant = fk.columns.len() == 1
            || fk
                .columns
                .iter()
                .zip(&fk.ref_columns)
                .any(|(a, b)| a == tenant_column && b == tenant_column);
        let points_at_key = target_key.len() == 1
            && fk
                .columns
                .iter()
                .zip(&fk.ref_columns)
                .all(|(a, b)| a == tenant_column || *b == target_key[0]);
        match (is_tenant, own.as_slice()) {
            (true, [column]) if pairs_tenant && points_at_key => {
                let on_delete = OnDelete::ALL
                    .iter()
                    .map(|(_, action)| *action)
                    .find(|action| action.catalog_code() == fk.on_delete);
                if on_delete.is_none() {
                    notes.push(format!(
                        "foreign key {} deletes with an action a model cannot declare (SET DEFAULT, or SET NULL of every column): the model says no_action",
                        fk.name
                    ));
                }
                let reference = Reference {
                    schema: (target.schema != t.schema).then(|| target.schema.clone()),
                    table: target.name.clone(),
                    on_delete: on_delete.unwrap_or_default(),
                };
                if let Some(f) = fields.iter_mut().find(|f| f.column == **column && f.references.is_none()) {
                    f.references = Some(reference);
                }
            }
            _ => notes.push(format!(
                "foreign key {} ({}) -> {} ({}) has no model attribute (references = \"..\" maps one column to a tenant table's key): keep it in a migration of your own",
                fk.name,
                fk.columns.join(", "),
                target.qualified(),
                fk.ref_columns.join(", ")
            )),
        }
    }

    let reference_columns: BTreeSet<&str> = fields
        .iter()
        .filter(|f| f.references.is_some())
        .map(|f| f.column.as_str())
        .collect();
    let mut uniques = Vec::new();
    let mut indexes = Vec::new();
    for i in t.indexes.iter().filter(|i| !i.primary) {
        let kind = if i.unique { "unique index" } else { "index" };
        let unsupported = if i.partial {
            Some("is partial (WHERE ..)".to_owned())
        } else if i.method != "btree" {
            Some(format!("uses {}", i.method))
        } else if i.columns.iter().any(String::is_empty) {
            Some("is on an expression".to_owned())
        } else {
            None
        };
        if let Some(why) = unsupported {
            let columns: Vec<&str> = i
                .columns
                .iter()
                .map(|c| if c.is_empty() { "(expression)" } else { c })
                .collect();
            notes.push(format!(
                "{kind} {} ({}) {why}, which unique(..) and index(..) cannot say: keep it in a migration of your own",
                i.name,
                columns.join(", ")
            ));
            continue;
        }
        let columns = i.columns.clone();
        let has_tenant = columns.iter().any(|c| c == tenant_column);
        // What emit-rls creates by itself: (tenant, key), and (tenant, x)
        // for a reference x.
        let tenant_key = primary_key
            .as_ref()
            .is_some_and(|pk| columns == [tenant_column, pk.as_str()]);
        let reference_index = columns.len() == 2
            && columns[0] == tenant_column
            && reference_columns.contains(columns[1].as_str());
        if (i.unique && tenant_key) || (!i.unique && reference_index) {
            continue;
        }
        if i.unique && !has_tenant {
            notes.push(format!(
                "unique index {} ({}) leaves out {tenant_column}, so it is unique across all tenants: keep global_unique if that is meant, else write unique({tenant_column}, {})",
                i.name,
                columns.join(", "),
                columns.join(", ")
            ));
        }
        let set = (columns, !has_tenant);
        if i.unique {
            if !uniques.contains(&set) {
                uniques.push(set);
            }
        } else if !indexes.contains(&set.0) {
            indexes.push(set.0);
        }
    }

    Model {
        schema: t.schema.clone(),
        table: t.name.clone(),
        struct_name: pascal_case(&singular(&t.name)),
        tenant_column: tenant_column.to_owned(),
        primary_key,
        fields,
        uniques,
        indexes,
        notes,
    }
}

/// Column defaults that mean "the database fills this in".
fn fills_itself(c: &Column) -> bool {
    let default = c.default.as_deref().unwrap_or_default();
    c.identity
        || default.starts_with("nextval(")
        || (c.type_name == "uuid" && matches!(default, "gen_random_uuid()" | "uuid_generate_v4()"))
        || (c.type_name.starts_with("timestamp")
            && matches!(default, "now()" | "CURRENT_TIMESTAMP"))
}

fn field(c: &Column, is_tenant: bool, is_key: bool) -> Field {
    let mut notes = Vec::new();
    let (ident, ident_note) = rust_ident(&c.name);
    notes.extend(ident_note);
    let mut sqlx_feature = None;
    let (base, inferred) = if is_tenant {
        if c.type_name != "uuid" {
            notes.push(format!(
                "the tenant column is {} in the database, not uuid: migrate it (ALTER COLUMN .. TYPE uuid USING {}::uuid)",
                c.sql_type,
                ident::quote(&c.name)
            ));
        }
        ("TenantId".to_owned(), "uuid".to_owned())
    } else if let Some(element) = (!c.element_type.is_empty()).then_some(c.element_type.as_str()) {
        match types::for_typname(element) {
            Some(t) => {
                sqlx_feature = t.sqlx_feature;
                (format!("Vec<{}>", t.rust), types::array_of(t.sql))
            }
            None => unknown(c, &mut notes),
        }
    } else {
        match types::for_typname(&c.type_name) {
            Some(t) if !c.is_enum => {
                sqlx_feature = t.sqlx_feature;
                (t.rust.to_owned(), t.sql.to_owned())
            }
            _ => unknown(c, &mut notes),
        }
    };
    let explicit_sql_type =
        types::canonical(&inferred) != types::canonical(&c.sql_type) && !is_tenant;
    let sql_type = if explicit_sql_type {
        c.sql_type.clone()
    } else {
        inferred
    };
    let nullable = !c.not_null && !is_tenant && !is_key;
    if is_tenant && !c.not_null {
        notes.push(
            "the tenant column allows NULL in the database: backfill it and SET NOT NULL"
                .to_owned(),
        );
    }
    let rust_type = if nullable {
        format!("Option<{base}>")
    } else {
        base
    };

    let (generated, default) = if is_tenant {
        (false, None)
    } else if c.computed {
        notes.push(
            "a computed column (GENERATED ALWAYS AS ..): never written by the model".to_owned(),
        );
        (true, c.default.clone().filter(|d| plain_default(d)))
    } else if fills_itself(c) {
        let integer_or_uuid = matches!(c.type_name.as_str(), "int2" | "int4" | "int8" | "uuid");
        (
            true,
            c.default
                .clone()
                .filter(|d| !integer_or_uuid && plain_default(d)),
        )
    } else {
        match &c.default {
            Some(d) if plain_default(d) => (false, Some(d.clone())),
            Some(d) => {
                notes.push(format!("the default `{d}` cannot be written in #[tenant(default = \"..\")]; keep it in a migration"));
                (false, None)
            }
            None => (false, None),
        }
    };
    if is_tenant && c.stat_target == 0 {
        notes.push(
            "the tenant column has SET STATISTICS 0 in the database; the derive keeps statistics on it (the policy's filter is planned from them)"
                .to_owned(),
        );
    }
    let doc = if is_tenant {
        "The tenant this row belongs to.".to_owned()
    } else {
        format!(
            "`{}`: {}{}.",
            c.name,
            c.sql_type,
            if c.not_null { ", not null" } else { "" }
        )
    };
    Field {
        column: c.name.clone(),
        ident,
        rust_type,
        sql_type,
        explicit_sql_type,
        nullable,
        generated,
        default,
        references: None,
        no_statistics: c.stat_target == 0 && !is_tenant,
        sqlx_feature,
        doc,
        notes,
    }
}

fn unknown(c: &Column, notes: &mut Vec<String>) -> (String, String) {
    let what = if c.is_enum {
        "an enum"
    } else {
        "a type with no known Rust mapping"
    };
    notes.push(format!(
        "{} is {what}: String will not decode it; write a Rust type that implements sqlx::Type for it",
        c.sql_type
    ));
    ("String".to_owned(), "text".to_owned())
}

/// What `#[tenant(default = "..")]` accepts (the derive's own rule).
fn plain_default(expr: &str) -> bool {
    default_expr::check(expr).is_ok()
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// The field name for a column, and a note when it cannot be the column's
/// (a column that needs quotes gets a field name of plain letters, and
/// `column = ".."` keeps its real name).
fn rust_ident(column: &str) -> (String, Option<String>) {
    let plain = !column.is_empty()
        && !column.starts_with(|c: char| c.is_ascii_digit())
        && column
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && matches!(column, "self" | "super" | "crate" | "_") {
        return (
            format!("{column}_"),
            Some(format!(
                "column `{column}` cannot be a Rust field name: add #[tenant(column = \"{column}\")]"
            )),
        );
    }
    if plain {
        let ident = if KEYWORDS.contains(&column) {
            format!("r#{column}")
        } else {
            column.to_owned()
        };
        return (ident, None);
    }
    // snake_case: `createdBy` -> `created_by`, `say "hi"` -> `say_hi`.
    let mut ident = String::with_capacity(column.len() + 4);
    let mut previous: Option<char> = None;
    for c in column.chars() {
        let part_of_word = c.is_ascii_alphanumeric();
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            ident.push('_');
        }
        if part_of_word {
            ident.push(c.to_ascii_lowercase());
        } else if !ident.is_empty() && !ident.ends_with('_') {
            ident.push('_');
        }
        previous = Some(c);
    }
    let trimmed = ident.trim_end_matches('_');
    let mut ident = if trimmed.is_empty() {
        "column".to_owned()
    } else {
        trimmed.to_owned()
    };
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if KEYWORDS.contains(&ident.as_str()) {
        ident.insert_str(0, "r#");
    }
    // The column keeps its name: the attribute spells it in quotes.
    (ident, None)
}

/// `projects` -> `project`, `categories` -> `category`, `addresses` ->
/// `address`; leaves `status`, `news` alone.
fn singular(table: &str) -> String {
    if let Some(stem) = table.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suffix in ["sses", "shes", "ches", "xes"] {
        if table.ends_with(suffix) {
            return table[..table.len() - 2].to_owned();
        }
    }
    if table.ends_with('s')
        && !table.ends_with("ss")
        && !table.ends_with("us")
        && !table.ends_with("is")
        && !table.ends_with("ews")
    {
        return table[..table.len() - 1].to_owned();
    }
    table.to_owned()
}

/// `line_items` -> `LineItems`; anything not alphanumeric separates words.
fn pascal_case(name: &str) -> String {
    let mut out: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|f| f.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Table");
    }
    out
}

/// The `use` line every skeleton needs.
pub(crate) const USES: &str = "use tenant_runtime::{TenantId, TenantScoped};\n";

/// sqlx features the models' field types need, beyond postgres.
pub(crate) fn sqlx_features(models: &[Model]) -> Vec<&'static str> {
    let features: BTreeSet<&'static str> = models
        .iter()
        .flat_map(|m| &m.fields)
        .filter_map(|f| f.sqlx_feature)
        .collect();
    features.into_iter().collect()
}

/// The struct, with its attributes, docs and notes.
pub(crate) fn render(m: &Model) -> String {
    let mut out = String::new();
    for note in &m.notes {
        let _ = writeln!(out, "// review: {note}");
    }
    let _ = writeln!(out, "/// A row of `{}.{}`.", m.schema, m.table);
    let _ = writeln!(out, "#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]");
    let mut table_args = vec![format!("name = {:?}", ident::spell(&m.table))];
    if m.schema != "public" {
        table_args.push(format!("schema = {:?}", ident::spell(&m.schema)));
    }
    // unique(..) and index(..) list fields: a column that needs quotes has
    // a plain field name.
    let fields_of = |columns: &[String]| -> String {
        columns
            .iter()
            .map(|c| {
                m.fields
                    .iter()
                    .find(|f| f.column == *c)
                    .map_or_else(|| c.clone(), |f| f.ident.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (columns, global) in &m.uniques {
        table_args.push(format!(
            "{}({})",
            if *global { "global_unique" } else { "unique" },
            fields_of(columns)
        ));
    }
    for columns in &m.indexes {
        table_args.push(format!("index({})", fields_of(columns)));
    }
    let _ = writeln!(out, "#[tenant_table({})]", table_args.join(", "));
    let _ = writeln!(out, "pub struct {} {{", m.struct_name);
    for f in &m.fields {
        for note in &f.notes {
            let _ = writeln!(out, "    // review: {note}");
        }
        let _ = writeln!(out, "    /// {}", f.doc);
        let mut attrs = Vec::new();
        if m.primary_key.as_deref() == Some(f.column.as_str()) {
            attrs.push("primary_key".to_owned());
        }
        if f.column == m.tenant_column && f.column != "tenant_id" {
            attrs.push("tenant_id".to_owned());
        }
        if f.generated {
            attrs.push("generated".to_owned());
        }
        let plain_name = f.ident.strip_prefix("r#").unwrap_or(&f.ident) == f.column;
        if !plain_name {
            attrs.push(format!("column = {:?}", ident::spell(&f.column)));
        }
        if f.explicit_sql_type {
            attrs.push(format!("sql_type = {:?}", f.sql_type));
        }
        if let Some(d) = &f.default {
            attrs.push(format!("default = {d:?}"));
        }
        if let Some(r) = &f.references {
            attrs.push(format!("references = {:?}", r.spelled()));
            if r.on_delete != OnDelete::NoAction {
                attrs.push(format!("on_delete = {:?}", r.on_delete.name()));
            }
        }
        if f.no_statistics {
            attrs.push("no_statistics".to_owned());
        }
        if !attrs.is_empty() {
            let _ = writeln!(out, "    #[tenant({})]", attrs.join(", "));
        }
        let _ = writeln!(out, "    pub {}: {},", f.ident, f.rust_type);
    }
    out.push_str("}\n");
    out
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn leak_list(items: &[String]) -> &'static [&'static str] {
    Box::leak(
        items
            .iter()
            .map(|s| leak(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The metadata the derive would record for `m`; `None` without a
/// primary key. Leaked: the command runs once and exits, and the DDL
/// emitter takes the same `&'static` metadata as the registry gives it.
pub(crate) fn table_meta(m: &Model) -> Option<&'static TableMeta> {
    let primary_key = m.primary_key.as_deref()?;
    let columns: Vec<ColumnMeta> = m
        .fields
        .iter()
        .map(|f| ColumnMeta {
            name: leak(&f.column),
            field: leak(f.ident.strip_prefix("r#").unwrap_or(&f.ident)),
            sql_type: leak(&f.sql_type),
            nullable: f.nullable,
            generated: f.generated,
            default: f.default.as_deref().map(leak),
            references: f.references.as_ref().map(|r| TableRef {
                schema: r.schema.as_deref().map(leak),
                name: leak(&r.table),
                on_delete: r.on_delete,
            }),
            no_statistics: f.no_statistics,
        })
        .collect();
    let uniques: Vec<UniqueMeta> = m
        .uniques
        .iter()
        .map(|(c, global)| UniqueMeta {
            columns: leak_list(c),
            global: *global,
        })
        .collect();
    let indexes: Vec<IndexMeta> = m
        .indexes
        .iter()
        .map(|c| IndexMeta {
            columns: leak_list(c),
        })
        .collect();
    Some(Box::leak(Box::new(TableMeta {
        model: leak(&format!("models::{}", m.struct_name)),
        schema: leak(&m.schema),
        name: leak(&m.table),
        tenant_column: leak(&m.tenant_column),
        primary_key: leak(primary_key),
        columns: Box::leak(columns.into_boxed_slice()),
        uniques: Box::leak(uniques.into_boxed_slice()),
        indexes: Box::leak(indexes.into_boxed_slice()),
        sql: TableSql::NONE,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Constraint, ConstraintKind, Index};

    fn column(name: &str, sql_type: &str, type_name: &str, not_null: bool) -> Column {
        Column {
            name: name.to_owned(),
            sql_type: sql_type.to_owned(),
            type_name: type_name.to_owned(),
            element_type: String::new(),
            is_enum: false,
            not_null,
            default: None,
            identity: false,
            computed: false,
            stat_target: -1,
        }
    }

    fn table(
        oid: i64,
        name: &str,
        columns: Vec<Column>,
        constraints: Vec<Constraint>,
        indexes: Vec<Index>,
    ) -> Table {
        Table {
            oid,
            schema: "app".to_owned(),
            name: name.to_owned(),
            owner: "owner".to_owned(),
            rls_enabled: false,
            rls_forced: false,
            can_select: true,
            can_insert: true,
            can_update: true,
            can_delete: true,
            can_truncate: false,
            public_privileges: Vec::new(),
            sequences_without_usage: Vec::new(),
            columns,
            constraints,
            indexes,
            policies: Vec::new(),
            triggers: Vec::new(),
            statistics: Vec::new(),
        }
    }

    fn constraint(
        kind: ConstraintKind,
        columns: &[&str],
        ref_oid: i64,
        ref_columns: &[&str],
    ) -> Constraint {
        Constraint {
            name: format!("{kind:?}_{}", columns.join("_")),
            kind,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            ref_oid,
            ref_columns: ref_columns.iter().map(|c| (*c).to_owned()).collect(),
            on_delete: if kind == ConstraintKind::ForeignKey {
                'a'
            } else {
                ' '
            },
        }
    }

    fn index(name: &str, unique: bool, columns: &[&str]) -> Index {
        Index {
            name: name.to_owned(),
            unique,
            primary: false,
            partial: false,
            method: "btree".to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            expressions: vec![String::new(); columns.len()],
            stat_targets: vec![-1; columns.len()],
        }
    }

    /// Two tables covering keywords, odd names, arrays, explicit SQL
    /// types, defaults, a global unique and a composite reference.
    fn catalog() -> Catalog {
        let mut id = column("id", "uuid", "uuid", true);
        id.default = Some("gen_random_uuid()".to_owned());
        let mut tags = column("tags", "text[]", "_text", true);
        tags.element_type = "text".to_owned();
        tags.default = Some("'{}'::text[]".to_owned());
        let mut created_by = column("createdBy", "text", "text", false);
        created_by.stat_target = 0;
        let accounts = table(
            1,
            "accounts",
            vec![
                id,
                column("tenant_id", "uuid", "uuid", true),
                column("name", "character varying(80)", "varchar", true),
                column("type", "text", "text", false),
                created_by,
                tags,
            ],
            vec![constraint(ConstraintKind::PrimaryKey, &["id"], 0, &[])],
            vec![
                index("accounts_tenant_id_id_key", true, &["tenant_id", "id"]),
                index("accounts_name_key", true, &["name"]),
                index("accounts_tenant_id_type_idx", false, &["tenant_id", "type"]),
            ],
        );
        let mut deal_id = column("id", "bigint", "int8", true);
        deal_id.identity = true;
        let deals = table(
            2,
            "deals",
            vec![
                deal_id,
                column("tenant_id", "uuid", "uuid", true),
                column("account_id", "uuid", "uuid", true),
                column("amount", "numeric(12,2)", "numeric", false),
            ],
            vec![
                constraint(ConstraintKind::PrimaryKey, &["id"], 0, &[]),
                constraint(
                    ConstraintKind::ForeignKey,
                    &["tenant_id", "account_id"],
                    1,
                    &["tenant_id", "id"],
                ),
            ],
            vec![index(
                "deals_tenant_id_account_id_idx",
                false,
                &["tenant_id", "account_id"],
            )],
        );
        Catalog::for_tests(vec![accounts, deals])
    }

    /// The attribute keys `#[derive(TenantScoped)]` accepts on a field.
    const FIELD_KEYS: &[&str] = &[
        "primary_key",
        "tenant_id",
        "generated",
        "column",
        "sql_type",
        "default",
        "references",
        "no_statistics",
    ];

    #[test]
    fn skeletons_parse_as_rust_with_the_attributes_the_derive_takes() {
        let catalog = catalog();
        let tables: Vec<&Table> = catalog.tables.iter().collect();
        let models = models(&catalog, &tables, "tenant_id");
        let text = crate::init::models_file("db", &models, "tenant_id");
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        let structs: Vec<&syn::ItemStruct> = file
            .items
            .iter()
            .filter_map(|i| {
                if let syn::Item::Struct(s) = i {
                    Some(s)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(
            structs
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>(),
            ["Account", "Deal"]
        );
        for s in &structs {
            let table_attr = s
                .attrs
                .iter()
                .find(|a| a.path().is_ident("tenant_table"))
                .expect("tenant_table");
            let mut keys = Vec::new();
            table_attr
                .parse_nested_meta(|meta| {
                    keys.push(meta.path.get_ident().unwrap().to_string());
                    if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<syn::LitStr>()?;
                    } else {
                        meta.parse_nested_meta(|_| Ok(()))?;
                    }
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{e}: {text}"));
            assert!(
                keys.iter()
                    .all(|k| ["name", "schema", "unique", "global_unique", "index"]
                        .contains(&k.as_str())),
                "{keys:?}"
            );
            for field in &s.fields {
                for attr in field.attrs.iter().filter(|a| a.path().is_ident("tenant")) {
                    attr.parse_nested_meta(|meta| {
                        let key = meta.path.get_ident().unwrap().to_string();
                        assert!(FIELD_KEYS.contains(&key.as_str()), "{key}");
                        if meta.input.peek(syn::Token![=]) {
                            meta.value()?.parse::<syn::LitStr>()?;
                        }
                        Ok(())
                    })
                    .unwrap_or_else(|e| panic!("{e}: {text}"));
                }
            }
        }
        for expected in [
            "#[tenant_table(name = \"accounts\", schema = \"app\", global_unique(name), index(tenant_id, r#type))]",
            "    #[tenant(primary_key, generated)]\n    pub id: sqlx::types::Uuid,",
            "    #[tenant(sql_type = \"character varying(80)\")]\n    pub name: String,",
            "    pub r#type: Option<String>,",
            "    #[tenant(column = \"\\\"createdBy\\\"\", no_statistics)]\n    pub created_by: Option<String>,",
            "    #[tenant(default = \"'{}'::text[]\")]\n    pub tags: Vec<String>,",
            "    #[tenant(references = \"accounts\")]\n    pub account_id: sqlx::types::Uuid,",
            "    #[tenant(sql_type = \"numeric(12,2)\")]\n    pub amount: Option<sqlx::types::Decimal>,",
            "sqlx features: rust_decimal, uuid.",
        ] {
            assert!(text.contains(expected), "{expected}\nin:\n{text}");
        }
    }

    #[test]
    fn the_metadata_matches_what_the_derive_records() {
        let catalog = catalog();
        let tables: Vec<&Table> = catalog.tables.iter().collect();
        let models = models(&catalog, &tables, "tenant_id");
        let deals = table_meta(&models[1]).expect("deals has a key");
        assert_eq!(
            (deals.schema, deals.name, deals.primary_key, deals.model),
            ("app", "deals", "id", "models::Deal")
        );
        let sql: Vec<(&str, &str, bool, bool)> = deals
            .columns
            .iter()
            .map(|c| (c.name, c.sql_type, c.nullable, c.generated))
            .collect();
        assert_eq!(
            sql,
            [
                ("id", "bigint", false, true),
                ("tenant_id", "uuid", false, false),
                ("account_id", "uuid", false, false),
                ("amount", "numeric(12,2)", true, false),
            ]
        );
        assert_eq!(
            deals.columns[2].references,
            Some(TableRef {
                schema: None,
                name: "accounts",
                on_delete: OnDelete::NoAction,
            })
        );
        // (tenant, account_id) is the index emit-rls adds for the reference: not declared again.
        assert!(deals.indexes.is_empty());
        let accounts = table_meta(&models[0]).unwrap();
        let without: Vec<&str> = accounts.without_statistics().map(|c| c.name).collect();
        assert_eq!(
            without,
            ["createdBy"],
            "SET STATISTICS 0 becomes no_statistics"
        );
        assert_eq!(accounts.uniques.len(), 1);
        assert_eq!(
            (accounts.uniques[0].columns, accounts.uniques[0].global),
            (&["name"][..], true)
        );
    }

    #[test]
    fn struct_names_from_table_names() {
        for (table, name) in [
            ("projects", "Project"),
            ("categories", "Category"),
            ("addresses", "Address"),
            ("line_items", "LineItem"),
            ("status", "Status"),
            ("news", "News"),
            ("boxes", "Box"),
        ] {
            assert_eq!(pascal_case(&singular(table)), name, "{table}");
        }
    }

    #[test]
    fn field_names_from_column_names() {
        assert_eq!(rust_ident("email"), ("email".to_owned(), None));
        assert_eq!(rust_ident("type").0, "r#type");
        assert_eq!(rust_ident("createdAt"), ("created_at".to_owned(), None));
        assert_eq!(rust_ident("Order Total").0, "order_total");
        assert_eq!(rust_ident("say \"hi\"").0, "say_hi");
        assert_eq!(rust_ident("2fa").0, "_2fa");
        assert_eq!(rust_ident("\"\"").0, "column");
        assert_eq!(rust_ident("Type").0, "r#type");
        assert_eq!(rust_ident("self").0, "self_");
    }
}
