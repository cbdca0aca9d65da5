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
    let columns = column_constants(model, &rt);
    let finders = finders(model, &rt, &spec);

    hidden_block(quote! {
            #[automatically_derived]
            impl #rt::TenantTable for #ident {
                type Key = #key_ty;

                const META: &'static #rt::meta::TableMeta = &#meta;

                type Finders<'tx> = __Finders<'tx>;

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
            #columns
            #finders
    })
}

/// `Model::FIELD`: a typed [`Column`] per field, with the field's
/// visibility, for `filter` and `order_by`.
fn column_constants(model: &Model, rt: &TokenStream) -> TokenStream {
    let ident = &model.ident;
    let constants = model.columns.iter().map(|c| {
        let vis = &c.vis;
        let ty = &c.ty;
        let field = c.field.unraw().to_string();
        let constant = format_ident!("{}", field.to_uppercase(), span = c.field.span());
        let quoted = tenant_sql::ident::quote(&c.name);
        let doc = format!(
            "The `{field}` column (`{}`), for `filter` and `order_by`.",
            c.name
        );
        quote_spanned! {c.field.span()=>
            #[doc = #doc]
            #[allow(dead_code)]
            #vis const #constant: #rt::Column<#ident, #ty> = #rt::Column::new(#quoted);
        }
    });
    quote! {
        #[automatically_derived]
        impl #ident {
            #(#constants)*
        }
    }
}

/// `find_by_..` for every unique constraint that is not the primary key:
/// the tenant's row with those values, by a statement written now.
fn finders(model: &Model, rt: &TokenStream, spec: &statements::Table<'_>) -> TokenStream {
    let ident = &model.ident;
    let tenant = &model.tenant_column().name;
    let key = &model.primary_key_column().name;
    let mut seen = std::collections::BTreeSet::new();
    let methods = model.uniques.iter().filter_map(|unique| {
        let columns: Vec<&Column> = unique
            .columns
            .iter()
            .filter(|c| *c != tenant)
            .map(|c| model.column(c))
            .collect();
        if columns.is_empty() || (columns.len() == 1 && columns[0].name == *key) {
            return None;
        }
        let fields: Vec<String> = columns
            .iter()
            .map(|c| c.field.unraw().to_string())
            .collect();
        let name = format!("find_by_{}", fields.join("_and_"));
        if !seen.insert(name.clone()) {
            return None;
        }
        let method = format_ident!("{}", name);
        let sql = spec.find_by(&columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>());
        let params: Vec<syn::Ident> = fields.iter().map(|f| format_ident!("{}", f)).collect();
        let types = columns.iter().map(|c| &c.ty);
        let doc = format!(
            "The tenant's `{ident}` whose {} {}, if it has one (the `unique({})` constraint).",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(" and "),
            if fields.len() == 1 {
                "is the one given"
            } else {
                "are the ones given"
            },
            unique.columns.join(", "),
        );
        Some(quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            pub async fn #method<'v>(
                &self,
                #(#params: impl #rt::Value<'v, #types>),*
            ) -> #rt::Result<::core::option::Option<#ident>> {
                #rt::__private::find_by(self.tx, #sql, |args| args #(.bind(#params))*).await
            }
        })
    });
    let methods: Vec<TokenStream> = methods.collect();
    quote! {
        /// The finders of the model's unique constraints, on one tenant
        /// transaction (what `Model::scoped(&tx)` dereferences to).
        pub struct __Finders<'tx> {
            tx: &'tx #rt::TenantTx,
        }

        #[automatically_derived]
        impl<'tx> #rt::__private::Finders<'tx> for __Finders<'tx> {
            fn new(tx: &'tx #rt::TenantTx) -> Self {
                Self { tx }
            }
        }

        #[automatically_derived]
        impl<'tx> __Finders<'tx> {
            #(#methods)*
        }
    }
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
                type Finders<'tx> = #rt::__private::NoFinders<'tx>;
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
                let on_delete = format_ident!("{}", r.on_delete.variant());
                quote!(::core::option::Option::Some(#rt::meta::TableRef {
                    schema: #schema,
                    name: #table,
                    on_delete: #rt::meta::OnDelete::#on_delete,
                }))
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
    let filter = {
        let statements::FilterPieces {
            select,
            table,
            tenant,
            key,
        } = &queries.filter;
        quote!(#rt::meta::FilterSql { select: #select, table: #table, tenant: #tenant, key: #key })
    };
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
                filter: #filter,
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
