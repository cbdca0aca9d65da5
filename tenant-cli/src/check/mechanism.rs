//! The tenant context mechanism: which ones the database offers
//! (`tenancy.context_mechanisms()`), which one a `TenantPool` connecting
//! with the checked URL would choose, and, when the `tenant_context`
//! extension is installed, that it is the extension's own functions that
//! run and that its token setting stays unreadable.

use tenant_runtime::tx::ContextMechanism;

use super::{Check, Ctx, Finding, Severity, Verdict};
use crate::catalog::{Extension, SettingRead};

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "context.mechanism",
        severity: Severity::Error,
        title: "a tenant context mechanism runs where the checked URL connects (reports those tenancy.context_mechanisms() lists, the tenant_context extension, and the one a TenantPool would choose)",
        run: mechanism,
    },
    Check {
        id: "context.extension-sealed",
        severity: Severity::Error,
        title: "the tenant_context extension, when installed, owns every function in its schema, and the application role cannot read tenant_context.token (current_setting refuses; not a member of pg_read_all_settings)",
        run: extension_sealed,
    },
];

/// The predefined role whose members read every setting, superuser-only
/// ones included.
const READ_ALL_SETTINGS: &str = "pg_read_all_settings";

/// The functions the extension creates, `name(argument types)`.
const EXTENSION_FUNCTIONS: &[&str] = &[
    "open_session(integer, bytea, bytea)",
    "session_open()",
    "tenant()",
    "user_id()",
];

const SWITCH_TO_EXTENSION: &str =
    "as the migration owner, CREATE EXTENSION tenant_context; SELECT tenancy.install_context();";

/// What each mechanism is, for the report.
fn describe(m: ContextMechanism) -> &'static str {
    match m {
        ContextMechanism::Extension => {
            "the tenant_context extension: the token checked natively, the verified tenant kept in backend memory"
        }
        ContextMechanism::Session => {
            "the SQL session: temporary objects per connection, one message per begin"
        }
        ContextMechanism::Bound => {
            "bound tokens: signed for each transaction's backend and start, two round trips per begin"
        }
        _ => "a mechanism this check does not know",
    }
}

fn mechanism(ctx: &Ctx<'_>) -> Verdict {
    let facts = &ctx.catalog.context;
    let mechanisms = match &facts.mechanisms {
        Ok(m) => m,
        Err(why) => {
            return Verdict::Fail(vec![Finding::new(
                "tenancy.context_mechanisms()",
                format!(
                    "the database offers no tenant context mechanism: tenancy.context_mechanisms() failed ({why}), so a TenantPool refuses to start (the emit-rls migration that installs the context is not applied)"
                ),
                "apply the migration `emit-rls -o migrations/` writes, as the migration owner",
            )]);
        }
    };
    let listed = if mechanisms.is_empty() {
        "nothing".to_owned()
    } else {
        mechanisms.join(", ")
    };
    let server = if facts.in_recovery {
        "a hot standby (pg_is_in_recovery() is true)"
    } else {
        "a primary (pg_is_in_recovery() is false)"
    };
    let extension = extension_facts(
        facts.extension.as_ref(),
        facts.extension_available.as_deref(),
    );
    let unused = facts.extension.is_some() && !mechanisms.iter().any(|m| m == "extension");
    let Some(here) = ContextMechanism::choose(mechanisms, facts.in_recovery, false) else {
        return Verdict::Fail(vec![Finding::new(
            "tenancy.context_mechanisms()",
            format!(
                "no tenant context mechanism runs where this URL connects: tenancy.context_mechanisms() lists {listed} and the server is {server} (the SQL session needs a primary); {extension}. A TenantPool connecting here refuses to start"
            ),
            format!(
                "apply the newest emit-rls migration (its bound tokens run on a hot standby and behind a transaction pooler), or install the extension ({SWITCH_TO_EXTENSION})"
            ),
        )]);
    };
    let pooled = match ContextMechanism::choose(mechanisms, facts.in_recovery, true) {
        Some(m) => format!("would use {m}"),
        None => "would find none it can use (bound is not listed) and refuse to start".to_owned(),
    };
    let mut note = format!(
        "tenancy.context_mechanisms() lists {listed}; {extension}; the server is {server}. A TenantPool connecting with this URL enters tenants with {here} ({}). Whether the URL goes through a transaction pooler (PgBouncer in transaction mode) cannot be seen from the database: a pool told so with PoolOptions::transaction_pooler(true) {pooled}.",
        describe(here)
    );
    if unused {
        note.push_str(
            " The extension is installed but the context does not use it: SELECT tenancy.install_context(); as the migration owner switches to it.",
        );
    }
    Verdict::Note(note)
}

