//! What a column default expression (`#[tenant(default = "..")]`, or one
//! read from a catalog by `init`) may be.
//!
//! The expression is pasted into `CREATE TABLE .. DEFAULT <expr>`, so it
//! must be one expression and nothing else: no statement separator, no
//! comment that would hide the rest of the line, no dollar quote, and
//! every quote and parenthesis closed. Quoted identifiers and string
//! literals are fine (`nextval('"Order_id_seq"'::regclass)`, `'draft'`).

use std::fmt;

/// Checks `expr`.
pub fn check(expr: &str) -> Result<(), DefaultError> {
    let error = |kind| {
        Err(DefaultError {
            expr: expr.to_owned(),
            kind,
        })
    };
    if expr.trim().is_empty() {
        return error(DefaultErrorKind::Empty);
    }
    let mut depth = 0usize;
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                // Inside a literal or quoted name a doubled quote is one
                // quote; anything else is text, `;` and `--` included.
                loop {
                    match chars.next() {
                        Some(q) if q == c && chars.peek() == Some(&c) => {
                            chars.next();
                        }
                        Some(q) if q == c => break,
                        Some(_) => {}
                        None => return error(DefaultErrorKind::Unclosed),
                    }
                }
            }
            ';' => return error(DefaultErrorKind::Separator),
            '$' => return error(DefaultErrorKind::DollarQuote),
            '-' if chars.peek() == Some(&'-') => return error(DefaultErrorKind::Comment),
            '/' if chars.peek() == Some(&'*') => return error(DefaultErrorKind::Comment),
            '(' => depth += 1,
            ')' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return error(DefaultErrorKind::Unclosed),
            },
            '\0' => return error(DefaultErrorKind::Nul),
            _ => {}
        }
    }
    if depth != 0 {
        return error(DefaultErrorKind::Unclosed);
    }
    Ok(())
}

/// A default that is not a single SQL expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultError {
    expr: String,
    kind: DefaultErrorKind,
}

/// Why a default is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultErrorKind {
    /// Nothing but white space.
    Empty,
    /// A `;` outside a literal.
    Separator,
    /// `--` or `/*` outside a literal.
    Comment,
    /// A `$`, which starts a dollar-quoted string or a parameter.
    DollarQuote,
    /// A quote or parenthesis that is not closed (or closed too often).
    Unclosed,
    /// A NUL character.
    Nul,
}

impl DefaultError {
    /// Why it is refused.
    pub fn kind(&self) -> DefaultErrorKind {
        self.kind
    }
}

impl fmt::Display for DefaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind {
            DefaultErrorKind::Empty => "is empty",
            DefaultErrorKind::Separator => "holds a `;` outside a string",
            DefaultErrorKind::Comment => "holds a comment (`--` or `/*`)",
            DefaultErrorKind::DollarQuote => "holds a `$`",
            DefaultErrorKind::Unclosed => "has a quote or parenthesis that is not closed",
            DefaultErrorKind::Nul => "holds a NUL character",
        };
        write!(
            f,
            "default `{}` {why}, so it is not a single SQL expression; write one such as \"now()\" or \"'draft'\"",
            self.expr
        )
    }
}

impl std::error::Error for DefaultError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_expressions_pass() {
        for ok in [
            "now()",
            "'draft'",
            "'it''s; -- fine'",
            "nextval('\"Order_id_seq\"'::regclass)",
            "'{}'::text[]",
            "(1 + 2) * 3",
            "\"weird \"\" name\"",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn anything_that_could_end_the_expression_is_refused() {
        for (bad, kind) in [
            ("", DefaultErrorKind::Empty),
            ("1); drop table x; --", DefaultErrorKind::Unclosed),
            ("1; drop table x", DefaultErrorKind::Separator),
            ("1 -- rest", DefaultErrorKind::Comment),
            ("1 /* rest", DefaultErrorKind::Comment),
            ("$$x$$", DefaultErrorKind::DollarQuote),
            ("'open", DefaultErrorKind::Unclosed),
            ("\"open", DefaultErrorKind::Unclosed),
            ("(1", DefaultErrorKind::Unclosed),
        ] {
            assert_eq!(check(bad).map_err(|e| e.kind()), Err(kind), "{bad}");
        }
        let message = check("1; x").unwrap_err().to_string();
        assert!(message.contains("not a single SQL expression"), "{message}");
    }
}
