//! [`PathResolver`]: the tenant as a path segment, `/t/{tenant}/..`.

use super::{Accept, RequestHead, ResolveError, cut};
use crate::config::ConfigError;
use crate::tenant_ref::{Source, TenantRef};

/// Reads the tenant from the path segment after a fixed prefix:
/// `/t/acme/projects` names `acme` with the default prefix `/t`.
///
/// It reads the raw (still percent-encoded) path, as the router matches
/// it: a path outside the prefix (`/health`, `//t/acme`, `/x/../t/acme`)
/// is not its business and it lets the next resolver try. Inside the
/// prefix it refuses an empty segment (`/t//x`), a dot segment (`/t/../x`)
/// and any percent-encoding (`/t/acme%2fglobex`), so a tenant has exactly
/// one spelling and nothing decodes into a path separator.
///
/// **Trusts the caller**: any client can put any tenant in the URL. Use
/// it only behind a check that the caller may act for that tenant (a
/// verified JWT, or a membership check).
#[derive(Debug, Clone)]
pub struct PathResolver {
    prefix: Vec<String>,
    accept: Accept,
}

impl Default for PathResolver {
    fn default() -> Self {
        Self {
            prefix: vec!["t".to_owned()],
            accept: Accept::IdOrSlug,
        }
    }
}

/// The longest tenant segment read: a slug's limit, with room to spare.
const MAX_SEGMENT: usize = 128;

impl PathResolver {
    /// Reads the segment after `prefix`, such as `/t` or `/orgs`
    /// (`/api/orgs` works too). The prefix must start with `/` and have
    /// plain segments: no empty, dot or percent-encoded ones.
    pub fn new(prefix: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidPathPrefix {
            prefix: prefix.to_owned(),
            reason,
        };
        let rest = prefix
            .strip_prefix('/')
            .ok_or(invalid("it must start with /"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(invalid("it needs at least one segment, such as /t"));
        }
        let mut segments = Vec::new();
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(invalid("it has an empty or dot segment"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b))
            {
                return Err(invalid(
                    "its segments may hold only ASCII letters, digits, - _ and ~",
                ));
            }
            segments.push(segment.to_owned());
        }
        Ok(Self {
            prefix: segments,
            accept: Accept::IdOrSlug,
        })
    }

    /// Which forms it accepts (ids, slugs or both).
    pub fn accept(mut self, accept: Accept) -> Self {
        self.accept = accept;
        self
    }

    /// The prefix, as `/t`.
    pub fn prefix(&self) -> String {
        format!("/{}", self.prefix.join("/"))
    }

    /// The tenant the path names; `None` when the path is outside the
    /// prefix.
    pub fn resolve(&self, head: &RequestHead<'_>) -> Result<Option<TenantRef>, ResolveError> {
        self.resolve_path(head.uri().path())
    }

    pub(crate) fn resolve_path(&self, path: &str) -> Result<Option<TenantRef>, ResolveError> {
        let Some(rest) = path.strip_prefix('/') else {
            return Ok(None);
        };
        let mut segments = rest.split('/');
        for expected in &self.prefix {
            if segments.next() != Some(expected.as_str()) {
                return Ok(None);
            }
        }
        let segment = segments.next().unwrap_or("");
        if segment.is_empty() {
            return Err(ResolveError::EmptyPathSegment {
                prefix: self.prefix(),
                path: cut(path, 128),
            });
        }
        if segment.len() > MAX_SEGMENT {
            return Err(ResolveError::TooLong {
                resolver: Source::Path,
                what: "path segment",
                len: segment.len(),
                max: MAX_SEGMENT,
            });
        }
        if segment == "." || segment == ".." {
            return Err(ResolveError::DotSegment {
                segment: segment.to_owned(),
            });
        }
        if segment.contains('%') {
            return Err(ResolveError::EncodedPathSegment {
                segment: cut(segment, 64),
            });
        }
        self.accept.parse(segment, Source::Path).map(Some)
    }
}
