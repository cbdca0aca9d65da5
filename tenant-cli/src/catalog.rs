//! What `check`, `init` and `add-table` read from a live database: every
//! user table in every schema with its columns, keys, indexes, policies
//! and triggers, plus the views, functions and roles around them.
//!
//! Everything is read once, as the connected role (privilege columns are
//! that role's), in a handful of catalog queries; the validations are then
//! plain functions over this snapshot.

use std::collections::BTreeMap;

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Connection as _, Row as _};
use tenant_sql::ident::quote as quote_ident;

use crate::db::QueryContext as _;

/// Leaves out the schemas that never hold application tables (`n` is the
/// schema's `pg_namespace` row), as a literal for `concat!`.
macro_rules! user_schemas {
    () => {
        "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
    };
}

pub(crate) const SESSION: &str = "\
SELECT current_user::text AS role, current_database()::text AS database,
       r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
       r.rolcreaterole AS createrole, r.rolreplication AS replication,
       has_database_privilege(current_database(), 'TEMP') AS temp,
       ARRAY(SELECT n.nspname::text FROM pg_namespace n
             WHERE has_schema_privilege(n.oid, 'CREATE')
               AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
             ORDER BY 1) AS creatable_schemas,
       ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND p.proname = ANY($1::text[])
               AND EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus')
               AND has_function_privilege(p.oid, 'EXECUTE')
             ORDER BY 1) AS citus_remote_sql,
       current_setting('server_version_num')::int4 AS server_version
FROM pg_roles r WHERE r.rolname = current_user";

/// Roles the connected role can `SET ROLE` to (and so act as).
const MEMBERSHIPS: &str = "\
SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls
FROM pg_roles r
WHERE r.rolname <> current_user AND pg_has_role(current_user, r.oid, 'MEMBER')
ORDER BY r.rolname";

const TABLES: &str = concat!(
    "\
SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name,
       pg_get_userbyid(c.relowner)::text AS owner,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       has_table_privilege(c.oid, 'SELECT') AND usable AS can_select,
       has_table_privilege(c.oid, 'INSERT') AND usable AS can_insert,
       has_table_privilege(c.oid, 'UPDATE') AND usable AS can_update,
       has_table_privilege(c.oid, 'DELETE') AND usable AS can_delete,
       has_table_privilege(c.oid, 'TRUNCATE') AND usable AS can_truncate,
       ARRAY(SELECT DISTINCT a.privilege_type::text FROM aclexplode(c.relacl) a
             WHERE a.grantee = 0 ORDER BY 1) AS public_privileges,
       ARRAY(SELECT DISTINCT s.oid::regclass::text
               FROM pg_attrdef ad
               JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                               AND d.refclassid = 'pg_class'::regclass
               JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
              WHERE ad.adrelid = c.oid
                AND NOT (has_sequence_privilege(s.oid, 'USAGE')
                         AND has_schema_privilege(s.relnamespace, 'USAGE'))
              ORDER BY 1) AS sequences_without_usage
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
     LATERAL (SELECT has_schema_privilege(n.oid, 'USAGE') AS usable) AS schema_usage
WHERE c.relkind IN ('r', 'p') AND ",
    user_schemas!(),
    "
ORDER BY n.nspname, c.relname"
);

const COLUMNS: &str = concat!(
    "\
SELECT a.attrelid::int8 AS table_oid, a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS sql_type,
       t.typname::text AS type_name,
       coalesce(et.typname::text, '') AS element_type,
       t.typtype::text = 'e' OR coalesce(et.typtype::text = 'e', false) AS is_enum,
       a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity::text <> '' AS identity,
       a.attgenerated::text <> '' AS computed,
       coalesce(a.attstattarget, -1)::int4 AS stat_target
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND ",
    user_schemas!(),
    "
ORDER BY a.attrelid, a.attnum"
);

const CONSTRAINTS: &str = concat!(
    "\
SELECT con.conrelid::int8 AS table_oid, con.conname::text AS name, con.contype::text AS kind,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.pos) AS columns,
       con.confrelid::int8 AS ref_oid,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.pos) AS ref_columns,
       con.confdeltype::text AS on_delete
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('p', 'u', 'f') AND ",
    user_schemas!(),
    "
ORDER BY con.conrelid, con.conname"
);

