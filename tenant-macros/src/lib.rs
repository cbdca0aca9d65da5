//! `#[derive(TenantScoped)]`: the proc-macro half of
//! [`tenant-runtime`](https://docs.rs/tenant-runtime). Depend on
//! `tenant-runtime`, which re-exports this derive; the generated code only
//! names paths under `::tenant_runtime`.
//!
//! The macro runs in three steps, each its own module: `ast` parses the
//! attributes with darling, `validate` checks them against the struct and
//! collects every error, `expand` writes the code. When validation fails
//! the macro still emits a stand-in impl, so the user sees the attribute
//! errors and not a cascade of "trait not implemented" after them.

#![forbid(unsafe_code)]

mod ast;
mod expand;
mod model;
#[cfg(test)]
mod props;
mod sql_type;
mod validate;

use proc_macro::TokenStream;

/// Registers a struct as a tenant-owned table and generates its scoped
/// queries. See the `tenant-runtime` crate for the attributes and the
/// generated API.
///
/// ```text
/// #[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
/// #[tenant_table(name = "users", unique(tenant_id, email))]
/// pub struct User {
///     #[tenant(primary_key, generated)]
///     pub id: i64,
///     pub tenant_id: TenantId,
///     pub email: String,
/// }
/// ```
#[proc_macro_derive(TenantScoped, attributes(tenant_table, tenant))]
pub fn derive_tenant_scoped(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match validate::validate(&input) {
        Ok(model) => expand::expand(&model),
        Err(errors) => expand::fallback(&input, errors.write_errors()),
    }
    .into()
}
