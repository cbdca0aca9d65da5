//! The SQL rules of the tenant-isolation crates, in one place, with no
//! dependencies: the derive ([`tenant-macros`]), the DDL emitter and the
//! runtime ([`tenant-runtime`]) and the command line ([`tenant-cli`]) all
//! quote, check and spell SQL through this crate, so they cannot disagree.
//!
//! - [`ident`]: which names a model may use, how they are written in an
//!   attribute, how they are quoted, the 63-byte limit;
//! - [`literal`]: string literals;
//! - [`names`]: the names of generated indexes, constraints and policies;
//! - [`types`]: the Rust <-> SQL type table;
//! - [`default_expr`]: what a column default may be;
//! - [`statements`]: the text of every generated statement.
//!
//! [`tenant-macros`]: https://docs.rs/tenant-macros
//! [`tenant-runtime`]: https://docs.rs/tenant-runtime
//! [`tenant-cli`]: https://docs.rs/tenant-cli

#![forbid(unsafe_code)]

pub mod default_expr;
pub mod ident;
pub mod literal;
pub mod names;
pub mod on_delete;
pub mod statements;
pub mod types;
