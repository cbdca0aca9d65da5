//! Generated code: the `TenantTable` impl with `&'static` metadata and query
//! text, the registry entry, and the `scoped` / `system` entry points.
//!
//! Everything lives in `const _: () = { .. };` and names paths through
//! `::tenant_runtime` (or the `crate = ".."` the model gives), so the
//! user's crate needs no other dependency in scope.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use tenant_sql::statements::{self, QuerySet};

use crate::model::{Column, Model};

/// The path of tenant-runtime in generated code.
fn runtime_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::tenant_runtime),
    }
}

/// The generated items, hidden from docs, with the lints generated code
/// trips allowed (as serde_derive does).
fn hidden_block(body: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(
            non_upper_case_globals,
            unused_attributes,
            unused_qualifications,
            clippy::absolute_paths,
            clippy::needless_lifetimes
        )]
        const _: () = {
            #body
        };
    }
}

pub(crate) fn expand(model: &Model) -> TokenStream {
    let ident = &model.ident;
    let rt = runtime_path(model.krate.as_ref());
    let fields: Vec<String> = model
        .columns
        .iter()
        .map(|c| c.field.unraw().to_string())
        .collect();
    let columns: Vec<statements::Column<'_>> = model
        .columns
        .iter()
        .zip(&fields)
        .map(|(c, field)| statements::Column {
            name: &c.name,
            field,
            generated: c.generated,
        })
        .collect();
    let spec = statements::Table {
        schema: &model.schema,
        name: &model.table,
        tenant: &model.tenant_column().name,
        key: &model.primary_key_column().name,
        columns: &columns,
    };
    let meta = table_meta(model, &rt, &spec);
    let tenant = model.tenant_column();
    let tenant_field = &tenant.field;
    // Spanned at the field's type: a type that cannot hold a tenant, or
    // cannot be bound by sqlx, is reported on the field, not on the derive.
    let tenant_uuid = quote_spanned! {tenant.ty.span()=>
        #rt::__private::TenantColumn::tenant_uuid(&self.#tenant_field)
    };
    let key_field = &model.primary_key_column().field;
    let key_ty = &model.primary_key_column().ty;
    let add = |c: &Column| {
        let field = &c.field;
        if c.field == *tenant_field {
            // Bound as the uuid `tenant_uuid` reads, so a wrong tenant type
            // gets the one `TenantColumn` error and no sqlx ones.
            return quote!(#rt::__private::Arguments::add(args, #rt::TenantTable::tenant_uuid(self))?;);
        }
        quote_spanned!(c.ty.span()=> #rt::__private::Arguments::add(args, &self.#field)?;)
    };
    // The same predicates that wrote the statements pick the values bound
    // to them, so the two can never disagree on order.
    let insert_binds = spec.insert_columns().map(|c| add(model.column(c.name)));
    let update_binds = spec.update_columns().map(|c| add(model.column(c.name)));
    let entry_points = entry_points(ident, &rt);

    hidden_block(quote! {
            #[automatically_derived]
            impl #rt::TenantTable for #ident {
                type Key = #key_ty;

                const META: &'static #rt::meta::TableMeta = &#meta;

                fn tenant_uuid(&self) -> #rt::__private::Uuid {
                    #tenant_uuid
                }

                fn key(&self) -> &Self::Key {
                    &self.#key_field
                }

                fn encode_insert(
                    &self,
                    args: &mut #rt::__private::PgArguments,
                ) -> ::core::result::Result<(), #rt::__private::BoxDynError> {
                    #(#insert_binds)*
                    ::core::result::Result::Ok(())
                }

                fn encode_update(
                    &self,
                    args: &mut #rt::__private::PgArguments,
                ) -> ::core::result::Result<(), #rt::__private::BoxDynError> {
                    #(#update_binds)*
                    ::core::result::Result::Ok(())
                }
            }

            #rt::__private::inventory::submit! {
                #rt::__private::Registration::new(<#ident as #rt::TenantTable>::META)
            }

            #entry_points
    })
}

/// When validation fails: the errors, plus a stand-in impl and entry points
/// so the rest of the user's crate type-checks and the only errors shown
/// are the ones about the attributes. A generic struct gets no stand-in
/// (it would only add "missing generics" errors to the one that says
/// generics are not supported).
pub(crate) fn fallback(input: &syn::DeriveInput, errors: TokenStream) -> TokenStream {
    if !input.generics.params.is_empty() {
        return errors;
    }
    let ident = &input.ident;
    let rt = runtime_path(crate_attribute(input).as_ref());
    let entry_points = entry_points(ident, &rt);
    let block = hidden_block(quote! {
            #[automatically_derived]
            impl #rt::TenantTable for #ident {
                type Key = i64;
                const META: &'static #rt::meta::TableMeta = &#rt::__private::INVALID_TABLE;
                fn tenant_uuid(&self) -> #rt::__private::Uuid {
                    ::core::unreachable!()
                }
                fn key(&self) -> &Self::Key {
                    ::core::unreachable!()
                }
                fn encode_insert(
                    &self,
                    _: &mut #rt::__private::PgArguments,
                ) -> ::core::result::Result<(), #rt::__private::BoxDynError> {
                    ::core::unreachable!()
                }
                fn encode_update(
                    &self,
                    _: &mut #rt::__private::PgArguments,
                ) -> ::core::result::Result<(), #rt::__private::BoxDynError> {
                    ::core::unreachable!()
                }
            }
            #entry_points
    });
    quote!(#errors #block)
}

