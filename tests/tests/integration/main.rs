//! Integration tests against the PostgreSQL in `DATABASE_URL`: each test
//! gets its own database from `#[sqlx::test]`, and every isolation
//! assertion runs as a non-superuser role without BYPASSRLS that does not
//! own the tables.

mod attacks;
mod cli_check;
mod cli_common;
mod cli_context;
mod cli_init;
mod cli_roles;
mod cli_seed;
mod common;
mod ddl_catalog;
mod ddl_generated;
mod docs;
mod emit_cli;
mod hot_standby;
mod node_interop;
mod parallel_plans;
mod planner_statistics;
mod queries;
mod rls_behaviour;
mod scoped_api;
mod soak;
#[allow(dead_code)] // the soak bench uses the rest of it
mod soak_load;
mod tenant_tx;
mod tenants_api;
