//! What the workspace's tests and benchmarks share, in a crate that
//! registers no model: linking it adds nothing to a binary's tenant
//! tables (tenant-tests' example models would: one is a tenant `users`
//! table, which tenant-members ships as a global one).

#![forbid(unsafe_code)]

pub mod bench;
pub mod mechanism;
pub mod session;
pub mod setup;
pub mod wire;
