//! The SQL type of a column, read off its Rust type.
//!
//! A derive macro sees tokens, not resolved types, so this goes by the last
//! path segment (`chrono::DateTime<Utc>` and `DateTime<Utc>` are the same to
//! it). Anything it does not know asks for `#[tenant(sql_type = "..")]`.
//! The table itself is `tenant_sql::types`, shared with the skeleton
//! writer that goes the other way.

use tenant_sql::types;

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

/// The SQL type for a non-optional Rust type, from the shared type table,
/// or `None` when unknown.
pub(crate) fn infer(ty: &syn::Type) -> Option<String> {
    if let syn::Type::Reference(r) = ty {
        return infer(&r.elem);
    }
    if let Some(elem) = single_generic(ty, "Vec") {
        if last_segment(elem).is_some_and(|s| s.ident == "u8") {
            return Some(types::BYTEA.sql.to_owned());
        }
        return Some(types::array_of(&infer(elem)?));
    }
    let name = last_segment(ty)?.ident.to_string();
    types::for_rust_name(&name).map(|t| t.sql.to_owned())
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

    /// The other half of the round trip `tenant init` tests against a
    /// database: the Rust type a skeleton writes for a SQL type is read
    /// back by the derive as that SQL type.
    #[test]
    fn every_skeleton_type_reads_back_as_its_sql_type() {
        for t in types::TYPES {
            assert_eq!(infer(&ty(t.rust)).as_deref(), Some(t.sql), "{}", t.rust);
            let array = format!("Vec<{}>", t.rust);
            assert_eq!(infer(&ty(&array)), Some(types::array_of(t.sql)), "{array}");
            let optional = ty(&format!("Option<{}>", t.rust));
            let peeled = peel_option(&optional);
            assert!(peeled.nullable);
            assert_eq!(infer(peeled.inner).as_deref(), Some(t.sql));
        }
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
}