/// Key columns only (not `INCLUDE` ones); an expression column reads as
/// '' in `columns` and as its text in `expressions` (a plain one as '').
const INDEXES: &str = concat!(
    "\
SELECT i.indrelid::int8 AS table_oid, ic.relname::text AS name,
       i.indisunique AS is_unique, i.indisprimary AS is_primary,
       i.indpred IS NOT NULL AS partial, am.amname::text AS method,
       ARRAY(SELECT coalesce(a.attname::text, '') FROM generate_series(0, i.indnkeyatts - 1) AS k(pos)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos]
             ORDER BY k.pos) AS columns,
       ARRAY(SELECT CASE WHEN i.indkey[k.pos] = 0 THEN pg_get_indexdef(i.indexrelid, k.pos + 1, true) ELSE '' END
             FROM generate_series(0, i.indnkeyatts - 1) AS k(pos) ORDER BY k.pos) AS expressions,
       ARRAY(SELECT coalesce(ia.attstattarget, -1)::int4 FROM generate_series(0, i.indnkeyatts - 1) AS k(pos)
             JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = k.pos + 1
             ORDER BY k.pos) AS stat_targets
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ",
    user_schemas!(),
    "
ORDER BY i.indrelid, ic.relname"
);

const POLICIES: &str = concat!(
    "\
SELECT p.polrelid::int8 AS table_oid, p.polname::text AS name, p.polcmd::text AS command,
       p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END
             FROM unnest(p.polroles) r ORDER BY 1) AS roles,
       EXISTS (SELECT 1 FROM unnest(p.polroles) r
               WHERE r = 0 OR pg_has_role(current_user, r, 'MEMBER')) AS applies_to_role,
       pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ",
    user_schemas!(),
    "
ORDER BY p.polrelid, p.polname"
);

/// `tgtype` bits: 2 BEFORE, 4 INSERT, 16 UPDATE.
const TRIGGERS: &str = concat!(
    "\
SELECT t.tgrelid::int8 AS table_oid,
       pn.nspname::text || '.' || p.proname::text AS function,
       (t.tgtype & 2) <> 0 AS before, (t.tgtype & 4) <> 0 AS on_insert, (t.tgtype & 16) <> 0 AS on_update,
       t.tgenabled::text <> 'D' AS enabled
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND ",
    user_schemas!(),
    "
ORDER BY t.tgrelid, t.tgname"
);

/// Extended statistics objects (`CREATE STATISTICS`): their expressions
/// and their statistics target (-1 the default).
const STATISTICS_OBJECTS: &str = concat!(
    "\
SELECT s.stxrelid::int8 AS table_oid, sn.nspname::text AS schema, s.stxname::text AS name,
       coalesce(pg_get_statisticsobjdef_expressions(s.oid), '{}')::text[] AS expressions,
       coalesce(s.stxstattarget, -1)::int4 AS stat_target
FROM pg_statistic_ext s
JOIN pg_namespace sn ON sn.oid = s.stxnamespace
JOIN pg_class c ON c.oid = s.stxrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ",
    user_schemas!(),
    "
ORDER BY s.stxrelid, s.stxname"
);

/// Views and materialized views with the relations their rules read.
const VIEWS: &str = concat!(
    "\
SELECT v.oid::int8 AS oid, n.nspname::text AS schema, v.relname::text AS name,
       v.relkind::text = 'm' AS materialized,
       EXISTS (SELECT 1 FROM unnest(v.reloptions) o
               WHERE lower(o) IN ('security_invoker=true', 'security_invoker=on',
                                  'security_invoker=1', 'security_invoker=yes')) AS security_invoker,
       has_table_privilege(v.oid, 'SELECT') AS can_select,
       ARRAY(SELECT DISTINCT d.refobjid::int8 FROM pg_rewrite r
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                              AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
             WHERE r.ev_class = v.oid ORDER BY 1) AS reads
FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace
WHERE v.relkind IN ('v', 'm') AND ",
    user_schemas!(),
    "
ORDER BY n.nspname, v.relname"
);

