//! The probe's round trip of a tenant's own rows: with a tenant entered
//! by a real `TenantPool` (the service's context key, whichever mechanism
//! the database offers), in a transaction that is always rolled back,
//! every tenant table is read, and takes a row the probe makes up, which
//! is then read back, updated and deleted.
//!
//! A row is made up from the table's columns: the tenant column gets the
//! entered tenant, a foreign key the row the probe made in the referenced
//! tenant table (parents first), a column with a default or that allows
//! NULL is left out, and a NOT NULL column without a default gets a value
//! of its type. A table where that cannot be done (a NOT NULL column of a
//! type the probe cannot make, or a reference to a table it made no row
//! in), or whose own rules (a constraint, a trigger) refuse the made-up
//! row, is only read, and the report says why.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tenant_runtime::tx::{ContextKey, ContextMechanism};
use tenant_runtime::{TenantId, TenantPool, sqlstate};
use tenant_sql::ident::quote as quote_ident;
use tenant_sql::literal::quote as quote_literal;
use uuid::Uuid;

use super::TenantTable;
use super::probe::{Attempt, refusal};
use crate::catalog::{Catalog, Column, Table};
use crate::db;

/// How the probe enters a tenant: the service's key, and where it connects.
pub(crate) struct Entry {
    pub(crate) key: ContextKey,
    pub(crate) options: PgConnectOptions,
}

/// What the round trip did.
#[derive(Debug, Clone)]
pub(crate) enum OwnRows {
    /// Not run; why.
    NotRun(String),
    /// The pool could not start, or could not begin the tenant's
    /// transaction; what it said.
    Refused(String),
    /// It ran: one round, or on Citus one per worker that holds shards.
    Ran(Vec<Round>),
}

/// A round trip in one tenant's transaction.
#[derive(Debug, Clone)]
pub(crate) struct Round {
    pub(crate) tenant: Uuid,
    /// On Citus, the worker (`host:port`) that holds the tenant's rows.
    pub(crate) node: Option<String>,
    /// How the pool entered the tenant.
    pub(crate) mechanism: Option<ContextMechanism>,
    /// `tenancy.current_tenant()` compared to the tenant: 1 row when it is.
    pub(crate) entered: Attempt,
    pub(crate) tables: Vec<OwnTable>,
}

/// What one tenant table did.
#[derive(Debug, Clone)]
pub(crate) struct OwnTable {
    /// `schema.table`.
    pub(crate) table: String,
    /// `"schema"."table"`, for fixes.
    pub(crate) quoted: String,
    /// A read of the table (any of the tenant's rows).
    pub(crate) read: Attempt,
    /// Why no row was made up, or why its round trip stopped before the
    /// end because of the table's own rules; `None` when it went through.
    pub(crate) only_read: Option<String>,
    pub(crate) insert: Option<Attempt>,
    /// Rows the inserted row's `tableoid` and `ctid` find: 1.
    pub(crate) read_back: Option<Attempt>,
    pub(crate) update: Option<Attempt>,
    pub(crate) delete: Option<Attempt>,
}

/// SQLSTATEs of a table's own rules refusing a row the probe made up
/// (not of access being refused): data exceptions (class 22), integrity
/// constraints (class 23), a trigger's plain `RAISE` (P0001), and
/// tenant-members' membership and invitation rules.
pub(crate) fn refused_by_rules(code: &str) -> bool {
    code.starts_with("22")
        || code.starts_with("23")
        || code == "P0001"
        || [
            sqlstate::LAST_OWNER,
            sqlstate::MEMBERSHIP_CHANGE_REFUSED,
            sqlstate::INVITATION_REFUSED,
        ]
        .contains(&code)
}

const NO_KEY: &str = "no context key: give check the service's (TENANT_CONTEXT_KEY, or --context-key) so the probe can enter a tenant as TenantPool does and check that it reads and writes its own rows";

const LIMITS: &str = "SET LOCAL statement_timeout = '10s'; SET LOCAL lock_timeout = '2s'";
const SAVEPOINT: &str = "SAVEPOINT tenant_check_own";
const KEEP: &str = "RELEASE SAVEPOINT tenant_check_own";
const UNDO: &str = "ROLLBACK TO SAVEPOINT tenant_check_own; RELEASE SAVEPOINT tenant_check_own";

