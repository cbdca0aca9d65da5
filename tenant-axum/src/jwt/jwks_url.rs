//! [`JwksUrl`]: a JWK set fetched from the issuer and kept fresh.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

use super::error::JwtError;
use super::keys::{KeySet, Strict};
use crate::config::ConfigError;

/// The largest JWK set body read; real ones are a few kilobytes.
const MAX_BODY: usize = 1 << 20;

/// A JWK set at a URL (an identity provider's `jwks_uri`), fetched with
/// reqwest on first use and cached.
///
/// - The cached set is used for [`refresh_interval`](Self::refresh_interval)
///   (10 minutes by default), then fetched again on the next use.
/// - A token with a `kid` the cached set lacks makes it fetch at once (the
///   issuer may have rotated keys), but at most once per
///   [`min_refetch_interval`](Self::min_refetch_interval) (30 s), so
///   tokens with made-up `kid`s cannot make it hammer the issuer.
/// - Concurrent requests share one fetch.
/// - If a fetch fails, the keys fetched before stay in use (logged as a
///   warning) and the fetch is retried after the minimum interval; with
///   no keys at all, requests get [`JwtError::KeysUnavailable`] (a 503).
///
/// It is cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct JwksUrl {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    url: reqwest::Url,
    refresh: Duration,
    min_refetch: Duration,
    timeout: Duration,
    state: RwLock<State>,
    /// Held while fetching, so only one request fetches at a time.
    fetching: tokio::sync::Mutex<()>,
    clock: Clock,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    last_error: Option<String>,
    /// Bumped by every fetch attempt, so a request that waited for
    /// another's fetch uses its result instead of fetching again.
    generation: u64,
}

impl fmt::Debug for JwksUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksUrl")
            .field("url", &self.inner.url.as_str())
            .field("refresh", &self.inner.refresh)
            .finish_non_exhaustive()
    }
}

impl JwksUrl {
    /// The JWK set at `url`, fetched with a default reqwest client. An
    /// https URL needs the `rustls` feature.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let parsed = parse_url(url)?;
        if parsed.scheme() == "https" && !cfg!(feature = "rustls") {
            return Err(ConfigError::HttpsWithoutTls {
                url: url.to_owned(),
            });
        }
        Ok(Self::build(reqwest::Client::new(), parsed))
    }

    /// The JWK set at `url`, fetched with `client` (your TLS settings,
    /// proxy, user agent).
    pub fn with_client(client: reqwest::Client, url: &str) -> Result<Self, ConfigError> {
        Ok(Self::build(client, parse_url(url)?))
    }

    fn build(client: reqwest::Client, url: reqwest::Url) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                url,
                refresh: Duration::from_secs(600),
                min_refetch: Duration::from_secs(30),
                timeout: Duration::from_secs(10),
                state: RwLock::new(State::default()),
                fetching: tokio::sync::Mutex::new(()),
                clock: Clock::default(),
            }),
        }
    }

    /// How long a fetched set is used before it is fetched again.
    pub fn refresh_interval(self, every: Duration) -> Self {
        self.configure(|i| i.refresh = every)
    }

    /// The shortest time between two fetches, whatever the reason.
    pub fn min_refetch_interval(self, at_least: Duration) -> Self {
        self.configure(|i| i.min_refetch = at_least)
    }

    /// How long one fetch may take.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|i| i.timeout = timeout)
    }

    /// Settings are made before the first clone, while the `Arc` is unique.
    fn configure(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => tracing::warn!("JwksUrl settings changed after it was cloned are ignored"),
        }
        self
    }

    /// Fetches the set now: call it at start-up to fail early when the
    /// issuer is unreachable or serves no usable key.
    pub async fn prefetch(&self) -> Result<(), JwtError> {
        let _fetching = self.inner.fetching.lock().await;
        self.fetch_and_store().await.map(|_| ())
    }

    /// A set that should hold `kid`: the cached one, or a fresh fetch when
    /// the cache is stale or lacks `kid` (and the minimum interval allows).
    pub(crate) async fn key_set(&self, kid: &str) -> Result<Arc<KeySet>, JwtError> {
        let generation = {
            let now = self.inner.clock.now();
            let state = self.read();
            if let Some(keys) = self.usable(&state, now, kid) {
                return Ok(keys);
            }
            state.generation
        };
        let _fetching = self.inner.fetching.lock().await;
        {
            let state = self.read();
            if state.generation != generation {
                // Another request fetched while this one waited.
                return self.after_attempt(&state);
            }
        }
        match self.fetch_and_store().await {
            Ok(keys) => Ok(keys),
            Err(e) => {
                let state = self.read();
                match &state.keys {
                    Some(keys) if keys.contains(kid) => Ok(keys.clone()),
                    _ => Err(e),
                }
            }
        }
    }

    /// The cached set when it can answer without a fetch now.
    fn usable(&self, state: &State, now: Instant, kid: &str) -> Option<Arc<KeySet>> {
        let keys = state.keys.as_ref()?;
        let age = state.fetched_at.map(|at| now.saturating_duration_since(at));
        let fresh = age.is_some_and(|age| age < self.inner.refresh);
        let may_fetch = state
            .attempted_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.inner.min_refetch);
        if (fresh && keys.contains(kid)) || !may_fetch {
            // Fresh, or not allowed to fetch yet: the cache answers, and an
            // unknown kid is refused by the caller.
            return Some(keys.clone());
        }
        None
    }

    /// What a request that waited for another's fetch gets.
    fn after_attempt(&self, state: &State) -> Result<Arc<KeySet>, JwtError> {
        state.keys.clone().ok_or_else(|| JwtError::KeysUnavailable {
            reason: state
                .last_error
                .clone()
                .unwrap_or_else(|| "no key set fetched yet".to_owned()),
        })
    }

    async fn fetch_and_store(&self) -> Result<Arc<KeySet>, JwtError> {
        let outcome = self.fetch().await;
        let now = self.inner.clock.now();
        let mut state = self.write();
        state.generation += 1;
        state.attempted_at = Some(now);
        match outcome {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = Some(keys.clone());
                state.fetched_at = Some(now);
                state.last_error = None;
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(url = %self.inner.url, %reason, "fetching the JWK set failed");
                state.last_error = Some(reason.clone());
                Err(JwtError::KeysUnavailable { reason })
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let response = self
            .inner
            .client
            .get(self.inner.url.clone())
            .timeout(self.inner.timeout)
            .send()
            .await
            .map_err(|e| format!("GET {}: {e}", self.inner.url))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {} answered {status}", self.inner.url));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(format!("the JWK set is larger than {MAX_BODY} bytes"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the JWK set: {e}"))?;
        if body.len() > MAX_BODY {
            return Err(format!("the JWK set is larger than {MAX_BODY} bytes"));
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("the JWK set is not valid: {e}"))?;
        KeySet::from_jwks(&set, Strict::No).map_err(|e| e.to_string())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every
        // write is a few field stores), so a poisoned lock is still usable.
        self.inner.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse_url(url: &str) -> Result<reqwest::Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidJwksUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("it must be an http or https URL".to_owned()));
    }
    Ok(parsed)
}

/// The time source: the system clock, or in unit tests one they move.
#[derive(Default)]
struct Clock {
    #[cfg(test)]
    manual: Option<Arc<std::sync::Mutex<Instant>>>,
}

impl Clock {
    fn now(&self) -> Instant {
        #[cfg(test)]
        if let Some(manual) = &self.manual {
            return *manual.lock().unwrap_or_else(|p| p.into_inner());
        }
        Instant::now()
    }
}

#[cfg(test)]
mod tests;
