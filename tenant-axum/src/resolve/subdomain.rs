//! [`SubdomainResolver`]: the tenant as the label above a base domain,
//! `acme.app.example.com`.

use axum::http::header::HOST;

use super::{Accept, RequestHead, ResolveError, cut};
use crate::config::ConfigError;
use crate::tenant_ref::{Source, TenantRef};

/// Reads the tenant from the one label above a base domain:
/// `acme.app.example.com` names `acme` with base `app.example.com`.
///
/// The host comes from the request URI's authority (HTTP/2, or an
/// absolute-form HTTP/1.1 request line, where RFC 9112 says it wins) or
/// else the `Host` header; forwarded headers (`X-Forwarded-Host`) are not
/// read, since any client can send them. It drops the port, compares
/// case-insensitively and ignores one trailing dot (`ACME.App.Example.com.:443`
/// names `acme`). The bare base domain, other domains and IP literals are
/// not its business and let the next resolver try. It refuses nested
/// subdomains (`a.b.app.example.com`), punycode labels (`xn--...`), which
/// no slug can be, and hosts that are not ASCII hostnames.
///
/// **Trusts the caller**: the client chooses the host it sends. Use it
/// only behind a check that the caller may act for that tenant (a verified
/// JWT, or a membership check).
#[derive(Debug, Clone)]
pub struct SubdomainResolver {
    base: String,
    accept: Accept,
    ignore: Vec<String>,
}

/// The longest host read: a DNS name's 253, a port and a trailing dot.
const MAX_HOST: usize = 264;

impl SubdomainResolver {
    /// Reads the label above `base` (such as `app.example.com`), which must
    /// be an ASCII domain name: give an internationalized domain in its
    /// punycode form (`xn--bcher-kva.example`).
    pub fn new(base: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidBaseDomain {
            domain: base.to_owned(),
            reason,
        };
        if !base.is_ascii() {
            return Err(invalid(
                "it is not ASCII; give an internationalized domain in its punycode (xn--) form",
            ));
        }
        let normal = base.trim_end_matches('.').to_ascii_lowercase();
        if normal.is_empty() || normal.len() > 253 {
            return Err(invalid("it must be a domain name of 1 to 253 characters"));
        }
        if !normal.split('.').all(valid_label) {
            return Err(invalid(
                "each label must be 1 to 63 letters, digits or inner dashes",
            ));
        }
        Ok(Self {
            base: normal,
            accept: Accept::IdOrSlug,
            ignore: Vec::new(),
        })
    }

    /// Which forms it accepts (ids, slugs or both).
    pub fn accept(mut self, accept: Accept) -> Self {
        self.accept = accept;
        self
    }

    /// Labels that are not tenants (`www`, `api`): such a host lets the
    /// next resolver try.
    pub fn ignore<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.ignore = labels
            .into_iter()
            .map(|l| l.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// The base domain, lowercased.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The tenant the host names; `None` when the host is not a subdomain
    /// of the base domain (or is an ignored one).
    pub fn resolve(&self, head: &RequestHead<'_>) -> Result<Option<TenantRef>, ResolveError> {
        if let Some(authority) = head.uri().authority() {
            return self.resolve_host(authority.as_str().as_bytes());
        }
        match head.headers().get(HOST) {
            Some(host) => self.resolve_host(host.as_bytes()),
            None => Ok(None),
        }
    }

    pub(crate) fn resolve_host(&self, raw: &[u8]) -> Result<Option<TenantRef>, ResolveError> {
        if raw.len() > MAX_HOST {
            return Err(ResolveError::TooLong {
                resolver: Source::Subdomain,
                what: "host",
                len: raw.len(),
                max: MAX_HOST,
            });
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return Err(malformed(&String::from_utf8_lossy(raw), "it is not UTF-8"));
        };
        if !text.is_ascii() {
            return Err(malformed(
                text,
                "it is not ASCII; internationalized hosts are sent in punycode, and no slug is one",
            ));
        }
        if text.starts_with('[') {
            return Ok(None); // an IPv6 literal names no tenant
        }
        let host = match text.rsplit_once(':') {
            Some((host, port)) => {
                if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(malformed(text, "its port is not a number"));
                }
                host
            }
            None => text,
        };
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if host.is_empty() || host.split('.').any(str::is_empty) {
            return Err(malformed(text, "it has an empty label"));
        }
        if host == self.base {
            return Ok(None);
        }
        let Some(sub) = host
            .strip_suffix(self.base.as_str())
            .and_then(|s| s.strip_suffix('.'))
        else {
            return Ok(None); // another domain, or an IPv4 address
        };
        if sub.contains('.') {
            return Err(ResolveError::NestedSubdomain {
                host: cut(&host, 128),
                subdomain: cut(sub, 128),
                base: self.base.clone(),
            });
        }
        if sub.starts_with("xn--") {
            return Err(ResolveError::InternationalizedLabel {
                label: sub.to_owned(),
            });
        }
        if !valid_label(sub) {
            return Err(malformed(
                text,
                "its labels must be letters, digits or inner dashes",
            ));
        }
        if self.ignore.iter().any(|l| l == sub) {
            return Ok(None);
        }
        self.accept.parse(sub, Source::Subdomain).map(Some)
    }
}

fn malformed(host: &str, reason: &'static str) -> ResolveError {
    ResolveError::MalformedHost {
        host: cut(host, 128),
        reason,
    }
}

/// An LDH label (RFC 1123): 1 to 63 letters, digits and dashes, no dash
/// at either end.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
