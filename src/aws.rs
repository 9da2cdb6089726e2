//! AWS clients, for every service Lookout calls: DynamoDB and its Streams (the store), SNS (an
//! alert sink), SSM (the webhook URL, a secret) and S3 (the archive). One HTTP stack (rustls
//! with ring), one retry and timeout policy for DynamoDB, and two ways to find credentials:
//! the environment's (the Lambda function) or the standard chain (a terminal, a test).
//!
//! Where a client points is an [`AwsEndpoint`]: AWS itself, or a local emulator (DynamoDB
//! Local, moto). Nothing here knows what the clients are for; `store`, `alert` and `archive`
//! are handed clients and never build one.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use thiserror::Error;

/// Where the AWS APIs are: AWS itself in the environment's region ([`AwsEndpoint::default`]),
/// or an endpoint and region given ([`AwsEndpoint::new`]). It builds the clients.
#[derive(Debug, Clone, Default)]
pub struct AwsEndpoint {
    /// A local endpoint (DynamoDB Local, moto) instead of AWS.
    endpoint_url: Option<String>,
    /// The region; from the environment (or, for [`AwsEndpoint::dynamodb`], the profile)
    /// when absent.
    region: Option<String>,
}

/// A client that cannot be built from the environment.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Neither the endpoint nor `AWS_REGION` names a region.
    #[error("no region: set AWS_REGION (Lambda sets it) or name an endpoint")]
    NoRegion,
}

/// A client of another AWS service found as [`AwsEndpoint::dynamodb_from_environment`] finds
/// DynamoDB's (same HTTP stack, region and credentials).
macro_rules! environment_client {
    ($(#[$doc:meta])* $name:ident, $sdk:ident) => {
        $(#[$doc])*
        pub fn $name(&self) -> Result<$sdk::Client, ClientError> {
            let mut builder = $sdk::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(self.environment_region()?))
                .http_client(https())
                .credentials_provider(self.environment_credentials());
            builder.set_endpoint_url(self.endpoint_url.clone());
            Ok($sdk::Client::from_conf(builder.build()))
        }
    };
}

impl AwsEndpoint {
    /// `endpoint_url` (an emulator) instead of AWS when given; `region` instead of the
    /// environment's (or the profile's) when given.
    pub fn new(endpoint_url: Option<String>, region: Option<String>) -> Self {
        Self {
            endpoint_url,
            region,
        }
    }

    /// A DynamoDB client for a terminal or a test: the standard credential chain
    /// (environment, profiles, SSO, `credential_process`, web identity, container and
    /// instance roles). For a local endpoint with no credentials in the environment, static
    /// dummy credentials and `us-east-1` are used, as local emulators expect.
    #[cfg(feature = "local")]
    pub async fn dynamodb(&self) -> Client {
        let shared = self.shared_config().await;
        Client::from_conf(policy(aws_sdk_dynamodb::config::Builder::from(&shared)).build())
    }

    /// A DynamoDB Streams client found the same way as [`AwsEndpoint::dynamodb`] (for the
    /// local reader of the table's stream).
    #[cfg(feature = "local")]
    pub async fn streams(&self) -> aws_sdk_dynamodbstreams::Client {
        let shared = self.shared_config().await;
        aws_sdk_dynamodbstreams::Client::new(&shared)
    }

    /// An SQS client found the same way (the queue of stream batches Lambda gave up on).
    #[cfg(feature = "local")]
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.shared_config().await)
    }

    #[cfg(feature = "local")]
    async fn shared_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https());
        if let Some(region) = self.region_or_local_default() {
            loader = loader.region(Region::new(region));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(local_credentials());
            }
        }
        loader.load().await
    }

    /// A DynamoDB client for the Lambda function: region and credentials from the
    /// environment, where Lambda puts the function role's credentials, and nowhere else. The
    /// bootstrap neither carries nor tries profile files, SSO, STS or instance metadata, which
    /// keeps it small and its cold start short.
    pub fn dynamodb_from_environment(&self) -> Result<Client, ClientError> {
        let mut builder = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.environment_region()?))
            .http_client(https())
            .credentials_provider(self.environment_credentials());
        builder.set_endpoint_url(self.endpoint_url.clone());
        Ok(Client::from_conf(policy(builder).build()))
    }

    environment_client!(
        /// An SNS client (alerts by e-mail).
        sns_from_environment,
        aws_sdk_sns
    );

    environment_client!(
        /// An SSM client (the webhook URL, a secret, at cold start).
        ssm_from_environment,
        aws_sdk_ssm
    );

    /// An S3 client found as [`AwsEndpoint::dynamodb_from_environment`] finds DynamoDB's; a
    /// local endpoint (moto) is addressed by path, as emulators expect.
    pub fn s3_from_environment(&self) -> Result<aws_sdk_s3::Client, ClientError> {
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.environment_region()?))
            .http_client(https())
            .credentials_provider(self.environment_credentials())
            .force_path_style(self.endpoint_url.is_some());
        builder.set_endpoint_url(self.endpoint_url.clone());
        Ok(aws_sdk_s3::Client::from_conf(builder.build()))
    }

    /// The region for a client built from the environment.
    fn environment_region(&self) -> Result<String, ClientError> {
        self.region_or_local_default()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .ok_or(ClientError::NoRegion)
    }

    /// The environment's credentials (Lambda's role), or dummy ones for a local endpoint.
    fn environment_credentials(&self) -> SharedCredentialsProvider {
        if self.endpoint_url.is_some() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            SharedCredentialsProvider::new(local_credentials())
        } else {
            SharedCredentialsProvider::new(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
        }
    }

    fn region_or_local_default(&self) -> Option<String> {
        self.region.clone().or_else(|| {
            (self.endpoint_url.is_some()
                && std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none())
            .then(|| "us-east-1".to_owned())
        })
    }
}

/// HTTPS with rustls on ring: the SDK's default stack uses aws-lc, which is much larger in
/// the Lambda artifact for the same TLS 1.3 connections.
fn https() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Standard retries (3 attempts), bounded timeouts.
fn policy(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    builder
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
}

fn local_credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "lookout-local")
}
