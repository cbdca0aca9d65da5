//! Turns the parsed attributes into a [`Model`], collecting every error
//! before failing so one `cargo build` shows all of them, each pointing at
//! the token that is wrong.

use std::collections::HashMap;
use tenant_sql::on_delete::OnDelete;

use darling::FromDeriveInput;
use darling::util::{PathList, SpannedValue};
use darling::{Error, error::Accumulator};
use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;

use crate::ast::{FieldInput, ModelInput};
use crate::model::{Column, ColumnSet, Model, Reference};
use tenant_sql::{default_expr, ident as sql_ident, types};

use crate::sql_type;

const DEFAULT_SCHEMA: &str = "public";
const DEFAULT_TENANT_COLUMN: &str = "tenant_id";
const DEFAULT_PRIMARY_KEY: &str = "id";

/// Parses and checks a derive input; `Err` holds every problem found.
pub(crate) fn validate(input: &syn::DeriveInput) -> Result<Model, Error> {
    let mut errors = Error::accumulator();
    let shape_ok = check_shape(input, &mut errors);
    let parsed = errors.handle(ModelInput::from_derive_input(input));
    let model = parsed
        .filter(|_| shape_ok)
        .and_then(|parsed| build(parsed, &mut errors));
    match model {
        Some(model) => errors.finish_with(model),
        None => {
            // Every path to `None` records an error; this keeps a missed one
            // from turning into an ICE-like panic.
            let mut errors = errors.into_inner();
            if errors.is_empty() {
                errors.push(Error::custom("invalid TenantScoped model").with_span(&input.ident));
            }
            Err(Error::multiple(errors))
        }
    }
}

/// One row type per table: a struct with named fields and no generics.
fn check_shape(input: &syn::DeriveInput, errors: &mut Accumulator) -> bool {
    let what = |kind: &str| {
        format!(
            "TenantScoped maps a struct with named fields to a table row; {kind} `{}` cannot be one. \
             Write `struct {} {{ id: i64, tenant_id: TenantId, .. }}`",
            input.ident, input.ident
        )
    };
    let error = match &input.data {
        syn::Data::Enum(e) => Some(Error::custom(what("enum")).with_span(&e.enum_token)),
        syn::Data::Union(u) => Some(Error::custom(what("union")).with_span(&u.union_token)),
        syn::Data::Struct(s) => match &s.fields {
            syn::Fields::Named(_) => None,
            syn::Fields::Unnamed(f) => Some(Error::custom(what("tuple struct")).with_span(f)),
            syn::Fields::Unit => Some(Error::custom(what("unit struct")).with_span(&input.ident)),
        },
    };
    let generic = (!input.generics.params.is_empty()).then(|| {
        Error::custom(format!(
            "generic models are not supported: a table has one row type. Remove the parameters from `{}`",
            input.ident
        ))
        .with_span(&input.generics)
    });
    let mut ok = true;
    for e in error.into_iter().chain(generic) {
        errors.push(e);
        ok = false;
    }
    ok
}

