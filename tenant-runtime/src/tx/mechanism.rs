//! How a tenant pool's connections enter tenants: the strongest mechanism
//! the database offers where the pool runs (SECURITY.md has the design of
//! each, and BENCHMARKS.md what each costs).

use std::fmt;

/// The way a [`TenantPool`](super::TenantPool) enters a tenant. Every one
/// gives the same guarantees (SECURITY.md); they differ in where they run
/// and what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContextMechanism {
    /// The `tenant_context` PostgreSQL extension: one message per begin
    /// (`SET LOCAL tenant_context.token = ..; BEGIN`), the token checked
    /// natively, the verified tenant kept in backend memory and read by
    /// the policies at the cost of a function call. Runs on a primary and
    /// on a hot standby, and in parallel plans; not behind a transaction
    /// pooler (it keeps a secret per backend).
    Extension,
    /// Plain SQL, a session of temporary objects per connection: one
    /// message per begin (`CALL tenancy.enter(..); BEGIN`). Needs no
    /// extension; runs only on a primary, directly connected (temporary
    /// objects cannot be written on a standby, and a transaction pooler
    /// moves transactions between backends), with no parallel plans.
    Session,
    /// Plain SQL, nothing kept on the server: the pool reads the backend's
    /// pid and the transaction's start time after `BEGIN` and signs a
    /// token for that transaction, which every statement checks. Two round
    /// trips per begin; runs behind a transaction pooler and on a hot
    /// standby.
    Bound,
}

impl ContextMechanism {
    /// The name `tenancy.context_mechanisms()` and `check` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extension => "extension",
            Self::Session => "session",
            Self::Bound => "bound",
        }
    }

    /// The strongest of `available` (what the migration installed,
    /// `tenancy.context_mechanisms()`) for a connection to a server that
    /// is `in_recovery` (a hot standby), through a transaction pooler or
    /// not. `None` when none of them runs there.
    pub fn choose(available: &[String], in_recovery: bool, pooler: bool) -> Option<Self> {
        let has = |m: Self| available.iter().any(|a| a == m.as_str());
        let preferred: &[Self] = if pooler {
            &[Self::Bound]
        } else if in_recovery {
            &[Self::Extension, Self::Bound]
        } else {
            &[Self::Extension, Self::Session, Self::Bound]
        };
        preferred.iter().copied().find(|&m| has(m))
    }
}

impl fmt::Display for ContextMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ContextMechanism::{self, *};

    fn choose(available: &[&str], in_recovery: bool, pooler: bool) -> Option<ContextMechanism> {
        let available: Vec<String> = available.iter().map(|s| (*s).to_owned()).collect();
        ContextMechanism::choose(&available, in_recovery, pooler)
    }

    #[test]
    fn the_strongest_that_runs_there_is_chosen() {
        assert_eq!(
            choose(&["extension", "bound"], false, false),
            Some(Extension)
        );
        assert_eq!(
            choose(&["extension", "bound"], true, false),
            Some(Extension)
        );
        assert_eq!(choose(&["extension", "bound"], false, true), Some(Bound));
        assert_eq!(choose(&["session", "bound"], false, false), Some(Session));
        assert_eq!(choose(&["session", "bound"], true, false), Some(Bound));
        assert_eq!(choose(&["session", "bound"], false, true), Some(Bound));
        assert_eq!(choose(&["session"], true, false), None);
        assert_eq!(choose(&[], false, false), None);
    }
}
