//! Identifiers: which names a model may use, how they are written in an
//! attribute, and how they are quoted in SQL text.
//!
//! A name is written in an attribute the way it is written in SQL: a plain
//! name (`projects`) is what PostgreSQL folds to itself unquoted, lowercase
//! ASCII letters, digits and `_`; any other name is written in double
//! quotes (`"Order Items"`, with `""` for a quote inside), exactly as a
//! `CREATE TABLE` would need it. So `name = "Users"`, which PostgreSQL
//! would fold to `users`, is an error that says which of the two was meant.
//!
//! Every name is held to 63 bytes (NAMEDATALEN - 1): PostgreSQL silently
//! truncates longer names, which would make two models collide unnoticed.

use std::fmt;

/// PostgreSQL's identifier limit in bytes.
pub const MAX_LEN: usize = 63;

/// `"name"`, with every `"` doubled. Names are always quoted in generated
/// SQL: it keeps reserved words (`user`, `order`) and case-sensitive names
/// working, and a name read from a catalog can hold anything.
pub fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote(schema), quote(name))
}

/// Whether `name` needs no quotes: PostgreSQL folds it to itself.
pub fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// How `name` is written in an attribute: as is when plain, else in double
/// quotes. [`parse`] reads it back to `name`.
pub fn spell(name: &str) -> String {
    if is_plain(name) {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// Reads a name written as in SQL: `projects`, or `"Order Items"` for one
/// that needs quoting. Returns the name itself (without quotes).
pub fn parse(spelled: &str) -> Result<String, IdentError> {
    let error = |kind| IdentError {
        spelled: spelled.to_owned(),
        kind,
    };
    let name = match spelled.strip_prefix('"') {
        Some(rest) => unquote(rest).ok_or_else(|| error(IdentErrorKind::BadQuotes))?,
        None => {
            if spelled.is_empty() {
                return Err(error(IdentErrorKind::Empty));
            }
            if spelled.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(error(IdentErrorKind::StartsWithDigit));
            }
            if let Some(found) = spelled
                .chars()
                .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
            {
                return Err(error(IdentErrorKind::NotPlain { found }));
            }
            spelled.to_owned()
        }
    };
    if name.is_empty() {
        return Err(error(IdentErrorKind::Empty));
    }
    if name.contains('\0') {
        return Err(error(IdentErrorKind::Nul));
    }
    if name.len() > MAX_LEN {
        return Err(error(IdentErrorKind::TooLong { bytes: name.len() }));
    }
    Ok(name)
}

/// The inside of `"..."` (the opening quote already taken), `""` read as
/// `"`; `None` unless it ends with the one closing quote.
fn unquote(rest: &str) -> Option<String> {
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('"') => {
                chars.next();
                out.push('"');
            }
            None => return Some(out),
            Some(_) => return None,
        }
    }
    None
}

/// Reads `table` or `schema.table` (either part may be quoted; a dot inside
/// quotes belongs to the name).
pub fn parse_qualified(spelled: &str) -> Result<(Option<String>, String), IdentError> {
    match split_dot(spelled) {
        Some((schema, table)) => Ok((Some(parse(schema)?), parse(table)?)),
        None => Ok((None, parse(spelled)?)),
    }
}

/// Splits at the first `.` outside double quotes.
fn split_dot(spelled: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (at, c) in spelled.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => return Some((&spelled[..at], &spelled[at + 1..])),
            _ => {}
        }
    }
    None
}

/// A name that cannot be used, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentError {
    spelled: String,
    kind: IdentErrorKind,
}

/// What is wrong with a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentErrorKind {
    /// Nothing between the quotes, or nothing at all.
    Empty,
    /// Longer than [`MAX_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// An unquoted name that starts with a digit.
    StartsWithDigit,
    /// An unquoted name with a character PostgreSQL would fold or refuse.
    NotPlain {
        /// The first such character.
        found: char,
    },
    /// A NUL character, which PostgreSQL names cannot hold.
    Nul,
    /// Quotes that do not enclose the whole name, or an undoubled `"` inside.
    BadQuotes,
}