fn build(input: ModelInput, errors: &mut Accumulator) -> Option<Model> {
    let ModelInput {
        ident,
        data,
        name,
        schema,
        unique,
        global_unique,
        index,
        krate,
        ..
    } = input;
    let fields = data.take_struct()?.fields;

    let schema = match schema {
        Some(s) => errors
            .handle(checked_name("schema name", &s))
            .unwrap_or_default(),
        None => DEFAULT_SCHEMA.to_owned(),
    };
    let table = match name {
        Some(n) => errors.handle(checked_name("table name", &n)),
        None => {
            errors.push(
                Error::custom(format!(
                    "`{ident}` has no table name: add #[tenant_table(name = \"...\")] above the struct"
                ))
                .with_span(&ident),
            );
            None
        }
    };

    let columns = columns(&fields, errors);
    // A tenant column that is found but wrong (say `String`) still names
    // the tenant for the `unique(..)` checks, so those errors show too.
    let found_tenant = tenant_column(&ident, &fields, &columns, errors);
    let tenant_index = found_tenant.map(|(i, _)| i);
    let tenant = found_tenant.and_then(|(i, ok)| ok.then_some(i));
    let primary_key = primary_key(&ident, &fields, &columns, tenant_index, errors);

    let mut sets = ColumnSets {
        fields: &fields,
        columns: &columns,
        errors,
    };
    let tenant_name = tenant_index.map(|i| columns[i].name.as_str());
    let mut uniques = Vec::new();
    for u in &unique {
        uniques.extend(sets.resolve("unique", u).and_then(|cols| {
            sets.require_tenant(u.span(), "unique", &cols, tenant_name)
                .then_some(ColumnSet {
                    columns: cols,
                    global: false,
                })
        }));
    }
    for u in &global_unique {
        uniques.extend(sets.resolve("global_unique", u).and_then(|cols| {
            sets.refuse_tenant(u.span(), &cols, tenant_name)
                .then_some(ColumnSet {
                    columns: cols,
                    global: true,
                })
        }));
    }
    let indexes = index
        .iter()
        .filter_map(|i| sets.resolve("index", i))
        .map(|columns| ColumnSet {
            columns,
            global: false,
        })
        .collect();

    Some(Model {
        ident,
        krate,
        schema,
        table: table?,
        columns,
        tenant: tenant?,
        primary_key: primary_key?,
        uniques,
        indexes,
    })
}

/// The name an attribute spells (`projects`, or `"Order Items"` quoted).
fn checked_name(what: &str, name: &SpannedValue<String>) -> Result<String, Error> {
    sql_ident::parse(name).map_err(|e| error_at(name.span(), format!("{what} {e}")))
}

fn field_ident(field: &FieldInput) -> &syn::Ident {
    field
        .ident
        .as_ref()
        .expect("named fields are checked by check_shape")
}

/// One column per field, every error about a single field reported here.
fn columns(fields: &[FieldInput], errors: &mut Accumulator) -> Vec<Column> {
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let ident = field_ident(field);
        let name = match &field.column {
            Some(c) => errors
                .handle(checked_name("column name", c))
                .unwrap_or_default(),
            None => {
                let name = ident.unraw().to_string();
                // A field name is never quoted: a name that needs quotes
                // is spelled out with `column = ".."`.
                if let Err(e) = sql_ident::parse(&name) {
                    errors.push(
                        Error::custom(format!(
                            "column name {e}; or name the column with #[tenant(column = \"...\")]"
                        ))
                        .with_span(ident),
                    );
                }
                name
            }
        };
        if let Some(first) = seen.insert(name.clone(), ident) {
            let at = field.column.as_ref().map_or(ident.span(), |c| c.span());
            errors.push(error_at(
                at,
                format!(
                    "duplicate column `{name}`: field `{first}` already maps to it; give one of them #[tenant(column = \"...\")]"
                ),
            ));
        }

        let peeled = sql_type::peel_option(&field.ty);
        let sql_type = match &field.sql_type {
            Some(explicit) => {
                if let Err(e) = types::check_explicit(explicit) {
                    errors.push(error_at(explicit.span(), e));
                }
                explicit.as_str().to_owned()
            }
            None => sql_type::infer(peeled.inner).unwrap_or_else(|| {
                errors.push(
                    Error::custom(format!(
                        "cannot tell the SQL type of `{}`: add #[tenant(sql_type = \"...\")] to field `{ident}`",
                        peeled.inner.to_token_stream()
                    ))
                    .with_span(peeled.inner),
                );
                String::new()
            }),
        };
        if let Some(d) = &field.default
            && let Err(e) = default_expr::check(d)
        {
            errors.push(error_at(d.span(), e));
        }
        if field.generated.is_present()
            && field.default.is_none()
            && !sql_type.is_empty()
            && types::generated_fill(&sql_type).is_none()
        {
            errors.push(
                error_at(field.generated.span(), format!(
                    "generated column `{name}` ({sql_type}) needs a way for the database to fill it: \
                     add default = \"...\" (integers and uuids get an identity or gen_random_uuid())"
                )),
            );
        }
        let on_delete = on_delete(field, peeled.nullable, errors);
        let references =
            field
                .references
                .as_ref()
                .and_then(|r| match sql_ident::parse_qualified(r) {
                    Ok((schema, table)) => Some(Reference {
                        schema,
                        table,
                        on_delete,
                    }),
                    Err(e) => {
                        errors.push(error_at(r.span(), format!("referenced table {e}")));
                        None
                    }
                });
        out.push(Column {
            field: ident.clone(),
            vis: field.vis.clone(),
            ty: field.ty.clone(),
            name,
            sql_type,
            nullable: peeled.nullable,
            generated: field.generated.is_present(),
            default: field.default.as_ref().map(|d| d.as_str().to_owned()),
            references,
            no_statistics: field.no_statistics.is_present(),
        });
    }
    out
}

