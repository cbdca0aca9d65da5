//! Queries on tenant tables: one tenant's rows ([`Scoped`]), every
//! tenant's rows for the system role ([`System`]), and hand-written SQL
//! that still runs inside the transaction ([`RawQuery`]).

mod entry;
mod run;
mod scoped;
mod system;

pub use entry::TenantScoped;
pub(crate) use run::{Args, execute, fetch_all, fetch_count, fetch_optional};
pub use run::{RawQuery, Row};
pub use scoped::Scoped;
pub use system::System;
