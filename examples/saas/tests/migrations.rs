//! The committed migration is what `saas-tenant emit-rls` writes for the
//! models today, so a model change without a new migration fails here.

use std::path::Path;

use tenant_cli::{Command, EmitArgs, Outcome};

#[test]
fn the_committed_migration_matches_the_models() {
    tenant_saas_example::models::link();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let check = Command::EmitRls(EmitArgs {
        out: None,
        check: Some(dir),
        dry_run: false,
        allow_no_models: false,
        citus: false,
    });
    assert_eq!(check.run().expect("the folder is readable"), Outcome::Ok);
}