/// `on_delete = ".."`: a known action, on a field that references a table,
/// and `set_null` only where the column may be `NULL`.
fn on_delete(field: &FieldInput, nullable: bool, errors: &mut Accumulator) -> OnDelete {
    let Some(written) = &field.on_delete else {
        return OnDelete::NoAction;
    };
    let Some(action) = OnDelete::from_name(written) else {
        let known: Vec<String> = OnDelete::ALL
            .iter()
            .map(|(n, _)| format!("\"{n}\""))
            .collect();
        errors.push(error_at(
            written.span(),
            format!(
                "unknown on_delete action {:?}: write one of {}",
                written.as_str(),
                known.join(", ")
            ),
        ));
        return OnDelete::NoAction;
    };
    if field.references.is_none() {
        errors.push(error_at(
            written.span(),
            "on_delete applies to a reference: add references = \"<table>\" or remove on_delete",
        ));
    }
    if action == OnDelete::SetNull && !nullable {
        errors.push(error_at(
            written.span(),
            "on_delete = \"set_null\" needs a column that can be NULL: make the field an Option, or pick \"cascade\" or \"restrict\"",
        ));
    }
    action
}

/// The field marked `#[tenant(tenant_id)]`, else the column named `tenant_id`,
/// and whether it is a valid tenant column (every problem is reported).
fn tenant_column(
    model: &syn::Ident,
    fields: &[FieldInput],
    columns: &[Column],
    errors: &mut Accumulator,
) -> Option<(usize, bool)> {
    let marked: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].tenant_id.is_present())
        .collect();
    for &extra in marked.iter().skip(1) {
        errors.push(error_at(
            fields[extra].tenant_id.span(),
            format!(
                "only one tenant column per table: `{}` is already marked #[tenant(tenant_id)]",
                columns[marked[0]].field
            ),
        ));
    }
    let found = marked
        .first()
        .copied()
        .or_else(|| columns.iter().position(|c| c.name == DEFAULT_TENANT_COLUMN));
    let Some(i) = found else {
        errors.push(
            Error::custom(format!(
                "`{model}` has no tenant column: add `pub tenant_id: TenantId`, \
                 or mark the field that holds the tenant with #[tenant(tenant_id)]"
            ))
            .with_span(model),
        );
        return None;
    };
    let (field, column) = (&fields[i], &columns[i]);
    let mut ok = true;
    let mut refuse = |ok: &mut bool, e: Error| {
        errors.push(e);
        *ok = false;
    };
    if column.nullable {
        refuse(
            &mut ok,
            Error::custom(format!(
                "tenant column `{}` cannot be an Option: every row belongs to exactly one tenant; write `TenantId`",
                column.field
            ))
            .with_span(&field.ty),
        );
    } else if !sql_type::is_tenant_type(&field.ty) {
        refuse(
            &mut ok,
            Error::custom(format!(
                "tenant column `{}` must be `TenantId` (or `uuid::Uuid`), found `{}`",
                column.field,
                field.ty.to_token_stream()
            ))
            .with_span(&field.ty),
        );
    }
    if field.primary_key.is_present() {
        refuse(
            &mut ok,
            error_at(
                field.primary_key.span(),
                "the tenant column cannot be the primary key: add an `id` column",
            ),
        );
    }
    if field.generated.is_present() {
        refuse(
            &mut ok,
            error_at(
                field.generated.span(),
                "the tenant column is filled from the transaction's tenant, not generated: remove `generated`",
            ),
        );
    }
    if let Some(r) = &field.references {
        refuse(
            &mut ok,
            error_at(
                r.span(),
                "the tenant column already references the tenants table: remove `references`",
            ),
        );
    }
    if field.no_statistics.is_present() {
        // Its statistics plan the policy's filter of every query, and the
        // migration could not clear old ones: the policy depends on the
        // column, so its type cannot be set again.
        refuse(
            &mut ok,
            error_at(
                field.no_statistics.span(),
                "the tenant column keeps its planner statistics: the policy's filter of every query is planned \
                 from them, and the policy that uses the column keeps the migration from clearing old ones; \
                 remove `no_statistics`",
            ),
        );
    }
    Some((i, ok))
}