impl IdentError {
    /// What is wrong.
    pub fn kind(&self) -> IdentErrorKind {
        self.kind
    }
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spelled = &self.spelled;
        match self.kind {
            IdentErrorKind::Empty => write!(
                f,
                "`{spelled}` is empty: give a SQL name such as `projects`"
            ),
            IdentErrorKind::TooLong { bytes } => write!(
                f,
                "`{spelled}` is {bytes} bytes long; PostgreSQL truncates names to {MAX_LEN} bytes: choose a shorter name"
            ),
            IdentErrorKind::StartsWithDigit => write!(
                f,
                "`{spelled}` starts with a digit; a plain SQL name starts with a letter or `_` (or write it in double quotes: `{}`)",
                quote(spelled)
            ),
            IdentErrorKind::NotPlain { found } => {
                let lower = spelled.to_ascii_lowercase();
                let hint = if lower != *spelled && is_plain(&lower) {
                    format!(
                        "write `{lower}`, or `{}` in double quotes for the case-sensitive name",
                        quote(spelled)
                    )
                } else {
                    format!(
                        "use lowercase letters, digits and `_`, or write the name in double quotes: `{}`",
                        quote(spelled)
                    )
                };
                write!(
                    f,
                    "`{spelled}` is not a plain SQL name (found {found:?}): {hint}"
                )
            }
            IdentErrorKind::Nul => write!(
                f,
                "`{spelled}` contains a NUL character, which PostgreSQL names cannot hold"
            ),
            IdentErrorKind::BadQuotes => write!(
                f,
                "`{spelled}` has unbalanced double quotes: write the whole name in quotes and double a quote inside it, e.g. `\"My \"\"Quoted\"\" Table\"`"
            ),
        }
    }
}

impl std::error::Error for IdentError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_read_as_written() {
        assert_eq!(parse("projects").unwrap(), "projects");
        assert_eq!(parse("_audit_2024").unwrap(), "_audit_2024");
        assert_eq!(parse(&"a".repeat(63)).unwrap().len(), 63);
    }

    #[test]
    fn quoted_names_keep_case_spaces_and_quotes() {
        assert_eq!(parse("\"Order Items\"").unwrap(), "Order Items");
        assert_eq!(parse("\"say \"\"hi\"\"\"").unwrap(), "say \"hi\"");
        assert_eq!(parse("\"user\"").unwrap(), "user");
    }

    #[test]
    fn names_that_would_be_folded_or_truncated_are_refused() {
        let err = parse("Users").unwrap_err();
        assert_eq!(err.kind(), IdentErrorKind::NotPlain { found: 'U' });
        assert!(err.to_string().contains("write `users`"), "{err}");
        assert!(err.to_string().contains("`\"Users\"`"), "{err}");
        assert_eq!(parse("").unwrap_err().kind(), IdentErrorKind::Empty);
        assert_eq!(parse("\"\"").unwrap_err().kind(), IdentErrorKind::Empty);
        assert_eq!(
            parse("1users").unwrap_err().kind(),
            IdentErrorKind::StartsWithDigit
        );
        assert_eq!(
            parse("users; drop").unwrap_err().kind(),
            IdentErrorKind::NotPlain { found: ';' }
        );
        assert_eq!(
            parse(&"a".repeat(64)).unwrap_err().kind(),
            IdentErrorKind::TooLong { bytes: 64 }
        );
        // 32 two-byte characters are 64 bytes.
        assert_eq!(
            parse(&format!("\"{}\"", "é".repeat(32)))
                .unwrap_err()
                .kind(),
            IdentErrorKind::TooLong { bytes: 64 }
        );
        for bad in ["\"open", "\"a\"b\"", "\"a\" ", "\"a\"\""] {
            assert_eq!(
                parse(bad).unwrap_err().kind(),
                IdentErrorKind::BadQuotes,
                "{bad}"
            );
        }
        assert_eq!(parse("\"a\0b\"").unwrap_err().kind(), IdentErrorKind::Nul);
    }

    #[test]
    fn quoting_escapes_and_spelling_round_trips() {
        assert_eq!(quote("users"), "\"users\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            qualified("public", "Order Items"),
            "\"public\".\"Order Items\""
        );
        for name in ["projects", "Order Items", "a\"b", "1x", "ünï", "user"] {
            assert_eq!(parse(&spell(name)).unwrap(), name);
        }
        assert_eq!(spell("projects"), "projects");
        assert_eq!(spell("createdBy"), "\"createdBy\"");
    }

    #[test]
    fn qualified_names_split_outside_quotes() {
        assert_eq!(
            parse_qualified("billing.invoices").unwrap(),
            (Some("billing".into()), "invoices".into())
        );
        assert_eq!(
            parse_qualified("invoices").unwrap(),
            (None, "invoices".into())
        );
        assert_eq!(
            parse_qualified("\"My.Schema\".\"T\"").unwrap(),
            (Some("My.Schema".into()), "T".into())
        );
        assert!(parse_qualified("a.B").is_err());
    }
}