/// A live tenant, oldest first; without a deleted_at column, any.
const LIVE_TENANT: &str =
    "SELECT id FROM public.tenants WHERE deleted_at IS NULL ORDER BY created_at, id LIMIT 1";
const ANY_TENANT: &str = "SELECT id FROM public.tenants ORDER BY id LIMIT 1";

/// What the catalog snapshot leaves out about columns and the probe needs
/// to make up a value and choose what to update.
const COLUMN_FACTS: &str = "\
SELECT a.attrelid::int8 AS table_oid, a.attname::text AS name,
       t.typcategory::text AS category,
       coalesce(b.typname, t.typname)::text AS base_type,
       pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'UPDATE') AS can_update
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype AND t.typtype = 'd'
WHERE a.attrelid::int8 = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped";

#[derive(Debug, Clone)]
struct ColumnFacts {
    /// `pg_type.typcategory` (a domain's is its base type's).
    category: String,
    /// The type's name, a domain's base type's for a domain.
    base_type: String,
    can_update: bool,
}

/// Runs the round trip; an error is a lost connection or the like, not a
/// finding.
pub(crate) async fn run(
    conn: &mut PgConnection,
    catalog: &Catalog,
    tables: &[TenantTable<'_>],
    entry: Option<&Entry>,
) -> sqlx::Result<OwnRows> {
    let Some(entry) = entry else {
        return Ok(OwnRows::NotRun(NO_KEY.to_owned()));
    };
    if tables.is_empty() {
        return Ok(OwnRows::NotRun("no tenant table to probe".to_owned()));
    }
    if catalog.tenants().is_none() {
        return Ok(OwnRows::NotRun(
            "there is no public.tenants table to take a tenant from (see tenants.exists)"
                .to_owned(),
        ));
    }
    let tenant = match sqlx::query_scalar::<_, Uuid>(LIVE_TENANT)
        .fetch_optional(&mut *conn)
        .await
    {
        Ok(t) => t,
        Err(sqlx::Error::Database(_)) => {
            match sqlx::query_scalar::<_, Uuid>(ANY_TENANT)
                .fetch_optional(&mut *conn)
                .await
            {
                Ok(t) => t,
                Err(sqlx::Error::Database(db)) => {
                    return Ok(OwnRows::NotRun(format!(
                        "the application role cannot read a tenant from public.tenants ({}: {}; see tenants.readable)",
                        db.code().unwrap_or_default(),
                        db.message()
                    )));
                }
                Err(other) => return Err(other),
            }
        }
        Err(other) => return Err(other),
    };
    let Some(tenant) = tenant else {
        return Ok(OwnRows::NotRun(
            "there is no live tenant to enter: create one (tenant seed --name ..) and check again"
                .to_owned(),
        ));
    };
    let oids: Vec<i64> = tables.iter().map(|t| t.table.oid).collect();
    let mut facts: BTreeMap<(i64, String), ColumnFacts> = BTreeMap::new();
    for (oid, name, category, base_type, can_update) in
        sqlx::query_as::<_, (i64, String, String, String, bool)>(COLUMN_FACTS)
            .bind(&oids)
            .fetch_all(&mut *conn)
            .await?
    {
        facts.insert(
            (oid, name),
            ColumnFacts {
                category,
                base_type,
                can_update,
            },
        );
    }

    let pool = match TenantPool::options()
        .context_key(entry.key.clone())
        .max_connections(1)
        .connect_timeout(db::CONNECT_TIMEOUT)
        .acquire_timeout(db::CONNECT_TIMEOUT)
        .connect_with(entry.options.clone())
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            return Ok(OwnRows::Refused(format!(
                "a TenantPool with context key {} could not start: {e}",
                entry.key.id()
            )));
        }
    };
    // On Citus, a tenant whose rows are on each worker, so the probe shows
    // the context reaching every node that holds shards.
    let distributed = tables
        .iter()
        .find(|t| catalog.citus_distributed(t.table.oid))
        .map(|t| t.table.oid);
    // The pool is closed however the rounds end.
    let rounds = async {
        let mut visits: Vec<(Uuid, Option<String>)> = Vec::new();
        if let Some(oid) = distributed {
            visits = sqlx::query_as::<_, (Uuid, Option<String>)>(TENANT_PER_WORKER)
                .bind(oid)
                .fetch_all(&mut *conn)
                .await?;
        }
        if visits.is_empty() {
            visits.push((tenant, None));
        }
        let mut rounds = Vec::new();
        for (tenant, node) in visits {
            match round(&pool, tenant, tables, &facts, catalog.context.in_recovery).await? {
                OwnRows::Ran(done) => rounds.extend(done.into_iter().map(|r| Round {
                    node: node.clone(),
                    ..r
                })),
                other => return Ok(other),
            }
        }
        Ok(OwnRows::Ran(rounds))
    }
    .await;
    pool.close();
    rounds
}