/// The field marked `#[tenant(primary_key)]`, else the column named `id`.
fn primary_key(
    model: &syn::Ident,
    fields: &[FieldInput],
    columns: &[Column],
    tenant: Option<usize>,
    errors: &mut Accumulator,
) -> Option<usize> {
    let marked: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].primary_key.is_present())
        .collect();
    for &extra in marked.iter().skip(1) {
        errors.push(error_at(
            fields[extra].primary_key.span(),
            format!(
                "composite primary keys are not supported: `{}` is already the primary key",
                columns[marked[0]].field
            ),
        ));
    }
    let found = marked
        .first()
        .copied()
        .or_else(|| columns.iter().position(|c| c.name == DEFAULT_PRIMARY_KEY));
    let Some(i) = found else {
        errors.push(
            Error::custom(format!(
                "`{model}` has no primary key: mark one field #[tenant(primary_key)], or name it `id`"
            ))
            .with_span(model),
        );
        return None;
    };
    if Some(i) == tenant {
        if !fields[i].primary_key.is_present() {
            // (A marked one is reported by tenant_column.)
            errors.push(
                Error::custom(format!(
                    "`{}` cannot be both the tenant column and the primary key: add an `id` column",
                    columns[i].field
                ))
                .with_span(&columns[i].field),
            );
        }
        return None;
    }
    if columns[i].nullable {
        errors.push(
            Error::custom(format!(
                "primary key `{}` cannot be an Option: every row needs a key",
                columns[i].field
            ))
            .with_span(&fields[i].ty),
        );
        return None;
    }
    Some(i)
}

/// Resolves the column lists of `unique(..)`, `global_unique(..)` and `index(..)`.
struct ColumnSets<'a, 'e> {
    fields: &'a [FieldInput],
    columns: &'a [Column],
    errors: &'e mut Accumulator,
}

