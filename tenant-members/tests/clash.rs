//! A model mapping a table this crate's SQL creates is refused when the
//! registry is built, not when the migration runs: tenant-tests' example
//! models include a tenant table named `users`.

use tenant_runtime::registry::{self, RegistryError};

#[test]
fn a_tenant_model_named_users_is_refused_with_the_library_linked() {
    tenant_tests::link();
    tenant_members::link();
    match registry::tables() {
        Err(RegistryError::TableOfExtension {
            table,
            model,
            owner,
        }) => {
            assert_eq!(table, "public.users");
            assert_eq!(model, "tenant_tests::User");
            assert_eq!(owner, "public.memberships");
        }
        other => panic!("expected the clash to be refused, got {other:?}"),
    }
    let message = registry::tables().unwrap_err().to_string();
    assert!(message.contains("#[tenant_table(name"), "{message}");
}
