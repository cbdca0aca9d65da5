//! The sqlx-migrate folder `emit-rls -o` writes to and `--check` reads.
//!
//! sqlx records each applied migration's checksum and refuses to run when
//! an applied file changed, so a file is never rewritten: a change to the
//! models becomes a new, complete `<version>_tenant_rls.sql`.

use std::io;
use std::path::{Path, PathBuf};

/// File name ending of the files `emit-rls` writes.
pub(crate) const SUFFIX: &str = "_tenant_rls.sql";

/// The newest `<version>_tenant_rls.sql` of a folder.
pub(crate) struct Newest {
    pub(crate) path: PathBuf,
    pub(crate) sql: String,
}

/// What `write_if_changed` did.
pub(crate) enum Written {
    /// The newest file already holds this DDL.
    UpToDate(PathBuf),
    /// A new file (not written on a dry run).
    New(PathBuf),
}

/// `<version>` of a sqlx migration file name (`20240101120000_init.sql`,
/// `1_x.up.sql`), or `None` for other files.
fn version_of(name: &str) -> Option<i64> {
    let (version, rest) = name.split_once('_')?;
    (rest.ends_with(".sql") && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
        .then(|| version.parse().ok())
        .flatten()
}

/// Every migration in `dir` as (version, file name); empty when `dir` does not exist.
fn migrations(dir: &Path) -> io::Result<Vec<(i64, String)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(v) = version_of(&name) {
            out.push((v, name));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest file `emit-rls` wrote in `dir`, if any.
pub(crate) fn newest(dir: &Path) -> io::Result<Option<Newest>> {
    let Some((_, name)) = migrations(dir)?
        .into_iter()
        .rfind(|(_, n)| n.ends_with(SUFFIX))
    else {
        return Ok(None);
    };
    let path = dir.join(name);
    let sql = std::fs::read_to_string(&path)?;
    Ok(Some(Newest { path, sql }))
}

/// Writes `sql` as a new migration unless the newest one already holds it.
/// The version is `now` (`YYYYMMDDHHMMSS`, like `sqlx migrate add`), or one
/// past the newest migration in `dir` if the clock is behind it.
pub(crate) fn write_if_changed(
    dir: &Path,
    sql: &str,
    now: i64,
    dry_run: bool,
) -> io::Result<Written> {
    if let Some(newest) = newest(dir)?
        && newest.sql == sql
    {
        return Ok(Written::UpToDate(newest.path));
    }
    let latest = migrations(dir)?.last().map(|(v, _)| *v);
    let version = latest.map_or(now, |v| now.max(v + 1));
    let path = dir.join(format!("{version}{SUFFIX}"));
    if !dry_run {
        std::fs::create_dir_all(dir)?;
        // create_new: never overwrite, even if two runs race.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| io::Write::write_all(&mut f, sql.as_bytes()))?;
    }
    Ok(Written::New(path))
}

/// The current UTC time as a sqlx migration version.
pub(crate) fn now_version() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    now.format(&format)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a formatted date is digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tenant-rls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn versions_of_sqlx_file_names() {
        assert_eq!(
            version_of("20240101120000_tenant_rls.sql"),
            Some(20240101120000)
        );
        assert_eq!(version_of("3_init.up.sql"), Some(3));
        assert_eq!(version_of("README.md"), None);
        assert_eq!(version_of("v1_x.sql"), None);
    }

    #[test]
    fn writes_only_when_changed_and_never_rewrites() {
        let dir = temp_dir("write");
        let Written::New(first) = write_if_changed(&dir, "A", 20260101000000, false).unwrap()
        else {
            panic!("first write must create a file");
        };
        assert!(
            matches!(write_if_changed(&dir, "A", 20260101000005, false).unwrap(), Written::UpToDate(p) if p == first)
        );
        // A clock behind the newest file still gives a newer version.
        let Written::New(second) = write_if_changed(&dir, "B", 20250101000000, false).unwrap()
        else {
            panic!("changed DDL must create a file");
        };
        assert!(
            second.ends_with("20260101000001_tenant_rls.sql"),
            "{second:?}"
        );
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "A");
        let Written::New(dry) = write_if_changed(&dir, "C", 20270101000000, true).unwrap() else {
            panic!("dry run reports the file it would write");
        };
        assert!(!dry.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn newest_ignores_other_migrations() {
        let dir = temp_dir("newest");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1_tenant_rls.sql"), "old").unwrap();
        std::fs::write(dir.join("5_users.sql"), "other").unwrap();
        assert_eq!(newest(&dir).unwrap().unwrap().sql, "old");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
