//! The HTTP exchange of a check: one request, a bounded body. The caller's
//! `guard` puts the timeout around all of it.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};

use super::verdict::CheckFailure;
use crate::postbacks::client::HttpClient;

/// Providers' answers are a few hundred bytes; anything much longer is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;

const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

/// The status and body of `method url`. Server errors are `Unavailable`; the
/// caller judges everything else.
pub async fn fetch(
    client: &HttpClient,
    method: hyper::Method,
    url: &str,
) -> Result<(u16, Bytes), CheckFailure> {
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .body(Empty::<Bytes>::new())
        .map_err(|_| CheckFailure::BadAnswer)?;
    let response = client
        .request(request)
        .await
        .map_err(|_| CheckFailure::Unavailable)?;
    let status = response.status().as_u16();
    if response.status().is_server_error() {
        return Err(CheckFailure::Unavailable);
    }
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| CheckFailure::BadAnswer)?
        .to_bytes();
    Ok((status, body))
}