/// On Citus: for each worker that holds shards of the table `$1`, the
/// oldest live tenant (of the first thousand) whose rows are there.
const TENANT_PER_WORKER: &str = "\
SELECT DISTINCT ON (n.nodename, n.nodeport) t.id, n.nodename || ':' || n.nodeport
  FROM (SELECT t.id, t.created_at FROM public.tenants t WHERE t.deleted_at IS NULL ORDER BY t.created_at, t.id LIMIT 1000) t
  JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column($1::oid::regclass, t.id)
  JOIN pg_dist_node n ON n.groupid = p.groupid
 ORDER BY n.nodename, n.nodeport, t.created_at, t.id";

async fn round(
    pool: &TenantPool,
    tenant: Uuid,
    tables: &[TenantTable<'_>],
    facts: &BTreeMap<(i64, String), ColumnFacts>,
    standby: bool,
) -> sqlx::Result<OwnRows> {
    let mut tx = match pool.begin(TenantId::from(tenant)).await {
        Ok(tx) => tx,
        Err(e) => {
            return Ok(OwnRows::Refused(format!(
                "TenantPool::begin({tenant}) failed: {e}"
            )));
        }
    };
    let conn = tx.conn();
    conn.execute(LIMITS).await?;
    let entered = step(
        conn,
        &format!(
            "SELECT count(*) FROM (SELECT 1 WHERE tenancy.current_tenant() = '{tenant}'::uuid) AS probe"
        ),
        Kind::Count,
        false,
    )
    .await?;

    let mut own: Vec<OwnTable> = Vec::with_capacity(tables.len());
    for t in tables {
        let read = step(
            conn,
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1) AS probe",
                t.table.quoted()
            ),
            Kind::Count,
            false,
        )
        .await?;
        own.push(OwnTable {
            table: t.qualified(),
            quoted: t.table.quoted(),
            read,
            only_read: None,
            insert: None,
            read_back: None,
            update: None,
            delete: None,
        });
    }

    // Parents first, so a child's foreign key can name the parent's row.
    let order = parents_first(tables);
    let referenced = referenced_columns(tables);
    let mut made: BTreeMap<i64, Made> = BTreeMap::new();
    for &i in &order {
        let t = &tables[i];
        if standby {
            own[i].only_read = Some(
                "the server is a hot standby, where nothing can be written (check the primary for writes)"
                    .to_owned(),
            );
            continue;
        }
        let empty = BTreeSet::new();
        let returning = referenced.get(&t.table.oid).unwrap_or(&empty);
        let values = match make_up(t, tenant, facts, &made, tables) {
            Ok(values) => values,
            Err(why) => {
                own[i].only_read = Some(why);
                continue;
            }
        };
        let sql = insert_sql(t.table, &values, returning);
        conn.execute(SAVEPOINT).await?;
        let inserted = sqlx::query_as::<_, (i64, String, Vec<Option<String>>)>(&sql)
            .persistent(false)
            .fetch_optional(&mut *conn)
            .await;
        match inserted {
            Ok(Some((tableoid, ctid, returned))) => {
                conn.execute(KEEP).await?;
                own[i].insert = Some(Attempt::Rows(1));
                made.insert(
                    t.table.oid,
                    Made {
                        index: i,
                        tableoid,
                        ctid,
                        values: returning.iter().cloned().zip(returned).collect(),
                    },
                );
            }
            Ok(None) => {
                conn.execute(UNDO).await?;
                own[i].insert = Some(Attempt::Rows(0));
                own[i].only_read = Some(
                    "the insert of the made-up row took no row (a trigger skipped it)".to_owned(),
                );
            }
            Err(e) => {
                conn.execute(UNDO).await?;
                let attempt = refusal(e)?;
                if let Attempt::Failed { code, message } = &attempt
                    && refused_by_rules(code)
                {
                    own[i].only_read = Some(format!(
                        "its own rules refused the made-up row with {code}: {message}"
                    ));
                }
                own[i].insert = Some(attempt);
            }
        }
    }

    for m in made.values() {
        let t = &tables[m.index];
        own[m.index].read_back = Some(
            step(
                conn,
                &format!(
                    "SELECT count(*) FROM {} WHERE tableoid = {}::oid AND ctid = '{}'::tid",
                    t.table.quoted(),
                    m.tableoid,
                    m.ctid
                ),
                Kind::Count,
                false,
            )
            .await?,
        );
    }
    let mut ctids: BTreeMap<i64, String> = BTreeMap::new();
    for m in made.values() {
        let t = &tables[m.index];
        let column = quote_ident(update_column(t, facts));
        let sql = format!(
            "UPDATE {} SET {column} = {column} WHERE tableoid = {}::oid AND ctid = '{}'::tid RETURNING ctid::text",
            t.table.quoted(),
            m.tableoid,
            m.ctid
        );
        conn.execute(SAVEPOINT).await?;
        let updated = sqlx::query_scalar::<_, String>(&sql)
            .persistent(false)
            .fetch_all(&mut *conn)
            .await;
        let attempt = match updated {
            Ok(rows) => {
                conn.execute(KEEP).await?;
                if let [ctid] = rows.as_slice() {
                    ctids.insert(t.table.oid, ctid.clone());
                }
                Attempt::Rows(rows.len() as u64)
            }
            Err(e) => {
                conn.execute(UNDO).await?;
                refusal(e)?
            }
        };
        own[m.index].update = Some(attempt);
    }
    // Children first, so no foreign key holds a parent back.
    for &i in order.iter().rev() {
        let t = &tables[i];
        let Some(m) = made.get(&t.table.oid) else {
            continue;
        };
        let ctid = ctids.get(&t.table.oid).unwrap_or(&m.ctid);
        own[i].delete = Some(
            step(
                conn,
                &format!(
                    "DELETE FROM {} WHERE tableoid = {}::oid AND ctid = '{ctid}'::tid",
                    t.table.quoted(),
                    m.tableoid
                ),
                Kind::Execute,
                true,
            )
            .await?,
        );
    }
    // A failed rollback closes the connection, which rolls back too.
    let _ = tx.rollback().await;
    Ok(OwnRows::Ran(vec![Round {
        tenant,
        node: None,
        mechanism: pool.mechanism(),
        entered,
        tables: own,
    }]))
}

