//! The documentation's tables against the code they describe.

use tenant_sql::types::TYPES;

/// Rows of the Markdown table after `marker` in `text`: cells, trimmed.
fn table_after(text: &str, marker: &str) -> Vec<Vec<String>> {
    let start = text.find(marker).expect("the marker is in the README");
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and rule
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// tenant-runtime's README lists every Rust type the derive maps, with
/// the SQL type it maps it to, and nothing the derive does not map.
#[test]
fn the_type_table_is_the_derives() {
    let readme = include_str!("../../../tenant-runtime/README.md");
    let rows = table_after(readme, "<!-- type-table:");
    let cell = |rust: &str| {
        rows.iter()
            .find(|r| r[0].split(", ").any(|c| c == format!("`{rust}`")))
            .unwrap_or_else(|| panic!("`{rust}` is not in the README's type table"))
    };
    // `Vec<u8>` is found by its whole type, not by a last segment.
    let names = |t: &'static tenant_sql::types::SqlType| -> Vec<&'static str> {
        if t.rust_names.is_empty() {
            vec![t.rust]
        } else {
            t.rust_names.to_vec()
        }
    };
    for t in TYPES {
        for rust in names(t) {
            let row = cell(rust);
            assert_eq!(row[1], format!("`{}`", t.sql), "{rust}");
            if let Some(feature) = t.sqlx_feature {
                assert!(row[2].contains(&format!("`{feature}`")), "{rust}: {row:?}");
            }
        }
    }
    let documented: usize = rows.iter().map(|r| r[0].split(", ").count()).sum();
    let mapped: usize = TYPES.iter().map(|t| names(t).len()).sum();
    assert_eq!(
        documented, mapped,
        "the README lists a type the derive does not map"
    );
}
