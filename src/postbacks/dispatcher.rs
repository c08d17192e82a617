//! Calls partners' postback URLs off the request path: a bounded queue, a
//! dispatcher task, one delivery task per conversion retrying with exponential
//! backoff, and a limit on concurrent HTTP calls. Every attempt is recorded
//! through the event writer (`partner_postback_attempts`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::events::{Event, EventSender, PostbackAttemptRecord, new_event_id};

const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy)]
pub struct PostbackSettings {
    /// Conversions waiting for their first attempt.
    pub queue_capacity: usize,
    /// Attempts per conversion, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Bound on one HTTP call, connecting included.
    pub timeout: Duration,
    /// HTTP calls in flight at once.
    pub concurrency: usize,
    /// Deliveries (including those waiting to retry) held at once.
    pub max_in_flight: usize,
}

impl Default for PostbackSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            max_attempts: 5,
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
            concurrency: 32,
            max_in_flight: 10_000,
        }
    }
}

/// One partner notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostbackJob {
    pub conversion_id: String,
    pub partner_id: i64,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PostbackError {
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The request path's end of the queue.
#[derive(Debug, Clone)]
pub struct PostbackQueue {
    tx: mpsc::Sender<PostbackJob>,
}

impl PostbackQueue {
    /// Never waits: a full queue hands the job back so the caller can record it.
    pub fn enqueue(&self, job: PostbackJob) -> Result<(), PostbackJob> {
        self.tx.try_send(job).map_err(|e| {
            metrics::counter!("switchyard_partner_postbacks_dropped_total").increment(1);
            match e {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            }
        })
    }
}

/// Starts the dispatcher. It stops at shutdown, abandoning retries not yet due
/// (see docs/CONVERSIONS.md).
pub fn spawn_dispatcher(
    settings: PostbackSettings,
    events: EventSender,
    shutdown: watch::Receiver<bool>,
) -> Result<(PostbackQueue, JoinHandle<()>), PostbackError> {
    let client = http_client()?;
    let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
    let task = tokio::spawn(dispatch(rx, client, settings, events, shutdown));
    Ok((PostbackQueue { tx }, task))
}

/// HTTP and HTTPS, HTTP/1.1, the system's root certificates, rustls on ring.
fn http_client() -> Result<HttpClient, PostbackError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(error) => {
            // Plain-HTTP postbacks still work; https ones fail and are recorded.
            tracing::warn!(%error, "no system root certificates (install ca-certificates): https partner postbacks will fail");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

async fn dispatch(
    mut rx: mpsc::Receiver<PostbackJob>,
    client: HttpClient,
    settings: PostbackSettings,
    events: EventSender,
    mut shutdown: watch::Receiver<bool>,
) {
    let calls = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut deliveries = JoinSet::new();
    loop {
        let room = deliveries.len() < settings.max_in_flight;
        tokio::select! {
            job = rx.recv(), if room => match job {
                Some(job) => {
                    let delivery = Delivery {
                        client: client.clone(),
                        settings,
                        events: events.clone(),
                        calls: calls.clone(),
                    };
                    deliveries.spawn(delivery.run(job));
                }
                None => break,
            },
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => break,
        }
    }
    if !deliveries.is_empty() {
        tracing::warn!(
            deliveries = deliveries.len(),
            "stopping with partner postbacks not yet delivered"
        );
    }
    deliveries.shutdown().await;
}

struct Delivery {
    client: HttpClient,
    settings: PostbackSettings,
    events: EventSender,
    calls: Arc<Semaphore>,
}

impl Delivery {
    async fn run(self, job: PostbackJob) {
        let attempts = self.settings.max_attempts.max(1);
        for attempt in 1..=attempts {
            let (http_status, error, retry) = self.call(&job.url).await;
            let outcome = match (&error, retry) {
                (None, _) => "delivered",
                (Some(_), true) => "failed",
                (Some(_), false) => "refused",
            };
            metrics::counter!("switchyard_partner_postbacks_total", "outcome" => outcome)
                .increment(1);
            self.events
                .send(Event::PostbackAttempt(PostbackAttemptRecord {
                    attempt_id: new_event_id(),
                    conversion_id: job.conversion_id.clone(),
                    partner_id: job.partner_id,
                    attempt,
                    attempted_at: Utc::now(),
                    url: job.url.clone(),
                    http_status,
                    error: error.clone(),
                }))
                .await;
            if error.is_none() || !retry {
                return;
            }
            if attempt < attempts {
                tokio::time::sleep(self.delay_after(attempt)).await;
            }
        }
        tracing::warn!(conversion.id = %job.conversion_id, partner.id = job.partner_id, attempts, "partner postback failed on every attempt");
    }

    /// The status (if any), the error (if failed), and whether trying again
    /// could help: network errors, timeouts, 5xx, 408 and 429 can; other 4xx
    /// mean the partner refuses this URL and will keep refusing it. Redirects
    /// are not followed: the partner received the call.
    async fn call(&self, url: &str) -> (Option<u16>, Option<String>, bool) {
        let Ok(_permit) = self.calls.acquire().await else {
            return (None, Some("shutting down".to_owned()), false);
        };
        let request = match hyper::Request::get(url)
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .body(Empty::<Bytes>::new())
        {
            Ok(request) => request,
            Err(error) => return (None, Some(format!("invalid URL: {error}")), false),
        };
        match tokio::time::timeout(self.settings.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => {
                let status = response.status();
                if status.as_u16() < 400 {
                    (Some(status.as_u16()), None, false)
                } else {
                    let retry = status.is_server_error()
                        || status == hyper::StatusCode::REQUEST_TIMEOUT
                        || status == hyper::StatusCode::TOO_MANY_REQUESTS;
                    (Some(status.as_u16()), Some(format!("HTTP {status}")), retry)
                }
            }
            Ok(Err(error)) => {
                let mut text = format!("{error:#}");
                if let Some(source) = std::error::Error::source(&error) {
                    text = format!("{text}: {source}");
                }
                // Cut on a character boundary: `String::truncate` panics inside one.
                let text = crate::columns::truncate_to(&text, 500).to_owned();
                (None, Some(text), true)
            }
            Err(_) => (
                None,
                Some(format!("no answer within {:?}", self.settings.timeout)),
                true,
            ),
        }
    }

    fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.settings
            .first_retry
            .saturating_mul(factor)
            .min(self.settings.max_retry)
    }
}