/// The row made in one table.
struct Made {
    /// The table's position in the tenant tables.
    index: usize,
    tableoid: i64,
    ctid: String,
    /// Its columns that foreign keys of other tenant tables reference, as text.
    values: BTreeMap<String, Option<String>>,
}

enum Kind {
    /// A `SELECT count(*)`.
    Count,
    /// A write; counts the rows it affected.
    Execute,
}

/// Runs `sql` behind a savepoint, keeping what it did when it succeeded
/// and `keep` is set, undoing it otherwise.
async fn step(conn: &mut PgConnection, sql: &str, kind: Kind, keep: bool) -> sqlx::Result<Attempt> {
    conn.execute(SAVEPOINT).await?;
    let result = match kind {
        Kind::Count => sqlx::query_scalar::<_, i64>(sql)
            .persistent(false)
            .fetch_one(&mut *conn)
            .await
            .map(|n| u64::try_from(n).unwrap_or_default()),
        Kind::Execute => sqlx::query(sql)
            .persistent(false)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected()),
    };
    match result {
        Ok(rows) => {
            conn.execute(if keep { KEEP } else { UNDO }).await?;
            Ok(Attempt::Rows(rows))
        }
        Err(e) => {
            conn.execute(UNDO).await?;
            refusal(e)
        }
    }
}

