//! Names of the indexes, constraints and policies the DDL creates.
//!
//! They follow PostgreSQL's own conventions (`<table>_<columns>_key`,
//! `_fkey`, `_idx`) so they read naturally in `\d`, and are cut to 63
//! bytes with a stable hash suffix when longer, because PostgreSQL would
//! otherwise truncate two long names to the same one.

use crate::ident::MAX_LEN;

/// `<table>_<col>_<col>_<suffix>`.
pub fn object(table: &str, columns: &[&str], suffix: &str) -> String {
    let mut name = String::from(table);
    for c in columns {
        name.push('_');
        name.push_str(c);
    }
    name.push('_');
    name.push_str(suffix);
    fit(name)
}

/// The row-level security policy on a tenant table. Same name as
/// @usebetterdev/tenant's, so applying the DDL replaces its text-cast
/// policy instead of adding a second one that would be OR-ed with it.
pub fn policy(table: &str) -> String {
    fit(format!("rls_tenant_{table}"))
}

/// `name` when it fits in 63 bytes; else its first bytes (cut at a
/// character boundary) and a hash of the whole name.
pub fn fit(name: String) -> String {
    if name.len() <= MAX_LEN {
        return name;
    }
    let hash = format!("{:08x}", fnv1a(name.as_bytes()) as u32);
    let mut cut = MAX_LEN - 1 - hash.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash}", &name[..cut])
}

/// FNV-1a: tiny, and stable across Rust versions and platforms (unlike
/// `DefaultHasher`), so a name never changes between two emit-rls runs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_follow_postgres_conventions() {
        assert_eq!(
            object("users", &["tenant_id", "email"], "key"),
            "users_tenant_id_email_key"
        );
        assert_eq!(policy("users"), "rls_tenant_users");
    }

    #[test]
    fn long_names_are_cut_with_a_stable_distinct_suffix() {
        let long = "a".repeat(60);
        let one = object(&long, &["tenant_id", "x"], "key");
        let two = object(&long, &["tenant_id", "y"], "key");
        assert_eq!(one.len(), 63);
        assert_ne!(one, two);
        assert_eq!(one, object(&long, &["tenant_id", "x"], "key"));
    }

    #[test]
    fn long_non_ascii_names_are_cut_at_a_character_boundary() {
        let name = fit("é".repeat(40));
        assert!(name.len() <= 63, "{}", name.len());
        assert!(name.ends_with(&format!("{:08x}", fnv1a("é".repeat(40).as_bytes()) as u32)));
    }
}
