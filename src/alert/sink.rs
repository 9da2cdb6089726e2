//! Where alerts go: a webhook (generic JSON, or Slack's message format for a Slack hook) and an
//! SNS topic (e-mail subscriptions). Each send is bounded in time. A server error or a broken
//! connection is tried again at once a few times; a 429 (with its `Retry-After`) or a timeout
//! is not: the alert stays in the outbox (see [`super::engine`]) and a later batch sends it.
//! A sink never touches report storage.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::message::Alert;

/// A failed send.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The URL is not an http(s) URL with a host (not repeated here: a hook URL is a secret).
    #[error("invalid webhook URL: it must be http:// or https:// with a host")]
    Url,
    /// The request could not be built.
    #[error("the webhook request could not be built: {0}")]
    Request(#[source] hyper::http::Error),
    /// The webhook answered with this status.
    #[error("the webhook answered {0}")]
    Status(u16),
    /// The webhook answered 429 (too many requests), and how long it asked to wait, if it said
    /// (`Retry-After` in seconds).
    #[error("the webhook answered 429 (too many requests)")]
    TooManyRequests { retry_after: Option<Duration> },
    /// The webhook did not answer in time.
    #[error("the webhook did not answer within {0:?}")]
    Timeout(Duration),
    /// The webhook could not be reached (connection, TLS, or the TLS set-up itself).
    #[error("the webhook could not be reached: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// SNS refused or could not be reached.
    #[error("SNS: {}", aws_sdk_sns::error::DisplayErrorContext(&**.0))]
    Sns(#[source] Box<aws_sdk_sns::error::SdkError<aws_sdk_sns::operation::publish::PublishError>>),
}

/// Something alerts are sent to.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Sends one alert once.
    async fn send_once(&self, alert: &Alert) -> Result<(), SinkError>;

    /// A name for logs.
    fn name(&self) -> &'static str;
}

/// Attempts per alert and sink within one send (a server error or a broken connection).
pub const ATTEMPTS: u32 = 3;
/// Time allowed for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of one alert at one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The sink took it.
    Sent,
    /// It did not; the sink asked to wait this long before the next try, if it said.
    Failed { retry_after: Option<Duration> },
}

/// Sends `alert` to `sink` within `within`: tried again at once after a server error or a
/// broken connection (up to [`ATTEMPTS`] times), not after a 429 or a timeout. Failures are
/// logged without the alert (it stays in the outbox).
pub async fn send(sink: &dyn Sink, alert: &Alert, within: Duration) -> Delivery {
    let deadline = tokio::time::Instant::now() + within;
    let mut backoff = Duration::from_millis(250);
    for attempt in 1..=ATTEMPTS {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let limit = ATTEMPT_TIMEOUT.min(left);
        match tokio::time::timeout(limit, sink.send_once(alert)).await {
            Ok(Ok(())) => return Delivery::Sent,
            Ok(Err(SinkError::TooManyRequests { retry_after })) => {
                tracing::warn!(
                    sink = sink.name(),
                    attempt,
                    ?retry_after,
                    "alert not sent: too many requests"
                );
                return Delivery::Failed { retry_after };
            }
            Ok(Err(e @ SinkError::Status(400..=499))) => {
                tracing::warn!(sink = sink.name(), attempt, error = %e, "alert not sent");
                return Delivery::Failed { retry_after: None };
            }
            Ok(Err(e)) => tracing::warn!(sink = sink.name(), attempt, error = %e, "alert not sent"),
            Err(_) => {
                tracing::warn!(sink = sink.name(), attempt, timeout = ?limit, "alert send timed out");
                return Delivery::Failed { retry_after: None };
            }
        }
        if attempt < ATTEMPTS {
            let pause =
                backoff.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            tokio::time::sleep(pause).await;
            backoff *= 2;
        }
    }
    Delivery::Failed { retry_after: None }
}

/// A `Retry-After` of delta-seconds (an HTTP date is not read: the caller backs off instead).
fn retry_after(headers: &hyper::HeaderMap) -> Option<Duration> {
    let value = headers.get(hyper::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A webhook: a POST of the alert's JSON, or of a Slack message when the URL is a Slack hook.
pub struct Webhook {
    url: hyper::Uri,
    slack: bool,
    client: Client<Https, Full<Bytes>>,
}

impl Webhook {
    /// A webhook at `url` (http or https).
    pub fn new(url: &str) -> Result<Self, SinkError> {
        let uri: hyper::Uri = url.parse().map_err(|_| SinkError::Url)?;
        let host = uri.host().ok_or(SinkError::Url)?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(SinkError::Url);
        }
        let slack = host.eq_ignore_ascii_case("hooks.slack.com");
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| SinkError::Transport(e.into()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            url: uri,
            slack,
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends Slack's message format (`true`) or the generic JSON, whatever the host: for a
    /// Slack-compatible hook elsewhere (and tests).
    pub fn with_slack_format(mut self, slack: bool) -> Self {
        self.slack = slack;
        self
    }
}

#[async_trait]
impl Sink for Webhook {
    async fn send_once(&self, alert: &Alert) -> Result<(), SinkError> {
        let body = if self.slack {
            alert.slack()
        } else {
            alert.json()
        };
        let request = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(SinkError::Request)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| SinkError::Transport(e.into()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status == hyper::StatusCode::TOO_MANY_REQUESTS {
            Err(SinkError::TooManyRequests {
                retry_after: retry_after(response.headers()),
            })
        } else {
            Err(SinkError::Status(status.as_u16()))
        }
    }

    fn name(&self) -> &'static str {
        if self.slack { "slack" } else { "webhook" }
    }
}

/// An SNS topic: the alert as an e-mail's subject and text.
pub struct Sns {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

#[async_trait]
impl Sink for Sns {
    async fn send_once(&self, alert: &Alert) -> Result<(), SinkError> {
        let (subject, text) = alert.email();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(text)
            .send()
            .await
            .map_err(|e| SinkError::Sns(Box::new(e)))?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "sns"
    }
}