/// `crate = ".."` read straight from the attributes, for the stand-in impl
/// of a model whose attributes did not validate (a bad one is ignored:
/// darling has reported it already).
fn crate_attribute(input: &syn::DeriveInput) -> Option<syn::Path> {
    let mut found = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("tenant_table"))
    {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                found = lit.parse().ok();
            } else if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|_| Ok(()))?;
            }
            Ok(())
        });
    }
    found
}

fn entry_points(ident: &syn::Ident, rt: &TokenStream) -> TokenStream {
    let scoped_doc = format!(
        "Queries on `{ident}` rows of the transaction's tenant. The only way in is a \
         [`TenantTx`](::tenant_runtime::TenantTx), begun for one tenant."
    );
    let system_doc = format!(
        "Cross-tenant queries on `{ident}` for admin jobs, through a \
         [`SystemTx`](::tenant_runtime::SystemTx)."
    );
    quote! {
        #[automatically_derived]
        impl #ident {
            #[doc = #scoped_doc]
            #[allow(dead_code)]
            pub fn scoped<'tx, Tx>(tx: &'tx Tx) -> #rt::Scoped<'tx, Self>
            where
                Tx: #rt::TenantScope + ?::core::marker::Sized,
            {
                <Self as #rt::TenantScoped>::scoped(tx)
            }

            #[doc = #system_doc]
            #[allow(dead_code)]
            pub fn system<'tx, Tx>(tx: &'tx Tx) -> #rt::System<'tx, Self>
            where
                Tx: #rt::SystemScope + ?::core::marker::Sized,
            {
                <Self as #rt::TenantScoped>::system(tx)
            }
        }
    }
}

/// The `TableMeta { .. }` literal.
fn table_meta(model: &Model, rt: &TokenStream, spec: &statements::Table<'_>) -> TokenStream {
    let ident = &model.ident;
    let model_name = ident.unraw().to_string();
    let schema = &model.schema;
    let table = &model.table;
    let tenant = &model.tenant_column().name;
    let key = &model.primary_key_column().name;
    let columns = model.columns.iter().map(|c| {
        let name = &c.name;
        let field = c.field.unraw().to_string();
        let sql_type = &c.sql_type;
        let nullable = c.nullable;
        let generated = c.generated;
        let default = option(c.default.as_deref());
        let no_statistics = c.no_statistics;
        let references = match &c.references {
            Some(r) => {
                let schema = option(r.schema.as_deref());
                let table = &r.table;
                quote!(::core::option::Option::Some(#rt::meta::TableRef { schema: #schema, name: #table }))
            }
            None => quote!(::core::option::Option::None),
        };
        quote! {
            #rt::meta::ColumnMeta {
                name: #name,
                field: #field,
                sql_type: #sql_type,
                nullable: #nullable,
                generated: #generated,
                default: #default,
                references: #references,
                no_statistics: #no_statistics,
            }
        }
    });
    let uniques = model.uniques.iter().map(|u| {
        let columns = &u.columns;
        let global = u.global;
        quote!(#rt::meta::UniqueMeta { columns: &[#(#columns),*], global: #global })
    });
    let indexes = model.indexes.iter().map(|i| {
        let columns = &i.columns;
        quote!(#rt::meta::IndexMeta { columns: &[#(#columns),*] })
    });
    let queries = spec.statements();
    let insert = &queries.insert;
    let purge_batch = &queries.purge_batch;
    let scoped = query_set(&queries.scoped, rt);
    let system = query_set(&queries.system, rt);
    quote! {
        #rt::meta::TableMeta {
            model: ::core::concat!(::core::module_path!(), "::", #model_name),
            schema: #schema,
            name: #table,
            tenant_column: #tenant,
            primary_key: #key,
            columns: &[#(#columns),*],
            uniques: &[#(#uniques),*],
            indexes: &[#(#indexes),*],
            sql: #rt::meta::TableSql {
                insert: #insert,
                scoped: #scoped,
                system: #system,
                purge_batch: #purge_batch,
            },
        }
    }
}

fn query_set(q: &QuerySet, rt: &TokenStream) -> TokenStream {
    let QuerySet {
        all,
        page,
        after,
        find,
        count,
        update,
        delete,
    } = q;
    let names =
        ["all", "page", "after", "find", "count", "update", "delete"].map(|n| format_ident!("{n}"));
    let values = [all, page, after, find, count, update, delete];
    quote!(#rt::meta::QuerySql { #(#names: #values),* })
}

fn option(value: Option<&str>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}