/// Positions of `tables`, each after the tenant tables its foreign keys
/// reference (a cycle is broken in catalog order).
fn parents_first(tables: &[TenantTable<'_>]) -> Vec<usize> {
    let index: BTreeMap<i64, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.table.oid, i))
        .collect();
    let parents: Vec<BTreeSet<usize>> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.table
                .foreign_keys()
                .filter_map(|fk| index.get(&fk.ref_oid).copied())
                .filter(|&p| p != i)
                .collect()
        })
        .collect();
    let mut order = Vec::with_capacity(tables.len());
    let mut placed = vec![false; tables.len()];
    while order.len() < tables.len() {
        let ready = (0..tables.len())
            .find(|&i| !placed[i] && parents[i].iter().all(|&p| placed[p]))
            .or_else(|| (0..tables.len()).find(|&i| !placed[i]));
        let Some(i) = ready else { break };
        placed[i] = true;
        order.push(i);
    }
    order
}

/// For each tenant table, the columns other tenant tables' foreign keys
/// reference.
fn referenced_columns(tables: &[TenantTable<'_>]) -> BTreeMap<i64, BTreeSet<String>> {
    let mut referenced: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for t in tables {
        for fk in t.table.foreign_keys() {
            referenced
                .entry(fk.ref_oid)
                .or_default()
                .extend(fk.ref_columns.iter().cloned());
        }
    }
    referenced
}

/// The columns the made-up row sets and their SQL expressions, or why no
/// row can be made up.
fn make_up(
    t: &TenantTable<'_>,
    tenant: Uuid,
    facts: &BTreeMap<(i64, String), ColumnFacts>,
    made: &BTreeMap<i64, Made>,
    tables: &[TenantTable<'_>],
) -> Result<Vec<(String, String)>, String> {
    let mut values = Vec::new();
    let seed = Uuid::new_v4();
    for c in &t.table.columns {
        if c.computed || c.identity {
            continue;
        }
        if c.name == t.tenant_column {
            values.push((
                c.name.clone(),
                format!("{}::{}", quote_literal(&tenant.to_string()), c.sql_type),
            ));
            continue;
        }
        let fks: Vec<_> = t
            .table
            .foreign_keys()
            .filter(|fk| fk.columns.contains(&c.name))
            .collect();
        if let Some(first) = fks.first() {
            let from_parent = fks.iter().find_map(|fk| {
                let row = made.get(&fk.ref_oid)?;
                let at = fk.columns.iter().position(|n| n == &c.name)?;
                let value = row.values.get(fk.ref_columns.get(at)?)?;
                Some(value.clone())
            });
            match from_parent {
                Some(Some(text)) => values.push((
                    c.name.clone(),
                    format!("{}::{}", quote_literal(&text), c.sql_type),
                )),
                Some(None) => values.push((c.name.clone(), format!("NULL::{}", c.sql_type))),
                None if !c.not_null => {
                    values.push((c.name.clone(), format!("NULL::{}", c.sql_type)));
                }
                None if c.default.is_some() => {}
                None => {
                    let target = tables.iter().find(|x| x.table.oid == first.ref_oid);
                    let why = match target {
                        Some(x) if x.table.oid == t.table.oid => "its own table".to_owned(),
                        Some(x) => format!("{}, where the probe made no row", x.qualified()),
                        None => "a table that is not a tenant table (the probe makes rows in tenant tables only)".to_owned(),
                    };
                    return Err(format!(
                        "no row could be made up: column {} is NOT NULL without a default and references {why}",
                        c.name
                    ));
                }
            }
            continue;
        }
        if c.default.is_some() || !c.not_null {
            continue;
        }
        let Some(f) = facts.get(&(t.table.oid, c.name.clone())) else {
            return Err(format!(
                "no row could be made up: column {} was not found when the probe read the columns",
                c.name
            ));
        };
        match value_of(c, f, seed) {
            Some(expr) => values.push((c.name.clone(), expr)),
            None => {
                return Err(format!(
                    "no row could be made up: column {} is NOT NULL without a default, of type {}, which the probe makes no value of",
                    c.name, c.sql_type
                ));
            }
        }
    }
    Ok(values)
}

/// A value of `c`'s type, as SQL, or `None` for a type the probe does not
/// know. Text and numbers carry some of `seed`, so a unique key is not hit.
fn value_of(c: &Column, f: &ColumnFacts, seed: Uuid) -> Option<String> {
    let ty = &c.sql_type;
    let hex = seed.simple().to_string();
    let bytes = seed.as_bytes();
    let number = 1 + u16::from_be_bytes([bytes[0], bytes[1]]) % 30_000;
    if c.is_enum && f.category != "A" {
        return Some(format!("(pg_catalog.enum_range(NULL::{ty}))[1]"));
    }
    let expr = match f.category.as_str() {
        "A" => format!("'{{}}'::{ty}"),
        "S" => {
            let text = if c.name.to_lowercase().contains("email") {
                format!("probe-{}@tenant-check.invalid", &hex[..12])
            } else {
                format!("tenant check probe {}", &hex[..12])
            };
            format!("{}::{ty}", quote_literal(&text))
        }
        "N" => format!("'{number}'::{ty}"),
        "B" => format!("false::{ty}"),
        "D" => format!("pg_catalog.now()::{ty}"),
        "T" => format!("'1 second'::{ty}"),
        "I" => format!("'192.0.2.1'::{ty}"),
        "U" => match f.base_type.as_str() {
            "uuid" => format!("pg_catalog.gen_random_uuid()::{ty}"),
            "json" | "jsonb" => format!("'{{}}'::{ty}"),
            "bytea" => format!("pg_catalog.decode('{}', 'hex')::{ty}", &hex[..8]),
            _ => return None,
        },
        _ => return None,
    };
    Some(expr)
}

/// `INSERT .. RETURNING tableoid, ctid, ARRAY[<returning>::text]`.
fn insert_sql(table: &Table, values: &[(String, String)], returning: &BTreeSet<String>) -> String {
    let returned: Vec<String> = returning
        .iter()
        .map(|c| format!("({})::text", quote_ident(c)))
        .collect();
    let returning = format!(
        "RETURNING tableoid::int8, ctid::text, ARRAY[{}]::text[]",
        returned.join(", ")
    );
    if values.is_empty() {
        return format!("INSERT INTO {} DEFAULT VALUES {returning}", table.quoted());
    }
    let columns: Vec<String> = values.iter().map(|(c, _)| quote_ident(c)).collect();
    let exprs: Vec<&str> = values.iter().map(|(_, e)| e.as_str()).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({}) {returning}",
        table.quoted(),
        columns.join(", "),
        exprs.join(", ")
    )
}

/// The column the update sets to itself: one the role may update that is
/// no key and not the tenant column, else the tenant column.
fn update_column<'t>(
    t: &'t TenantTable<'_>,
    facts: &BTreeMap<(i64, String), ColumnFacts>,
) -> &'t str {
    let keys: BTreeSet<&str> = t
        .table
        .constraints
        .iter()
        .flat_map(|c| c.columns.iter().map(String::as_str))
        .collect();
    let updatable = |c: &Column| {
        facts
            .get(&(t.table.oid, c.name.clone()))
            .is_some_and(|f| f.can_update)
    };
    t.table
        .columns
        .iter()
        .find(|c| {
            !c.computed
                && !c.identity
                && c.name != t.tenant_column
                && !keys.contains(c.name.as_str())
                && updatable(c)
        })
        .map_or(t.tenant_column, |c| c.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_told_from_refused_access() {
        for code in [
            "23502", "23505", "23514", "22001", "P0001", "TN011", "TN012", "TN010",
        ] {
            assert!(refused_by_rules(code), "{code}");
        }
        for code in ["42501", "TN001", "TN003", "42883", "42P01", "TN005"] {
            assert!(!refused_by_rules(code), "{code}");
        }
    }
}
