//! One call of a partner's postback URL and what its answer means for retrying.
//! Shared by the in-memory and the Postgres-backed dispatchers, so both classify
//! answers the same way.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::PostbackError;

const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// What one call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallOutcome {
    pub http_status: Option<u16>,
    /// `None` when delivered.
    pub error: Option<String>,
    /// Whether trying again could help.
    pub retry: bool,
}

impl CallOutcome {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }

    /// The `outcome` label of `switchyard_partner_postbacks_total`.
    pub fn label(&self) -> &'static str {
        match (&self.error, self.retry) {
            (None, _) => "delivered",
            (Some(_), true) => "failed",
            (Some(_), false) => "refused",
        }
    }

    fn failed(error: String, retry: bool) -> Self {
        Self {
            http_status: None,
            error: Some(error),
            retry,
        }
    }
}

/// HTTP and HTTPS, HTTP/1.1, the system's root certificates, rustls on ring.
pub(crate) fn http_client() -> Result<HttpClient, PostbackError> {
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

/// Network errors, timeouts, 5xx, 408 and 429 may pass on a later try; other
/// 4xx mean the partner refuses this URL and will keep refusing it. Redirects
/// are not followed: the partner received the call.
pub(super) async fn call(client: &HttpClient, url: &str, timeout: Duration) -> CallOutcome {
    let request = match hyper::Request::get(url)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .body(Empty::<Bytes>::new())
    {
        Ok(request) => request,
        Err(error) => return CallOutcome::failed(format!("invalid URL: {error}"), false),
    };
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) => {
            let status = response.status();
            if status.as_u16() < 400 {
                CallOutcome {
                    http_status: Some(status.as_u16()),
                    error: None,
                    retry: false,
                }
            } else {
                let retry = status.is_server_error()
                    || status == hyper::StatusCode::REQUEST_TIMEOUT
                    || status == hyper::StatusCode::TOO_MANY_REQUESTS;
                CallOutcome {
                    http_status: Some(status.as_u16()),
                    error: Some(format!("HTTP {status}")),
                    retry,
                }
            }
        }
        Ok(Err(error)) => {
            let mut text = format!("{error:#}");
            if let Some(source) = std::error::Error::source(&error) {
                text = format!("{text}: {source}");
            }
            // Error texts may quote anything: cut on a character boundary.
            let text = crate::columns::truncate_to(&text, 500).to_owned();
            CallOutcome::failed(text, true)
        }
        Err(_) => CallOutcome::failed(format!("no answer within {timeout:?}"), true),
    }
}