const DEFINERS: &str = concat!(
    "\
SELECT n.nspname::text AS schema, p.proname::text AS name,
       pg_get_function_identity_arguments(p.oid) AS args,
       pg_get_userbyid(p.proowner)::text AS owner, coalesce(p.prosrc, '') AS body,
       has_function_privilege(p.oid, 'EXECUTE') AS can_execute,
       coalesce(o.rolsuper OR o.rolbypassrls, false) AS owner_bypasses_rls,
       (SELECT e.extname::text FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') AS extension
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_roles o ON o.oid = p.proowner
WHERE p.prosecdef AND ",
    user_schemas!(),
    "
ORDER BY n.nspname, p.proname, 3"
);

/// The functions emit-rls puts in the `tenancy` schema.
const TENANCY_FUNCTIONS: &str = "\
SELECT p.proname::text AS name, pg_get_function_identity_arguments(p.oid) AS args,
       CASE p.prokind WHEN 'p' THEN 'procedure' ELSE format_type(p.prorettype, NULL) END AS returns,
       has_function_privilege(p.oid, 'EXECUTE') AS can_execute,
       coalesce(p.proconfig, '{}') AS config
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'tenancy'
ORDER BY p.proname, 2";

/// Roles in the compatibility list (empty without the table).
const COMPAT_ROLES: &str = "\
SELECT coalesce(array_agg(r.role_name::text ORDER BY r.role_name), '{}') FROM tenancy.compat_roles r";

const TENANCY_USAGE: &str =
    "SELECT has_schema_privilege(n.oid, 'USAGE') FROM pg_namespace n WHERE n.nspname = 'tenancy'";

/// Defaults PostgreSQL applies to every new connection of the session's
/// role here (`ALTER ROLE .. [IN DATABASE ..] SET`, `ALTER DATABASE ..
/// SET`): role and database first, then the role's, then the database's.
const STORED_SETTINGS: &str = "\
SELECT CASE WHEN s.setdatabase = 0 THEN NULL ELSE d.datname::text END AS database,
       CASE WHEN s.setrole = 0 THEN NULL ELSE r.rolname::text END AS role,
       coalesce(s.setconfig, '{}')::text[] AS settings
FROM pg_catalog.pg_db_role_setting s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
WHERE s.setdatabase IN (0, (SELECT d2.oid FROM pg_catalog.pg_database d2 WHERE d2.datname = current_database()))
  AND s.setrole IN (0, (SELECT r2.oid FROM pg_catalog.pg_roles r2 WHERE r2.rolname = current_user))
ORDER BY s.setrole = 0, s.setdatabase = 0";

/// Where the connection is, and the `tenant_context` extension: installed
/// (its version and schema) or only available on the server.
const CONTEXT_SERVER: &str = "\
SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
       e.extversion::text AS version, n.nspname::text AS schema,
       (SELECT a.default_version::text FROM pg_catalog.pg_available_extensions a
         WHERE a.name = 'tenant_context') AS available
FROM (SELECT 1) AS one
LEFT JOIN pg_catalog.pg_extension e ON e.extname = 'tenant_context'
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace";

/// What the migration installed (`tenancy.install_context()`): the
/// mechanisms a tenant pool chooses from.
const CONTEXT_MECHANISMS: &str = "SELECT tenancy.context_mechanisms()::text[]";

/// Every function in the extension's schema, and whether it is a member
/// of the extension (`pg_depend` deptype `e`).
const EXTENSION_FUNCTIONS: &str = "\
SELECT p.proname::text || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS signature,
       EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
               WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                 AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid) AS member
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_proc p ON p.pronamespace = e.extnamespace
WHERE e.extname = 'tenant_context'
ORDER BY 1";

/// Loads the extension's library into this backend (the setting exists
/// only once it is loaded); has no other effect.
const EXTENSION_LOAD: &str = "SELECT tenant_context.session_open()";
/// What the application role must not be able to read.
const EXTENSION_TOKEN: &str = "SELECT pg_catalog.current_setting('tenant_context.token')";

/// Who the connection is and how PostgreSQL treats it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) role: String,
    pub(crate) database: String,
    pub(crate) superuser: bool,
    pub(crate) bypassrls: bool,
    pub(crate) createrole: bool,
    pub(crate) replication: bool,
    /// May create temporary tables in this database.
    pub(crate) temp: bool,
    /// Schemas the role may create objects in.
    pub(crate) creatable_schemas: Vec<String>,
    /// On a Citus node: the functions of Citus that run SQL text on other
    /// nodes (or give a transaction a distributed id) the role may execute.
    pub(crate) citus_remote_sql: Vec<String>,
    pub(crate) server_version: i32,
}

/// A role the session's role is a member of.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub(crate) name: String,
    pub(crate) superuser: bool,
    pub(crate) bypassrls: bool,
}

/// One column of a table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// `format_type`: `bigint`, `character varying(80)`, `text[]`.
    pub(crate) sql_type: String,
    /// `pg_type.typname`: `int8`, `varchar`, `_text`.
    pub(crate) type_name: String,
    /// For arrays, the element's `typname`; otherwise ''.
    pub(crate) element_type: String,
    pub(crate) is_enum: bool,
    pub(crate) not_null: bool,
    pub(crate) default: Option<String>,
    pub(crate) identity: bool,
    /// `GENERATED ALWAYS AS (..) STORED`.
    pub(crate) computed: bool,
    /// `attstattarget`: -1 the default, 0 no planner statistics.
    pub(crate) stat_target: i32,
}

/// What a constraint is (`pg_constraint.contype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
}

impl ConstraintKind {
    fn from_contype(contype: &str) -> Option<Self> {
        match contype {
            "p" => Some(Self::PrimaryKey),
            "u" => Some(Self::Unique),
            "f" => Some(Self::ForeignKey),
            _ => None,
        }
    }
}

