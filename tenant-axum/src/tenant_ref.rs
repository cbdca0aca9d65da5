//! What a resolver finds: a tenant named by id or by slug, and where it
//! was found.

use std::fmt;

use crate::runtime::TenantId;

/// The longest slug tenant-runtime accepts.
pub const MAX_SLUG_LEN: usize = 100;

/// A tenant slug as tenant-runtime accepts it: 1 to 100 lowercase ASCII
/// letters and digits in groups joined by single dashes (`acme-corp`).
///
/// Parsing is the only way to make one, so text that reaches the tenants
/// directory has already been checked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

/// Text that is not a slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant slug {input:?}: use 1 to {MAX_SLUG_LEN} lowercase letters and digits joined by single dashes, e.g. acme-corp"
)]
pub struct InvalidSlug {
    input: String,
}

impl InvalidSlug {
    /// The text that was refused, cut to 64 characters.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl Slug {
    /// Checks `input` against tenant-runtime's slug rule.
    pub fn parse(input: &str) -> Result<Self, InvalidSlug> {
        let ok = !input.is_empty()
            && input.len() <= MAX_SLUG_LEN
            && input.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(InvalidSlug {
                input: input.chars().take(64).collect(),
            })
        }
    }

    /// The slug's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slug({})", self.0)
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A tenant as a request names it: by id, or by slug (looked up in the
/// [`TenantDirectory`](crate::TenantDirectory)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantRef {
    /// A tenant id (`tenants.id`).
    Id(TenantId),
    /// A tenant slug (`tenants.slug`).
    Slug(Slug),
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TenantRef::Id(id) => write!(f, "id {id}"),
            TenantRef::Slug(slug) => write!(f, "slug {slug}"),
        }
    }
}

/// Which resolver named the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A verified JWT's claim.
    Jwt,
    /// A custom resolver, by the name it was registered with.
    Custom(&'static str),
    /// A path segment (`/t/{tenant}/..`).
    Path,
    /// A request header.
    Header,
    /// The host's subdomain.
    Subdomain,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Jwt => f.write_str("jwt"),
            Source::Custom(name) => write!(f, "custom:{name}"),
            Source::Path => f.write_str("path"),
            Source::Header => f.write_str("header"),
            Source::Subdomain => f.write_str("subdomain"),
        }
    }
}

/// A tenant reference together with the resolver that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The tenant named.
    pub tenant: TenantRef,
    /// Who named it.
    pub source: Source,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_runtime_rule() {
        for good in ["acme", "acme-corp", "a1-2b", &"a".repeat(MAX_SLUG_LEN)] {
            assert_eq!(
                Slug::parse(good).map(|s| s.to_string()),
                Ok(good.to_owned())
            );
        }
        let long = "a".repeat(MAX_SLUG_LEN + 1);
        for bad in [
            "",
            "Acme",
            "acme--corp",
            "-acme",
            "acme-",
            "acme_corp",
            "a b",
            "ü",
            &long,
        ] {
            let err = Slug::parse(bad).unwrap_err();
            assert!(err.to_string().contains("lowercase letters"), "{err}");
            assert!(err.input().len() <= 64);
        }
    }
}
