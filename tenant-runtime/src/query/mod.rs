//! Queries on tenant tables: one tenant's rows ([`Scoped`]), every
//! tenant's rows for the system role ([`System`]), narrowed by typed
//! conditions on columns ([`Query`], [`Column`]), found by a unique
//! constraint (generated `find_by_..` finders), and hand-written SQL that
//! still runs inside the transaction ([`RawQuery`]).

mod entry;
mod filter;
mod finders;
mod run;
mod scoped;
mod select;
mod system;

pub use entry::TenantScoped;
pub use filter::{Column, Compare, Filter, Order, Value};
#[doc(hidden)]
pub use finders::{Finders, NoFinders, find_by};
pub use run::Args;
pub use run::{NoColumns, RawQuery, Row};
pub(crate) use run::{execute, fetch_all, fetch_count, fetch_optional};
pub use scoped::Scoped;
pub use select::Query;
pub use system::System;