impl ColumnSets<'_, '_> {
    /// Maps each listed name (field or column name) to its column name.
    fn resolve(&mut self, key: &str, list: &SpannedValue<PathList>) -> Option<Vec<String>> {
        if list.is_empty() {
            self.errors.push(error_at(
                list.span(),
                format!(
                    "{key}() lists no columns: name at least one, e.g. {key}(tenant_id, email)"
                ),
            ));
            return None;
        }
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        let mut ok = true;
        for path in list.iter() {
            let Some(name) = path.get_ident().map(|i| i.unraw().to_string()) else {
                self.errors.push(
                    Error::custom(format!("{key}(..) takes column names, not paths"))
                        .with_span(path),
                );
                ok = false;
                continue;
            };
            let column = self
                .columns
                .iter()
                .zip(self.fields)
                .find(|(c, f)| c.name == name || field_ident(f).unraw() == name)
                .map(|(c, _)| c.name.clone());
            match column {
                Some(c) if out.contains(&c) => {
                    self.errors.push(
                        Error::custom(format!("column `{c}` is listed twice in {key}(..)"))
                            .with_span(path),
                    );
                    ok = false;
                }
                Some(c) => out.push(c),
                None => {
                    self.errors.push(
                        Error::custom(format!(
                            "unknown column `{name}` in {key}(..){}",
                            self.suggest(&name)
                        ))
                        .with_span(path),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn suggest(&self, name: &str) -> String {
        let best = self
            .columns
            .iter()
            .map(|c| (strsim::jaro_winkler(name, &c.name), &c.name))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, c)) => format!(": did you mean `{c}`?"),
            None => {
                let all: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
                format!("; the columns are {}", all.join(", "))
            }
        }
    }

    /// A per-tenant unique must include the tenant column, or two tenants
    /// could not both use the same value (and a violation would tell one
    /// tenant that another tenant's value exists).
    fn require_tenant(
        &mut self,
        at: Span,
        key: &str,
        cols: &[String],
        tenant: Option<&str>,
    ) -> bool {
        let Some(tenant) = tenant else { return true };
        if cols.iter().any(|c| c == tenant) {
            return true;
        }
        let listed = cols.join(", ");
        self.errors.push(
            error_at(at, format!(
                "{key}({listed}) leaves out the tenant column `{tenant}`, so one tenant's value would block every other tenant: \
                 write {key}({tenant}, {listed}), or global_unique({listed}) if it must be unique across all tenants"
            )),
        );
        false
    }

    fn refuse_tenant(&mut self, at: Span, cols: &[String], tenant: Option<&str>) -> bool {
        let Some(tenant) = tenant else { return true };
        if !cols.iter().any(|c| c == tenant) {
            return true;
        }
        let listed = cols.join(", ");
        self.errors.push(
            error_at(at, format!(
                "global_unique({listed}) includes the tenant column `{tenant}`, so it is not global: write unique({listed})"
            )),
        );
        false
    }
}

/// A darling error at `span` (darling's `with_span` wants a syntax node).
fn error_at(span: Span, message: impl std::fmt::Display) -> Error {
    Error::custom(message).with_span(&At(span))
}

/// A single token carrying a span, so a bare [`Span`] can place an error.
struct At(Span);

impl ToTokens for At {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        let mut p = proc_macro2::Punct::new('#', proc_macro2::Spacing::Alone);
        p.set_span(self.0);
        tokens.extend([proc_macro2::TokenTree::Punct(p)]);
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::validate;

    #[test]
    fn no_statistics_is_recorded_on_its_column_only() {
        let input = syn::parse2(quote! {
            #[tenant_table(name = "tasks")]
            struct Task {
                id: i64,
                tenant_id: TenantId,
                #[tenant(no_statistics)]
                title: String,
                #[tenant(column = "customer", no_statistics)]
                client: Option<String>,
                done: bool,
            }
        })
        .unwrap();
        let model = match validate(&input) {
            Ok(model) => model,
            Err(e) => panic!("{e}"),
        };
        let marked: Vec<&str> = model
            .columns
            .iter()
            .filter(|c| c.no_statistics)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(marked, ["title", "customer"]);
    }

    #[test]
    fn the_tenant_column_keeps_its_statistics() {
        let input = syn::parse2(quote! {
            #[tenant_table(name = "tasks")]
            struct Task {
                id: i64,
                #[tenant(no_statistics)]
                tenant_id: TenantId,
            }
        })
        .unwrap();
        let errors: Vec<String> = validate(&input)
            .err()
            .expect("refused")
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("the tenant column keeps its planner statistics"),
            "{errors:?}"
        );
    }
}
