//! String literals in generated SQL text.

/// `'text'` with every `'` doubled; `E'..'` with backslashes doubled too
/// when the text holds one, so the literal means the same whatever
/// `standard_conforming_strings` is. The text must not hold a NUL, which
/// PostgreSQL text cannot store (names and ids never do).
pub fn quote(text: &str) -> String {
    let escape_backslashes = text.contains('\\');
    let mut out = String::with_capacity(text.len() + 3);
    if escape_backslashes {
        out.push('E');
    }
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if escape_backslashes => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `$tag$body$tag$` with a tag that does not occur in `body`, so nothing
/// inside the body can end the quote early.
pub fn dollar_quote(body: &str) -> String {
    let mut tag = String::from("$do$");
    let mut n = 0u32;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$do{n}$");
    }
    format!("{tag}{body}{tag}")
}

#[cfg(test)]
mod tests {
    use super::{dollar_quote, quote};

    #[test]
    fn dollar_quotes_pick_a_tag_the_body_does_not_hold() {
        assert_eq!(dollar_quote(" BEGIN x; END "), "$do$ BEGIN x; END $do$");
        assert_eq!(dollar_quote("a $do$ b"), "$do1$a $do$ b$do1$");
        assert_eq!(dollar_quote("$do$ $do1$"), "$do2$$do$ $do1$$do2$");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote("tenant_id"), "'tenant_id'");
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote(r"a\b"), r"E'a\\b'");
        assert_eq!(quote(r"'\"), r"E'''\\'");
        assert_eq!(quote(""), "''");
    }
}
