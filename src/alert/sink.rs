//! Where alerts go: a webhook (generic JSON, or Slack's message format for a Slack hook) and an
//! SNS topic (e-mail subscriptions). Each send is bounded in time and retried a few times; a
//! sink that keeps failing is logged with the whole alert, and never touches report storage.

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

/// Attempts per alert and sink.
pub const ATTEMPTS: u32 = 3;
/// Time allowed for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `alert` to `sink`, retried; logs and returns `false` if every attempt failed.
pub async fn send(sink: &dyn Sink, alert: &Alert) -> bool {
    let mut backoff = Duration::from_millis(250);
    for attempt in 1..=ATTEMPTS {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, sink.send_once(alert)).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => tracing::warn!(sink = sink.name(), attempt, error = %e, "alert not sent"),
            Err(_) => tracing::warn!(sink = sink.name(), attempt, "alert send timed out"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    tracing::error!(
        sink = sink.name(),
        alert = %alert.json(),
        "alert not delivered after {ATTEMPTS} attempts"
    );
    false
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
