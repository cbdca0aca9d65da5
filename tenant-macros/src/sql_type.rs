//! The SQL type of a column, read off its Rust type.
//!
//! A derive macro sees tokens, not resolved types, so this goes by the last
//! path segment (`chrono::DateTime<Utc>` and `DateTime<Utc>` are the same to
//! it). Anything it does not know asks for `#[tenant(sql_type = "..")]`.

/// A Rust type with `Option` peeled off.
pub(crate) struct Inferred<'a> {
    pub(crate) inner: &'a syn::Type,
    pub(crate) nullable: bool,
}

/// Splits `Option<T>` into `T` and "nullable".
pub(crate) fn peel_option(ty: &syn::Type) -> Inferred<'_> {
    if let Some(inner) = single_generic(ty, "Option") {
        return Inferred {
            inner,
            nullable: true,
        };
    }
    Inferred {
        inner: ty,
        nullable: false,
    }
}

/// The last segment's name of a path type, if `ty` is one.
pub(crate) fn last_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        syn::Type::Group(g) => last_segment(&g.elem),
        syn::Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

/// `T` when `ty` is `name<T>`.
fn single_generic<'a>(ty: &'a syn::Type, name: &str) -> Option<&'a syn::Type> {
    let seg = last_segment(ty)?;
    if seg.ident != name {
        return None;
    }
    match &seg.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `ty` names `TenantId` or `Uuid` (the two types a tenant column may have).
pub(crate) fn is_tenant_type(ty: &syn::Type) -> bool {
    last_segment(ty).is_some_and(|seg| {
        matches!(seg.arguments, syn::PathArguments::None)
            && (seg.ident == "TenantId" || seg.ident == "Uuid")
    })
}

/// Whether the database can number this type itself (an identity column).
pub(crate) fn is_integer(sql_type: &str) -> bool {
    matches!(sql_type, "smallint" | "integer" | "bigint")
}

/// The SQL type for a non-optional Rust type, or `None` when unknown.
pub(crate) fn infer(ty: &syn::Type) -> Option<String> {
    if let syn::Type::Reference(r) = ty {
        return infer(&r.elem);
    }
    if let Some(elem) = single_generic(ty, "Vec") {
        if last_segment(elem).is_some_and(|s| s.ident == "u8") {
            return Some("bytea".to_owned());
        }
        let elem = infer(elem)?;
        return Some(format!("{elem}[]"));
    }
    let seg = last_segment(ty)?;
    let name = seg.ident.to_string();
    let sql = match name.as_str() {
        "bool" => "boolean",
        "i16" => "smallint",
        "i32" => "integer",
        "i64" => "bigint",
        "f32" => "real",
        "f64" => "double precision",
        "String" | "str" => "text",
        "Uuid" | "TenantId" => "uuid",
        "OffsetDateTime" | "DateTime" => "timestamptz",
        "PrimitiveDateTime" | "NaiveDateTime" => "timestamp",
        "Date" | "NaiveDate" => "date",
        "Time" | "NaiveTime" => "time",
        "Decimal" | "BigDecimal" => "numeric",
        "Json" | "JsonValue" | "Value" => "jsonb",
        "IpAddr" | "IpNetwork" | "IpInet" => "inet",
        "PgInterval" => "interval",
        _ => return None,
    };
    Some(sql.to_owned())
}

/// Checks an explicit `sql_type = ".."`: it is pasted into DDL, so only the
/// characters a type name can contain are allowed.
pub(crate) fn check_explicit(sql_type: &str) -> Result<(), String> {
    let ok = !sql_type.trim().is_empty()
        && sql_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _(),[].".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "sql_type `{sql_type}` is not a SQL type name; write one such as \"text\", \"numeric(12,2)\" or \"citext\""
        ))
    }
}

/// Checks an explicit `default = ".."` expression for what cannot belong in
/// one: statement separators, comments and dollar quotes.
pub(crate) fn check_default(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() || expr.contains(';') || expr.contains("--") || expr.contains('$') {
        Err(format!(
            "default `{expr}` is not a single SQL expression; write one such as \"now()\" or \"'draft'\""
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> syn::Type {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn infers_common_types() {
        for (rust, sql) in [
            ("i64", "bigint"),
            ("String", "text"),
            ("uuid::Uuid", "uuid"),
            ("tenant_runtime::TenantId", "uuid"),
            ("Vec<u8>", "bytea"),
            ("Vec<String>", "text[]"),
            ("chrono::DateTime<chrono::Utc>", "timestamptz"),
            ("time::OffsetDateTime", "timestamptz"),
            ("serde_json::Value", "jsonb"),
        ] {
            assert_eq!(infer(&ty(rust)).as_deref(), Some(sql), "{rust}");
        }
        assert_eq!(infer(&ty("MyEnum")), None);
        assert_eq!(infer(&ty("Vec<MyEnum>")), None);
    }

    #[test]
    fn peels_option() {
        let t = ty("Option<i32>");
        let p = peel_option(&t);
        assert!(p.nullable);
        assert_eq!(infer(p.inner).as_deref(), Some("integer"));
    }

    #[test]
    fn recognises_tenant_types() {
        assert!(is_tenant_type(&ty("TenantId")));
        assert!(is_tenant_type(&ty("::uuid::Uuid")));
        assert!(!is_tenant_type(&ty("String")));
        assert!(!is_tenant_type(&ty("Option<TenantId>")));
    }

    #[test]
    fn rejects_injection_in_explicit_sql() {
        assert!(check_explicit("numeric(12,2)").is_ok());
        assert!(check_explicit("text; drop table x").is_err());
        assert!(check_default("now()").is_ok());
        assert!(check_default("'draft'").is_ok());
        assert!(check_default("1); drop table x; --").is_err());
    }
}
