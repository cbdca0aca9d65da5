//! What counts as a plain SQL identifier here.
//!
//! Names end up in DDL and in query text, so they are held to the subset
//! PostgreSQL folds to itself unquoted: lowercase ASCII letters, digits and
//! underscores, not starting with a digit, at most 63 bytes (NAMEDATALEN - 1;
//! PostgreSQL silently truncates longer names, which would make two models
//! collide without anyone noticing).

/// PostgreSQL's identifier limit in bytes.
const MAX_LEN: usize = 63;

/// Checks `name`; the error says what is wrong and what to write instead.
pub(crate) fn check(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "{what} is empty: give a lowercase SQL name such as `projects`"
        ));
    }
    if name.len() > MAX_LEN {
        return Err(format!(
            "{what} `{name}` is {} bytes long; PostgreSQL truncates names to {MAX_LEN} bytes: choose a shorter name",
            name.len()
        ));
    }
    let first = name.as_bytes()[0];
    if first.is_ascii_digit() {
        return Err(format!(
            "{what} `{name}` starts with a digit; a plain SQL identifier starts with a letter or `_`"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        let hint = if name.chars().any(|c| c.is_ascii_uppercase()) {
            format!(": write `{}`", name.to_ascii_lowercase())
        } else {
            String::new()
        };
        return Err(format!(
            "{what} `{name}` is not a plain SQL identifier (found {bad:?}); use lowercase letters, digits and `_`{hint}"
        ));
    }
    Ok(())
}

/// Checks a table reference: `table` or `schema.table`.
pub(crate) fn check_qualified(what: &str, name: &str) -> Result<(), String> {
    match name.split_once('.') {
        Some((schema, table)) => {
            check(&format!("schema of {what}"), schema)?;
            check(what, table)
        }
        None => check(what, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        assert!(check("table name", "projects").is_ok());
        assert!(check("table name", "_audit_2024").is_ok());
        assert!(check("table name", &"a".repeat(63)).is_ok());
        assert!(check_qualified("reference", "billing.invoices").is_ok());
    }

    #[test]
    fn rejects_what_postgres_would_fold_or_truncate() {
        assert!(check("table name", "").unwrap_err().contains("empty"));
        assert!(
            check("table name", "Users")
                .unwrap_err()
                .contains("write `users`")
        );
        assert!(check("table name", "1users").unwrap_err().contains("digit"));
        assert!(
            check("table name", "users; drop")
                .unwrap_err()
                .contains("';'")
        );
        assert!(
            check("table name", &"a".repeat(64))
                .unwrap_err()
                .contains("64 bytes")
        );
        assert!(check_qualified("reference", "a.B").is_err());
    }
}