/// What a policy governs (`pg_policy.polcmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl PolicyCommand {
    fn from_polcmd(polcmd: &str) -> Option<Self> {
        match polcmd {
            "*" => Some(Self::All),
            "r" => Some(Self::Select),
            "a" => Some(Self::Insert),
            "w" => Some(Self::Update),
            "d" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// A catalog value this module does not know (a newer server, say).
fn unknown(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unknown {what} {value:?} in the catalog").into())
}

/// A primary key, unique or foreign key constraint.
#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    pub(crate) name: String,
    pub(crate) kind: ConstraintKind,
    pub(crate) columns: Vec<String>,
    /// The referenced table, for a foreign key.
    pub(crate) ref_oid: i64,
    pub(crate) ref_columns: Vec<String>,
    /// `pg_constraint.confdeltype` of a foreign key (`a` no action, `r`
    /// restrict, `c` cascade, `n` set null, `d` set default); else ' '.
    pub(crate) on_delete: char,
}

/// An index; expression columns are ''.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) name: String,
    pub(crate) unique: bool,
    pub(crate) primary: bool,
    pub(crate) partial: bool,
    pub(crate) method: String,
    pub(crate) columns: Vec<String>,
    /// For each key column: its expression, or '' for a plain column.
    pub(crate) expressions: Vec<String>,
    /// For each key column: its statistics target (ANALYZE samples an
    /// expression column's values; -1 the default, 0 none).
    pub(crate) stat_targets: Vec<i32>,
}

/// A row-level security policy.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) command: PolicyCommand,
    pub(crate) permissive: bool,
    pub(crate) roles: Vec<String>,
    /// Names PUBLIC or a role the session's role is a member of.
    pub(crate) applies_to_role: bool,
    pub(crate) using: Option<String>,
    pub(crate) check: Option<String>,
}

impl Policy {
    /// Whether the policy governs writes (INSERT, UPDATE or DELETE).
    pub(crate) fn allows_writes(&self) -> bool {
        self.command != PolicyCommand::Select
    }

    /// Whether the policy governs reads.
    pub(crate) fn allows_reads(&self) -> bool {
        matches!(self.command, PolicyCommand::All | PolicyCommand::Select)
    }

    /// `USING` and `WITH CHECK` text, for searching.
    pub(crate) fn expressions(&self) -> impl Iterator<Item = &str> {
        self.using
            .as_deref()
            .into_iter()
            .chain(self.check.as_deref())
    }
}

/// A user trigger.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    /// `schema.function`.
    pub(crate) function: String,
    pub(crate) before: bool,
    pub(crate) on_insert: bool,
    pub(crate) on_update: bool,
    pub(crate) enabled: bool,
}

/// An extended statistics object (`CREATE STATISTICS`) on a table.
#[derive(Debug, Clone)]
pub(crate) struct StatisticsObject {
    pub(crate) schema: String,
    pub(crate) name: String,
    /// Its expressions, as text (its plain columns are left out: ANALYZE
    /// does not build an object one of whose columns has no statistics).
    pub(crate) expressions: Vec<String>,
    /// -1 the default, 0: ANALYZE builds nothing for it.
    pub(crate) stat_target: i32,
}

/// A table or partitioned table, with everything on it.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) oid: i64,
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) rls_enabled: bool,
    pub(crate) rls_forced: bool,
    pub(crate) can_select: bool,
    pub(crate) can_insert: bool,
    pub(crate) can_update: bool,
    pub(crate) can_delete: bool,
    pub(crate) can_truncate: bool,
    /// Privileges granted to PUBLIC.
    pub(crate) public_privileges: Vec<String>,
    /// Sequences a column default of it calls (`serial`, `nextval(..)`)
    /// that the connected role may not use, so its inserts fail.
    pub(crate) sequences_without_usage: Vec<String>,
    pub(crate) columns: Vec<Column>,
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) indexes: Vec<Index>,
    pub(crate) policies: Vec<Policy>,
    pub(crate) triggers: Vec<Trigger>,
    /// Extended statistics objects on it.
    pub(crate) statistics: Vec<StatisticsObject>,
}