/// "the tenant_context extension 0.1.0 is installed (schema
/// tenant_context)", or what is available.
fn extension_facts(extension: Option<&Extension>, available: Option<&str>) -> String {
    match (extension, available) {
        (Some(e), Some(a)) if a != e.version => format!(
            "the tenant_context extension {} is installed (schema {}), and the server has {a} (ALTER EXTENSION tenant_context UPDATE; moves to it)",
            e.version, e.schema
        ),
        (Some(e), _) => format!(
            "the tenant_context extension {} is installed (schema {})",
            e.version, e.schema
        ),
        (None, Some(a)) => format!(
            "the tenant_context extension is not installed, and the server has version {a}: {SWITCH_TO_EXTENSION} switches to it"
        ),
        (None, None) => {
            "the tenant_context extension is neither installed nor available on the server"
                .to_owned()
        }
    }
}

fn extension_sealed(ctx: &Ctx<'_>) -> Verdict {
    let Some(extension) = &ctx.catalog.context.extension else {
        return Verdict::Skip(
            "the tenant_context extension is not installed in this database (see context.mechanism)"
                .to_owned(),
        );
    };
    let role = &ctx.catalog.session.role;
    let schema = &extension.schema;
    let mut findings = Vec::new();
    for f in extension.functions.iter().filter(|f| !f.member) {
        findings.push(Finding::new(
            format!("{schema}.{}", f.signature),
            format!(
                "{schema}.{} is in the extension's schema but does not belong to the extension: someone created it there, and a call meant for the extension's function could reach it",
                f.signature
            ),
            format!(
                "DROP FUNCTION {schema}.{}; then find out who could create it (only the extension's owner should have CREATE on schema {schema})",
                f.signature
            ),
        ));
    }
    for expected in EXTENSION_FUNCTIONS {
        if !extension
            .functions
            .iter()
            .any(|f| f.member && f.signature == *expected)
        {
            findings.push(Finding::new(
                format!("{schema}.{expected}"),
                format!(
                    "the extension has no function {schema}.{expected}: the installed files are not those of version {}, and the pool or the policies cannot use it",
                    extension.version
                ),
                "ALTER EXTENSION tenant_context UPDATE; (as its owner), or install the server package of the extension's version",
            ));
        }
    }
    match &extension.token_read {
        SettingRead::Refused { code, .. } if code == "42501" => {}
        SettingRead::Refused { code, message } => findings.push(Finding::new(
            "tenant_context.token",
            format!(
                "current_setting('tenant_context.token') failed with {code} ({message}), not with permission denied (42501): the setting is not the extension's superuser-only one, so its library may not be loaded where the role connects"
            ),
            "check that the server loads the tenant_context library of the installed version (ALTER EXTENSION tenant_context UPDATE; as its owner)",
        )),
        SettingRead::Read(value) => findings.push(Finding::new(
            "tenant_context.token",
            format!(
                "{role} read current_setting('tenant_context.token') (it returned {}): SQL of the role can read the token of its own transaction, which only TenantPool should see",
                value.as_deref().map_or_else(|| "NULL".to_owned(), |v| if v.is_empty() { "an empty value".to_owned() } else { "a value".to_owned() })
            ),
            format!(
                "make {role} neither a superuser nor a member of {READ_ALL_SETTINGS} (REVOKE {READ_ALL_SETTINGS} FROM {role};), and check that the server loads the tenant_context library of the installed version"
            ),
        )),
    }
    if ctx
        .catalog
        .memberships
        .iter()
        .any(|m| m.name == READ_ALL_SETTINGS)
    {
        findings.push(Finding::new(
            role.as_str(),
            format!(
                "{role} is a member of {READ_ALL_SETTINGS}, which reads every setting, superuser-only ones such as tenant_context.token included"
            ),
            format!(
                "REVOKE {READ_ALL_SETTINGS} FROM {role}; (or from the role it is granted through)"
            ),
        ));
    }
    Verdict::from_findings(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, ExtensionFunction, Membership};

    fn ctx(catalog: &Catalog) -> Ctx<'_> {
        Ctx {
            catalog,
            tenant_tables: Vec::new(),
            models: &[],
            system: None,
            probe: None,
        }
    }

    fn extension(functions: &[(&str, bool)], token_read: SettingRead) -> Extension {
        Extension {
            version: "0.1.0".to_owned(),
            schema: "tenant_context".to_owned(),
            functions: functions
                .iter()
                .map(|(s, member)| ExtensionFunction {
                    signature: (*s).to_owned(),
                    member: *member,
                })
                .collect(),
            token_read,
        }
    }

    fn refused() -> SettingRead {
        SettingRead::Refused {
            code: "42501".to_owned(),
            message: "permission denied".to_owned(),
        }
    }

    #[test]
    fn the_chosen_mechanism_is_reported_and_none_fails() {
        let mut catalog = Catalog::for_tests(Vec::new());
        let Verdict::Note(note) = mechanism(&ctx(&catalog)) else {
            panic!("a primary with session and bound passes with a note");
        };
        assert!(note.contains("lists session, bound"), "{note}");
        assert!(note.contains("enters tenants with session"), "{note}");
        assert!(note.contains("cannot be seen from the database"), "{note}");
        assert!(
            note.contains("transaction_pooler(true) would use bound"),
            "{note}"
        );

        catalog.context.in_recovery = true;
        let Verdict::Note(note) = mechanism(&ctx(&catalog)) else {
            panic!("a standby with bound passes");
        };
        assert!(note.contains("enters tenants with bound"), "{note}");

        catalog.context.mechanisms = Ok(vec!["session".to_owned()]);
        let Verdict::Fail(findings) = mechanism(&ctx(&catalog)) else {
            panic!("a standby with the session only fails");
        };
        assert!(findings[0].message.contains("hot standby"), "{findings:?}");

        catalog.context.mechanisms =
            Err("42883: function tenancy.context_mechanisms() does not exist".to_owned());
        assert!(matches!(mechanism(&ctx(&catalog)), Verdict::Fail(_)));
    }

    #[test]
    fn an_installed_extension_that_the_context_does_not_use_is_said() {
        let mut catalog = Catalog::for_tests(Vec::new());
        catalog.context.extension = Some(extension(&[], refused()));
        let Verdict::Note(note) = mechanism(&ctx(&catalog)) else {
            panic!("passes");
        };
        assert!(
            note.contains("tenant_context extension 0.1.0 is installed"),
            "{note}"
        );
        assert!(note.contains("SELECT tenancy.install_context()"), "{note}");
    }

    #[test]
    fn the_extension_check_skips_without_it_and_finds_what_is_wrong() {
        let mut catalog = Catalog::for_tests(Vec::new());
        assert!(matches!(extension_sealed(&ctx(&catalog)), Verdict::Skip(_)));

        let all: Vec<(&str, bool)> = EXTENSION_FUNCTIONS.iter().map(|f| (*f, true)).collect();
        catalog.context.extension = Some(extension(&all, refused()));
        assert_eq!(extension_sealed(&ctx(&catalog)), Verdict::Pass);

        let mut planted = all.clone();
        planted.push(("tenant(uuid)", false));
        catalog.context.extension = Some(extension(
            &planted[1..],
            SettingRead::Read(Some(String::new())),
        ));
        catalog.memberships.push(Membership {
            name: READ_ALL_SETTINGS.to_owned(),
            superuser: false,
            bypassrls: false,
        });
        let Verdict::Fail(findings) = extension_sealed(&ctx(&catalog)) else {
            panic!("fails");
        };
        let objects: Vec<&str> = findings.iter().map(|f| f.object.as_str()).collect();
        assert_eq!(
            objects,
            [
                "tenant_context.tenant(uuid)",
                "tenant_context.open_session(integer, bytea, bytea)",
                "tenant_context.token",
                "app"
            ]
        );
        assert!(
            findings[3]
                .fix
                .contains("REVOKE pg_read_all_settings FROM app")
        );
    }
}
