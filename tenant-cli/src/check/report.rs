//! `check`'s output: a report for people, or the same as JSON.

use serde::Serialize;

use super::{Check, Ctx, Finding, Severity, Verdict};

#[derive(Serialize)]
struct Report<'a> {
    database: &'a str,
    role: &'a str,
    system_role: Option<&'a str>,
    /// Registered models linked into the binary.
    models: usize,
    tenant_tables: Vec<String>,
    checks: Vec<CheckResult<'a>>,
    summary: Summary,
}

/// A validation's result, as the report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Serialize)]
struct CheckResult<'a> {
    id: &'static str,
    severity: Severity,
    title: &'static str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    skip_reason: Option<&'a str>,
    /// What a passing validation found (the facts it reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    findings: &'a [Finding],
}

/// Counts of validations by result.
#[derive(Serialize)]
struct Summary {
    checks: usize,
    passed: usize,
    /// Failed validations of severity error.
    errors: usize,
    /// Failed validations of severity warning.
    warnings: usize,
    skipped: usize,
}

fn summary(results: &[(&Check, Verdict)]) -> Summary {
    let count =
        |f: &dyn Fn(&Check, &Verdict) -> bool| results.iter().filter(|(c, v)| f(c, v)).count();
    Summary {
        checks: results.len(),
        passed: count(&|_, v| matches!(v, Verdict::Pass | Verdict::Note(_))),
        errors: count(&|c, v| c.severity == Severity::Error && matches!(v, Verdict::Fail(_))),
        warnings: count(&|c, v| c.severity == Severity::Warning && matches!(v, Verdict::Fail(_))),
        skipped: count(&|_, v| matches!(v, Verdict::Skip(_))),
    }
}

/// Prints the report on stdout.
pub(super) fn print(ctx: &Ctx<'_>, results: &[(&'static Check, Verdict)], json: bool) {
    let session = &ctx.catalog.session;
    let report = Report {
        database: &session.database,
        role: &session.role,
        system_role: ctx.system.map(|s| s.role.as_str()),
        models: ctx.models.len(),
        tenant_tables: ctx.tenant_tables.iter().map(|t| t.qualified()).collect(),
        checks: results
            .iter()
            .map(|(c, v)| CheckResult {
                id: c.id,
                severity: c.severity,
                title: c.title,
                status: match v {
                    Verdict::Pass | Verdict::Note(_) => Status::Pass,
                    Verdict::Fail(_) => Status::Fail,
                    Verdict::Skip(_) => Status::Skip,
                },
                skip_reason: match v {
                    Verdict::Skip(why) => Some(why.as_str()),
                    _ => None,
                },
                note: match v {
                    Verdict::Note(note) => Some(note.as_str()),
                    _ => None,
                },
                findings: match v {
                    Verdict::Fail(f) => f,
                    _ => &[],
                },
            })
            .collect(),
        summary: summary(results),
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        out!("{}", text(&report));
    }
}

fn text(r: &Report<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let system = r.system_role.map_or_else(
        || "no system role given".to_owned(),
        |s| format!("system role {s}"),
    );
    let _ = writeln!(
        out,
        "tenant check of database {:?} as role {} ({system})",
        r.database, r.role
    );
    let tables = if r.tenant_tables.is_empty() {
        "none".to_owned()
    } else {
        r.tenant_tables.join(", ")
    };
    let _ = writeln!(out, "tenant tables: {tables}");
    let _ = writeln!(out, "models linked: {}\n", r.models);
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        let label = match (c.status, c.severity) {
            (Status::Pass, _) => "ok",
            (Status::Skip, _) => "skip",
            (_, Severity::Error) => "FAIL",
            (_, Severity::Warning) => "warn",
        };
        let _ = write!(out, "{label:<5} {:<width$}  {}", c.id, c.title);
        match c.skip_reason {
            Some(why) => {
                let _ = writeln!(out, " (skipped: {why})");
            }
            None => out.push('\n'),
        }
        if let Some(note) = c.note {
            let _ = writeln!(out, "      {note}");
        }
        for f in c.findings {
            let _ = writeln!(out, "      - {}: {}", f.object, f.message);
            let _ = writeln!(out, "        fix: {}", f.fix);
        }
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "\n{} validations: {} passed, {} failed (error), {} failed (warning), {} skipped",
        s.checks, s.passed, s.errors, s.warnings, s.skipped
    );
    out
}

#[derive(Serialize)]
struct Listed {
    id: &'static str,
    severity: Severity,
    title: &'static str,
}

/// `check --list`.
pub(super) fn print_list(checks: impl Iterator<Item = &'static Check>, json: bool) {
    let listed: Vec<Listed> = checks
        .map(|c| Listed {
            id: c.id,
            severity: c.severity,
            title: c.title,
        })
        .collect();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&listed).expect("the list serializes")
        );
        return;
    }
    let width = listed.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &listed {
        let severity = match c.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        outln!("{:<width$}  {severity:<7}  {}", c.id, c.title);
    }
}