impl Table {
    /// `schema.table`.
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"schema"."table"`, for SQL text.
    pub(crate) fn quoted(&self) -> String {
        tenant_sql::ident::qualified(&self.schema, &self.name)
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key's columns (empty without one).
    pub(crate) fn primary_key(&self) -> &[String] {
        self.constraints
            .iter()
            .find(|c| c.kind == ConstraintKind::PrimaryKey)
            .map_or(&[], |c| &c.columns)
    }

    pub(crate) fn foreign_keys(&self) -> impl Iterator<Item = &Constraint> {
        self.constraints
            .iter()
            .filter(|c| c.kind == ConstraintKind::ForeignKey)
    }
}

/// A view or materialized view and the relations it reads directly.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) oid: i64,
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) materialized: bool,
    pub(crate) security_invoker: bool,
    pub(crate) can_select: bool,
    pub(crate) reads: Vec<i64>,
}

impl View {
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A `SECURITY DEFINER` function.
#[derive(Debug, Clone)]
pub(crate) struct Definer {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) args: String,
    pub(crate) owner: String,
    pub(crate) body: String,
    /// The session's role may call it.
    pub(crate) can_execute: bool,
    /// Its owner is a superuser or has BYPASSRLS.
    pub(crate) owner_bypasses_rls: bool,
    /// The extension it belongs to, if any.
    pub(crate) extension: Option<String>,
}

/// A function of the `tenancy` schema.
#[derive(Debug, Clone)]
pub(crate) struct TenancyFunction {
    pub(crate) name: String,
    pub(crate) args: String,
    pub(crate) returns: String,
    pub(crate) can_execute: bool,
    /// `SET` clauses (`search_path=pg_catalog, pg_temp`).
    pub(crate) config: Vec<String>,
}

/// Defaults stored for new connections (`pg_db_role_setting`) that apply
/// to the session's role in this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredSettings {
    /// The database they are limited to; `None`: every database.
    pub(crate) database: Option<String>,
    /// The role they are limited to; `None`: every role.
    pub(crate) role: Option<String>,
    /// `name=value`, as PostgreSQL stores them.
    pub(crate) settings: Vec<String>,
}

/// A function in the `tenant_context` extension's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtensionFunction {
    /// `name(argument types)`, without the schema.
    pub(crate) signature: String,
    /// It belongs to the extension (made by `CREATE EXTENSION`, not
    /// planted in its schema).
    pub(crate) member: bool,
}

/// What reading a setting did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SettingRead {
    /// It returned this value.
    Read(Option<String>),
    /// The database refused, with this SQLSTATE and message.
    Refused { code: String, message: String },
}

/// The `tenant_context` extension, as installed in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extension {
    pub(crate) version: String,
    pub(crate) schema: String,
    pub(crate) functions: Vec<ExtensionFunction>,
    /// `current_setting('tenant_context.token')` as the session's role,
    /// after loading the library.
    pub(crate) token_read: SettingRead,
}

/// The tenant context the database offers, and where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContextFacts {
    /// `tenancy.context_mechanisms()`, or why it could not be read
    /// (`SQLSTATE: message`; missing before the migration that made it).
    pub(crate) mechanisms: Result<Vec<String>, String>,
    /// `pg_is_in_recovery()`: a hot standby.
    pub(crate) in_recovery: bool,
    /// `None` when the extension is not installed in this database.
    pub(crate) extension: Option<Extension>,
    /// The version the server would install (`pg_available_extensions`'s
    /// default), when it has the extension's files.
    pub(crate) extension_available: Option<String>,
}

/// The snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    pub(crate) session: Session,
    pub(crate) memberships: Vec<Membership>,
    pub(crate) tables: Vec<Table>,
    pub(crate) views: Vec<View>,
    pub(crate) definers: Vec<Definer>,
    pub(crate) tenancy_functions: Vec<TenancyFunction>,
    /// `None` when there is no `tenancy` schema.
    pub(crate) tenancy_usage: Option<bool>,
    /// Roles allowed to set the tenant with set_config alone; `None` when
    /// the table is missing or unreadable.
    pub(crate) compat_roles: Option<Vec<String>>,
    /// Stored defaults that apply to the role's new connections here.
    pub(crate) stored_settings: Vec<StoredSettings>,
    /// The context mechanisms and the extension.
    pub(crate) context: ContextFacts,
    /// On a Citus coordinator: the tables Citus distributes by hash, and
    /// `tenancy.tenant_ids` (the Citus form's reference table of tenant
    /// ids, which their tenant columns reference).
    pub(crate) citus: Option<CitusFacts>,
}

/// What the Citus form of the migration (`emit-rls --citus`) left.
#[derive(Debug, Clone, Default)]
pub(crate) struct CitusFacts {
    /// Oids of the hash-distributed tables.
    pub(crate) distributed: Vec<i64>,
    /// The oid of `tenancy.tenant_ids`, when it is there.
    pub(crate) tenant_ids: Option<i64>,
}

/// Citus's metadata, read only where the citus extension is (elsewhere
/// its tables do not exist).
const CITUS_INSTALLED: &str =
    "SELECT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus')";
const CITUS: &str = "\
SELECT ARRAY(SELECT p.logicalrelid::oid::int8 FROM pg_dist_partition p WHERE p.partmethod = 'h' ORDER BY 1) AS distributed,
       to_regclass('tenancy.tenant_ids')::oid::int8 AS tenant_ids";

#[cfg(test)]
impl Catalog {
    /// A catalog with `tables` seen by a plain application role, for unit tests.
    pub(crate) fn for_tests(tables: Vec<Table>) -> Catalog {
        Catalog {
            session: Session {
                role: "app".to_owned(),
                database: "db".to_owned(),
                superuser: false,
                bypassrls: false,
                createrole: false,
                replication: false,
                temp: false,
                creatable_schemas: Vec::new(),
                citus_remote_sql: Vec::new(),
                server_version: 150_000,
            },
            memberships: Vec::new(),
            tables,
            views: Vec::new(),
            definers: Vec::new(),
            tenancy_functions: Vec::new(),
            tenancy_usage: None,
            compat_roles: None,
            stored_settings: Vec::new(),
            context: ContextFacts {
                mechanisms: Ok(vec!["session".to_owned(), "bound".to_owned()]),
                in_recovery: false,
                extension: None,
                extension_available: None,
            },
            citus: None,
        }
    }
}

impl Catalog {
    /// [`Catalog::load`] with its error as the command line reports it.
    pub(crate) async fn read(conn: &mut PgConnection) -> anyhow::Result<Catalog> {
        Catalog::load(conn).await.doing("reading the catalog")
    }

    /// Reads the snapshot in one read-only transaction, so it is consistent.
    pub(crate) async fn load(conn: &mut PgConnection) -> sqlx::Result<Catalog> {
        let mut tx = conn.begin().await?;
        // $1: the Citus functions that let SQL act outside its transaction.
        let citus_functions: Vec<&str> = tenant_runtime::ddl::CITUS_REMOTE_SQL
            .iter()
            .copied()
            .chain(["assign_distributed_transaction_id"])
            .collect();
        let session = session(
            &sqlx::query(SESSION)
                .bind(citus_functions)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        let memberships = sqlx::query(MEMBERSHIPS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(Membership {
                    name: r.try_get("name")?,
                    superuser: r.try_get("superuser")?,
                    bypassrls: r.try_get("bypassrls")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;

        let mut tables = Vec::new();
        for r in sqlx::query(TABLES).fetch_all(&mut *tx).await? {
            tables.push(table(&r)?);
        }
        let index: BTreeMap<i64, usize> =
            tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
        let on = |oid: i64| index.get(&oid).copied();
        for r in sqlx::query(COLUMNS).fetch_all(&mut *tx).await? {
            if let Some(i) = on(r.try_get("table_oid")?) {
                tables[i].columns.push(column(&r)?);
            }
        }
        for r in sqlx::query(CONSTRAINTS).fetch_all(&mut *tx).await? {
            if let Some(i) = on(r.try_get("table_oid")?) {
                let contype: String = r.try_get("kind")?;
                tables[i].constraints.push(Constraint {
                    name: r.try_get("name")?,
                    kind: ConstraintKind::from_contype(&contype)
                        .ok_or_else(|| unknown("constraint kind", &contype))?,
                    columns: r.try_get("columns")?,
                    ref_oid: r.try_get("ref_oid")?,
                    ref_columns: r.try_get("ref_columns")?,
                    on_delete: r
                        .try_get::<String, _>("on_delete")?
                        .chars()
                        .next()
                        .unwrap_or(' '),
                });
            }
        }
        for r in sqlx::query(INDEXES).fetch_all(&mut *tx).await? {
            if let Some(i) = on(r.try_get("table_oid")?) {
                tables[i].indexes.push(Index {
                    name: r.try_get("name")?,
                    unique: r.try_get("is_unique")?,
                    primary: r.try_get("is_primary")?,
                    partial: r.try_get("partial")?,
                    method: r.try_get("method")?,
                    columns: r.try_get("columns")?,
                    expressions: r.try_get("expressions")?,
                    stat_targets: r.try_get("stat_targets")?,
                });
            }
        }
        for r in sqlx::query(POLICIES).fetch_all(&mut *tx).await? {
            if let Some(i) = on(r.try_get("table_oid")?) {
                let polcmd: String = r.try_get("command")?;
                tables[i].policies.push(Policy {
                    name: r.try_get("name")?,
                    command: PolicyCommand::from_polcmd(&polcmd)
                        .ok_or_else(|| unknown("policy command", &polcmd))?,
                    permissive: r.try_get("permissive")?,
                    roles: r.try_get("roles")?,
                    applies_to_role: r.try_get("applies_to_role")?,
                    using: r.try_get("using_expr")?,
                    check: r.try_get("check_expr")?,
                });
            }
        }
        for r in sqlx::query(TRIGGERS).fetch_all(&mut *tx).await? {
            if let Some(i) = on(r.try_get("table_oid")?) {
                tables[i].triggers.push(Trigger {
                    function: r.try_get("function")?,
                    before: r.try_get("before")?,
                    on_insert: r.try_get("on_insert")?,
                    on_update: r.try_get("on_update")?,
                    enabled: r.try_get("enabled")?,
                });
            }
        }
        for r in sqlx::query(STATISTICS_OBJECTS).fetch_all(&mut *tx).await? {
            if let Some(i) = on(r.try_get("table_oid")?) {
                tables[i].statistics.push(StatisticsObject {
                    schema: r.try_get("schema")?,
                    name: r.try_get("name")?,
                    expressions: r.try_get("expressions")?,
                    stat_target: r.try_get("stat_target")?,
                });
            }
        }
        let views = sqlx::query(VIEWS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(View {
                    oid: r.try_get("oid")?,
                    schema: r.try_get("schema")?,
                    name: r.try_get("name")?,
                    materialized: r.try_get("materialized")?,
                    security_invoker: r.try_get("security_invoker")?,
                    can_select: r.try_get("can_select")?,
                    reads: r.try_get("reads")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        let definers = sqlx::query(DEFINERS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(Definer {
                    schema: r.try_get("schema")?,
                    name: r.try_get("name")?,
                    args: r.try_get("args")?,
                    owner: r.try_get("owner")?,
                    body: r.try_get("body")?,
                    can_execute: r.try_get("can_execute")?,
                    owner_bypasses_rls: r.try_get("owner_bypasses_rls")?,
                    extension: r.try_get("extension")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        let tenancy_functions = sqlx::query(TENANCY_FUNCTIONS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(TenancyFunction {
                    name: r.try_get("name")?,
                    args: r.try_get("args")?,
                    returns: r.try_get("returns")?,
                    can_execute: r.try_get("can_execute")?,
                    config: r.try_get("config")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        let tenancy_usage = sqlx::query_scalar(TENANCY_USAGE)
            .fetch_optional(&mut *tx)
            .await?;
        // Behind a savepoint: the table may be missing (an older schema).
        let compat_roles = {
            let mut sp = tx.begin().await?;
            let roles = sqlx::query_scalar(COMPAT_ROLES)
                .fetch_one(&mut *sp)
                .await
                .ok();
            sp.rollback().await?;
            roles
        };
        let stored_settings = sqlx::query(STORED_SETTINGS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(StoredSettings {
                    database: r.try_get("database")?,
                    role: r.try_get("role")?,
                    settings: r.try_get("settings")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        let context = context_facts(&mut tx).await?;
        let citus = if sqlx::query_scalar::<_, bool>(CITUS_INSTALLED)
            .fetch_one(&mut *tx)
            .await?
        {
            let row = sqlx::query(CITUS).fetch_one(&mut *tx).await?;
            Some(CitusFacts {
                distributed: row.try_get("distributed")?,
                tenant_ids: row.try_get("tenant_ids")?,
            })
        } else {
            None
        };
        tx.rollback().await?;
        Ok(Catalog {
            session,
            memberships,
            tables,
            views,
            definers,
            tenancy_functions,
            tenancy_usage,
            compat_roles,
            stored_settings,
            context,
            citus,
        })
    }

    /// The table `schema.name`.
    pub(crate) fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }

    pub(crate) fn table_by_oid(&self, oid: i64) -> Option<&Table> {
        self.tables.iter().find(|t| t.oid == oid)
    }

    /// The `tenants` table (in `public`, where emit-rls and better-tenant put it).
    pub(crate) fn tenants(&self) -> Option<&Table> {
        self.table("public", "tenants")
    }

    /// Whether Citus distributes the table `oid` (the Citus form of the
    /// migration applies to it).
    pub(crate) fn citus_distributed(&self, oid: i64) -> bool {
        self.citus
            .as_ref()
            .is_some_and(|c| c.distributed.contains(&oid))
    }
}

/// A database error as `SQLSTATE: message`; any other error as is.
fn refusal(e: sqlx::Error) -> sqlx::Result<(String, String)> {
    match e {
        sqlx::Error::Database(db) => Ok((
            db.code().unwrap_or_default().into_owned(),
            db.message().to_owned(),
        )),
        other => Err(other),
    }
}

/// The context mechanisms, the server's recovery state and the extension,
/// each statement that may fail behind a savepoint of `tx`.
async fn context_facts(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> sqlx::Result<ContextFacts> {
    let server = sqlx::query(CONTEXT_SERVER).fetch_one(&mut **tx).await?;
    let in_recovery: bool = server.try_get("in_recovery")?;
    let version: Option<String> = server.try_get("version")?;
    let schema: Option<String> = server.try_get("schema")?;
    let available: Option<String> = server.try_get("available")?;

    let mechanisms = {
        let mut sp = tx.begin().await?;
        let read = sqlx::query_scalar::<_, Vec<String>>(CONTEXT_MECHANISMS)
            .fetch_one(&mut *sp)
            .await;
        sp.rollback().await?;
        match read {
            Ok(m) => Ok(m),
            Err(e) => Err(refusal(e).map(|(code, message)| format!("{code}: {message}"))?),
        }
    };

    let extension = match (version, schema) {
        (Some(version), Some(schema)) => {
            let functions = sqlx::query(EXTENSION_FUNCTIONS)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(ExtensionFunction {
                        signature: r.try_get("signature")?,
                        member: r.try_get("member")?,
                    })
                })
                .collect::<sqlx::Result<_>>()?;
            // Loading the library defines the setting; whether that
            // worked, the read below says what the role can see.
            let mut sp = tx.begin().await?;
            let loaded = sqlx::query(EXTENSION_LOAD).execute(&mut *sp).await;
            sp.rollback().await?;
            refusal_or_ok(loaded.map(|_| ()))?;
            let mut sp = tx.begin().await?;
            let read = sqlx::query_scalar::<_, Option<String>>(EXTENSION_TOKEN)
                .fetch_one(&mut *sp)
                .await;
            sp.rollback().await?;
            let token_read = match read {
                Ok(value) => SettingRead::Read(value),
                Err(e) => {
                    let (code, message) = refusal(e)?;
                    SettingRead::Refused { code, message }
                }
            };
            Some(Extension {
                version,
                schema,
                functions,
                token_read,
            })
        }
        _ => None,
    };
    Ok(ContextFacts {
        mechanisms,
        in_recovery,
        extension,
        extension_available: available,
    })
}

/// Drops a database error (the statement was refused: what follows
/// reports its effect); keeps any other.
fn refusal_or_ok(result: sqlx::Result<()>) -> sqlx::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => refusal(e).map(|_| ()),
    }
}

fn session(r: &PgRow) -> sqlx::Result<Session> {
    Ok(Session {
        role: r.try_get("role")?,
        database: r.try_get("database")?,
        superuser: r.try_get("superuser")?,
        bypassrls: r.try_get("bypassrls")?,
        createrole: r.try_get("createrole")?,
        replication: r.try_get("replication")?,
        temp: r.try_get("temp")?,
        creatable_schemas: r.try_get("creatable_schemas")?,
        citus_remote_sql: r.try_get("citus_remote_sql")?,
        server_version: r.try_get("server_version")?,
    })
}

fn table(r: &PgRow) -> sqlx::Result<Table> {
    Ok(Table {
        oid: r.try_get("oid")?,
        schema: r.try_get("schema")?,
        name: r.try_get("name")?,
        owner: r.try_get("owner")?,
        rls_enabled: r.try_get("rls_enabled")?,
        rls_forced: r.try_get("rls_forced")?,
        can_select: r.try_get("can_select")?,
        can_insert: r.try_get("can_insert")?,
        can_update: r.try_get("can_update")?,
        can_delete: r.try_get("can_delete")?,
        can_truncate: r.try_get("can_truncate")?,
        public_privileges: r.try_get("public_privileges")?,
        sequences_without_usage: r.try_get("sequences_without_usage")?,
        columns: Vec::new(),
        constraints: Vec::new(),
        indexes: Vec::new(),
        policies: Vec::new(),
        triggers: Vec::new(),
        statistics: Vec::new(),
    })
}

fn column(r: &PgRow) -> sqlx::Result<Column> {
    Ok(Column {
        name: r.try_get("name")?,
        sql_type: r.try_get("sql_type")?,
        type_name: r.try_get("type_name")?,
        element_type: r.try_get("element_type")?,
        is_enum: r.try_get("is_enum")?,
        not_null: r.try_get("not_null")?,
        default: r.try_get("default_expr")?,
        identity: r.try_get("identity")?,
        computed: r.try_get("computed")?,
        stat_target: r.try_get("stat_target")?,
    })
}

/// Whether `text` (a deparsed SQL expression) mentions the column `name`
/// as a whole word, bare or quoted.
pub(crate) fn mentions_column(text: &str, name: &str) -> bool {
    contains_word(text, name) || text.contains(&quote_ident(name))
}

/// `needle` in `text`, not as part of a longer identifier.
pub(crate) fn contains_word(text: &str, needle: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_matched_whole() {
        assert!(contains_word("(tenant_id = x)", "tenant_id"));
        assert!(contains_word("tenant_id", "tenant_id"));
        assert!(!contains_word("(other_tenant_id = x)", "tenant_id"));
        assert!(!contains_word("tenant_ids", "tenant_id"));
        assert!(mentions_column("(\"Tenant\" = x)", "Tenant"));
    }
}
