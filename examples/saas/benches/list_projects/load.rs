//! HTTP load from inside the benchmark: `clients` concurrent loops, each
//! sending `GET /projects` one after another on its own keep-alive
//! connection, over loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};

use crate::BoxError;

/// One service and, per tenant, the header that names the tenant to it.
pub(crate) struct Target {
    pub(crate) name: &'static str,
    url: String,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

impl Target {
    pub(crate) fn new(
        name: &'static str,
        addr: SocketAddr,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Self {
        Self {
            name,
            url: format!("http://{addr}/projects"),
            headers: Arc::new(headers),
        }
    }

    /// The body of one request for tenant `n`, checked to be a 200.
    pub(crate) async fn fetch(
        &self,
        client: &reqwest::Client,
        n: usize,
    ) -> Result<String, BoxError> {
        let (name, value) = &self.headers[n % self.headers.len()];
        let response = client.get(&self.url).header(name, value).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("{}: {status} {body}", self.name).into());
        }
        Ok(body)
    }
}

/// What one round of one target measured.
pub(crate) struct Round {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) wall: Duration,
}

impl Round {
    pub(crate) fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// `clients` loops of `per_client` requests each; loop `c` asks for
/// tenants `first + c`, `first + c + clients`, ..
pub(crate) async fn round(
    target: &Arc<Target>,
    clients: &[reqwest::Client],
    per_client: usize,
    first: usize,
) -> Result<Round, BoxError> {
    let started = Instant::now();
    let mut loops = Vec::with_capacity(clients.len());
    for (c, client) in clients.iter().enumerate() {
        let (target, client) = (target.clone(), client.clone());
        let stride = clients.len();
        loops.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let sent = Instant::now();
                target.fetch(&client, first + c + i * stride).await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(clients.len() * per_client);
    for handle in loops {
        latencies.extend(handle.await??);
    }
    Ok(Round {
        latencies,
        wall: started.elapsed(),
    })
}

/// One HTTP client per concurrent loop, so each keeps its own connection.
pub(crate) fn clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("a plain HTTP client builds")
        })
        .collect()
}
