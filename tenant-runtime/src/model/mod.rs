//! What a model is: the metadata `#[derive(TenantScoped)]` writes at
//! compile time ([`meta`]), the trait it implements ([`TenantTable`]), and
//! the registry of every model linked into the program ([`registry`]).

pub mod meta;
pub mod registry;
mod table;

pub use table::{TenantColumn, TenantTable};
