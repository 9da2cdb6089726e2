//! Configuration shared by `lookout serve` (flags) and the Lambda function (environment):
//! each flag also reads the environment variable named beside it.

use std::sync::Arc;

use thiserror::Error;

use crate::alert::rules::SpikeRule;
use crate::alert::sink::{Sink, Sns, Webhook};
use crate::aws::AwsEndpoint;
use crate::report::{InvalidPattern, InvalidSite, NoiseFilter, Options, SiteList, SizeLimits};

/// A configuration value that does not parse.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A bad allowed site.
    #[error("LOOKOUT_ALLOWED_SITES / --allowed-sites: {0}")]
    Site(#[from] InvalidSite),
    /// A bad ignore pattern.
    #[error("LOOKOUT_IGNORE / --ignore: {0}")]
    Pattern(#[from] InvalidPattern),
    /// A limit of zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// A bad sample rate.
    #[error("LOOKOUT_SAMPLE / --sample: {0:?} is not TYPE=RATE with RATE from 0 to 1")]
    Sample(String),
    /// No site chosen where a choice is required (the deployed function): `*` allows any.
    #[error(
        "LOOKOUT_ALLOWED_SITES is empty: name the sites to collect for, or `*` to collect for any site"
    )]
    NoSitesChosen,
    /// An AWS client cannot be built.
    #[error(transparent)]
    Client(#[from] crate::aws::ClientError),
    /// An alert sink cannot be made (a bad webhook URL).
    #[error(transparent)]
    Sink(#[from] crate::alert::sink::SinkError),
    /// The webhook URL cannot be read from its SSM parameter.
    #[error(transparent)]
    Secret(#[from] crate::alert::secret::SecretError),
}

/// What is accepted and kept.
#[derive(Debug, Clone, clap::Args)]
pub struct CollectArgs {
    /// Sites to accept reports for, comma-separated (subdomains included); `*` or empty: any
    /// site (the deployed function requires a value).
    #[arg(long, env = "LOOKOUT_ALLOWED_SITES", value_delimiter = ',')]
    pub allowed_sites: Vec<String>,
    /// Treat reports whose URL is not on the site named in the path (or a subdomain) as noise.
    #[arg(long, env = "LOOKOUT_STRICT_SITE")]
    pub strict_site: bool,
    /// Keep query strings and fragments in URLs (stripped by default: they may hold secrets).
    #[arg(long, env = "LOOKOUT_KEEP_QUERY")]
    pub keep_query: bool,
    /// Turn off the default noise list (browser extensions, injected adware).
    #[arg(long, env = "LOOKOUT_NO_DEFAULT_NOISE")]
    pub no_default_noise: bool,
    /// More sources to ignore, comma-separated: `scheme://host:port`, `*.example.com`, `host`.
    #[arg(long = "ignore", env = "LOOKOUT_IGNORE", value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Treat reports from in-app browsers (Facebook, Instagram, LINE: by their User-Agent) as
    /// noise.
    #[arg(long, env = "LOOKOUT_IGNORE_IN_APP_BROWSERS")]
    pub ignore_in_app_browsers: bool,
    /// Treat reports about pages seen through Google Translate's proxy (`*.translate.goog`)
    /// as noise.
    #[arg(long, env = "LOOKOUT_IGNORE_TRANSLATE_PROXIES")]
    pub ignore_translate_proxies: bool,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "LOOKOUT_MAX_BODY_BYTES", default_value_t = crate::report::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// The most reports accepted in one request.
    #[arg(long, env = "LOOKOUT_MAX_REPORTS", default_value_t = crate::report::DEFAULT_MAX_REPORTS)]
    pub max_reports: usize,
    /// The longest string kept in a report body, in bytes (longer ones are cut and marked).
    #[arg(long, env = "LOOKOUT_MAX_FIELD_BYTES", default_value_t = crate::report::privacy::DEFAULT_MAX_STRING_BYTES)]
    pub max_field_bytes: usize,
    /// Keep only a share of some types, comma-separated `TYPE=RATE` (`network-error=0.1`).
    #[arg(long, env = "LOOKOUT_SAMPLE", value_delimiter = ',')]
    pub sample: Vec<String>,
    /// Most reports stored per site per minute (per process); 0: no cap.
    #[arg(long, env = "LOOKOUT_SITE_CAP_PER_MINUTE", default_value_t = 0)]
    pub site_cap_per_minute: u64,
    /// Most reports stored per minute in all (per process); 0: no cap.
    #[arg(long, env = "LOOKOUT_GLOBAL_CAP_PER_MINUTE", default_value_t = 0)]
    pub global_cap_per_minute: u64,
    /// Bytes of recovery lines (unstored reports, logged whole) per minute, per process; past
    /// it, unstored reports are answered 503 and counted without a line each.
    #[arg(long, env = "LOOKOUT_RECOVERY_LOG_BYTES_PER_MINUTE", default_value_t = crate::limits::DEFAULT_RECOVERY_BYTES_PER_MINUTE)]
    pub recovery_log_bytes_per_minute: u64,
}

impl Default for CollectArgs {
    fn default() -> Self {
        let o = Options::default();
        Self {
            allowed_sites: Vec::new(),
            strict_site: false,
            keep_query: false,
            no_default_noise: false,
            ignore: Vec::new(),
            ignore_in_app_browsers: o.ignore_in_app_browsers,
            ignore_translate_proxies: o.ignore_translate_proxies,
            max_body_bytes: o.max_body_bytes,
            max_reports: o.max_reports,
            max_field_bytes: o.size.max_string_bytes,
            sample: Vec::new(),
            site_cap_per_minute: 0,
            global_cap_per_minute: 0,
            recovery_log_bytes_per_minute: crate::limits::DEFAULT_RECOVERY_BYTES_PER_MINUTE,
        }
    }
}

impl CollectArgs {
    /// Validates the arguments into decoding options.
    pub fn options(&self) -> Result<Options, ConfigError> {
        let non_empty = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        for (value, name) in [
            (self.max_body_bytes, "max body bytes"),
            (self.max_reports, "max reports"),
            (self.max_field_bytes, "max field bytes"),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        let mut sample_rates = std::collections::BTreeMap::new();
        for entry in non_empty(&self.sample) {
            let parsed = entry.split_once('=').and_then(|(t, r)| {
                let rate: f64 = r.trim().parse().ok()?;
                let t = crate::report::ReportType::from_name(t.trim())?;
                (0.0..=1.0)
                    .contains(&rate)
                    .then(|| (t.as_str().to_owned(), rate))
            });
            let (t, rate) = parsed.ok_or_else(|| ConfigError::Sample(entry.clone()))?;
            sample_rates.insert(t, rate);
        }
        Ok(Options {
            strip_query: !self.keep_query,
            noise: NoiseFilter::new(!self.no_default_noise, &non_empty(&self.ignore))?,
            allowed_sites: self.site_list()?,
            strict_site: self.strict_site,
            max_body_bytes: self.max_body_bytes,
            max_reports: self.max_reports,
            size: SizeLimits {
                max_string_bytes: self.max_field_bytes,
                ..SizeLimits::default()
            },
            sample_rates,
            ignore_in_app_browsers: self.ignore_in_app_browsers,
            ignore_translate_proxies: self.ignore_translate_proxies,
        })
    }

    /// The allowed sites: `*` anywhere in the list allows any site, as an empty list does.
    fn site_list(&self) -> Result<SiteList, ConfigError> {
        let sites: Vec<&str> = self
            .allowed_sites
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if sites.contains(&"*") {
            return Ok(SiteList::default());
        }
        Ok(SiteList::new(sites)?)
    }

    /// Fails unless the allowed sites were chosen: a list of sites, or `*` for any.
    pub fn require_site_choice(&self) -> Result<(), ConfigError> {
        if self.allowed_sites.iter().all(|s| s.trim().is_empty()) {
            return Err(ConfigError::NoSitesChosen);
        }
        Ok(())
    }

    /// The per-minute budgets: reports stored (per site and in all), and bytes of recovery
    /// lines.
    pub fn budget(&self) -> crate::limits::Budget {
        crate::limits::Budget::new(self.site_cap_per_minute, self.global_cap_per_minute)
            .with_recovery_bytes_per_minute(self.recovery_log_bytes_per_minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sites(sites: &[&str]) -> CollectArgs {
        CollectArgs {
            allowed_sites: sites.iter().map(|s| s.to_string()).collect(),
            ..CollectArgs::default()
        }
    }

    #[test]
    fn a_star_allows_any_site_and_a_list_only_its_own() {
        let any = with_sites(&["*"]).options().unwrap();
        assert!(any.allowed_sites.allows("anything.example"));
        let listed = with_sites(&["example.com", " shop.example.org "])
            .options()
            .unwrap();
        assert!(listed.allowed_sites.allows("www.example.com"));
        assert!(listed.allowed_sites.allows("shop.example.org"));
        assert!(!listed.allowed_sites.allows("example.org"));
    }

    #[test]
    fn the_optional_noise_lists_are_off_until_asked_for() {
        let default = CollectArgs::default().options().unwrap();
        assert!(!default.ignore_in_app_browsers && !default.ignore_translate_proxies);
        let on = CollectArgs {
            ignore_in_app_browsers: true,
            ignore_translate_proxies: true,
            ..CollectArgs::default()
        }
        .options()
        .unwrap();
        assert!(on.ignore_in_app_browsers && on.ignore_translate_proxies);
    }

    #[test]
    fn the_deployed_function_requires_a_choice_of_sites() {
        for unchosen in [&[][..], &[""], &[" ", ""]] {
            assert!(matches!(
                with_sites(unchosen).require_site_choice(),
                Err(ConfigError::NoSitesChosen)
            ));
        }
        assert!(with_sites(&["*"]).require_site_choice().is_ok());
        assert!(with_sites(&["example.com"]).require_site_choice().is_ok());
    }
}

/// Where alerts go and when a count is a spike; alerts are off when no sink is set.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertArgs {
    /// Send alerts to this webhook (JSON; a Slack message for a hooks.slack.com URL).
    #[arg(long, env = "LOOKOUT_ALERT_WEBHOOK")]
    pub alert_webhook: Option<String>,
    /// Read the webhook URL from this SSM SecureString parameter at start (how the deployed
    /// function gets it: the URL is a secret, kept out of its environment).
    #[arg(long, env = "LOOKOUT_ALERT_WEBHOOK_PARAMETER")]
    pub alert_webhook_parameter: Option<String>,
    /// Publish alerts to this SNS topic (e-mail subscriptions).
    #[arg(long, env = "LOOKOUT_ALERT_TOPIC_ARN")]
    pub alert_topic_arn: Option<String>,
    /// A spike is an hour's count over this many times the previous day's hourly average.
    #[arg(long, env = "LOOKOUT_SPIKE_FACTOR", default_value_t = SpikeRule::default().factor)]
    pub spike_factor: f64,
    /// ... and at least this many reports in the hour.
    #[arg(long, env = "LOOKOUT_SPIKE_MIN_REPORTS", default_value_t = SpikeRule::default().min_reports)]
    pub spike_min_reports: u64,
    /// A script content (a `csp-hash` report's URL and hash) raises an alert once this many
    /// distinct visitors (senders' networks) reported it: what a forger on one network cannot
    /// reach.
    #[arg(long, env = "LOOKOUT_SCRIPT_MIN_VISITORS", default_value_t = crate::alert::scripts::SCRIPT_MIN_VISITORS)]
    pub script_min_visitors: u64,
}

impl AlertArgs {
    /// The spike rule.
    pub fn rule(&self) -> SpikeRule {
        SpikeRule {
            factor: self.spike_factor,
            min_reports: self.spike_min_reports,
        }
    }

    /// The sinks these settings name, in this order: the webhook given, the webhook whose URL
    /// its SSM parameter holds (read now), the SNS topic. None: alerts are off. The one place
    /// sinks are made, for the function and `lookout serve`: a new sink is a flag above and a
    /// line here.
    pub async fn sinks(&self) -> Result<Vec<Arc<dyn Sink>>, ConfigError> {
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        if let Some(w) = self.webhook()? {
            sinks.push(Arc::new(w));
        }
        if let Some(name) = self.webhook_parameter() {
            let client = AwsEndpoint::default().ssm_from_environment()?;
            let url = crate::alert::secret::read_parameter(&client, name).await?;
            sinks.push(Arc::new(Webhook::new(&url)?));
        }
        if let Some(topic) = self.topic() {
            let client = AwsEndpoint::default().sns_from_environment()?;
            sinks.push(Arc::new(Sns {
                client,
                topic_arn: topic.to_owned(),
            }));
        }
        Ok(sinks)
    }

    /// The webhook sink, if one is set (an empty value is none, as the template passes it).
    pub fn webhook(&self) -> Result<Option<Webhook>, crate::alert::sink::SinkError> {
        match self.alert_webhook.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(url) => Webhook::new(url).map(Some),
        }
    }

    /// The SSM parameter holding the webhook URL, if one is named.
    pub fn webhook_parameter(&self) -> Option<&str> {
        self.alert_webhook_parameter
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The SNS topic, if one is set.
    pub fn topic(&self) -> Option<&str> {
        self.alert_topic_arn
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// A DynamoDB table and where DynamoDB answers: the flags (each with its variable) of every
/// command that reads or writes a table.
#[derive(Debug, Clone, clap::Args)]
pub struct DynamoArgs {
    /// Use this DynamoDB table instead of the embedded store.
    #[arg(long, env = "LOOKOUT_TABLE")]
    pub table: Option<String>,
    /// DynamoDB endpoint (DynamoDB Local, moto); AWS when absent.
    #[arg(long, env = "LOOKOUT_ENDPOINT_URL", requires = "table")]
    pub endpoint_url: Option<String>,
    /// AWS region; from the environment or profile when absent.
    #[arg(long, requires = "table")]
    pub region: Option<String>,
}

impl DynamoArgs {
    /// Where the table's AWS APIs are.
    pub fn endpoint(&self) -> AwsEndpoint {
        AwsEndpoint::new(self.endpoint_url.clone(), self.region.clone())
    }
}

/// How reports are kept in a DynamoDB table: the same for the function and the command line
/// (both must agree, or reads miss shards).
#[derive(Debug, Clone, clap::Args)]
pub struct TableArgs {
    /// Write shards per site and type (must match the deployed function's).
    #[arg(long, env = "LOOKOUT_WRITE_SHARDS", default_value_t = crate::store::dynamodb::DEFAULT_WRITE_SHARDS)]
    pub write_shards: u16,
    /// Days a report is kept: the table's TTL on DynamoDB; `lookout serve` removes older
    /// reports from the embedded store in small steps.
    #[arg(long, env = "LOOKOUT_RETENTION_DAYS", default_value_t = crate::store::dynamodb::DEFAULT_RETENTION_DAYS)]
    pub retention_days: u32,
}

impl TableArgs {
    /// The store's settings for `table`.
    pub fn settings(&self, table: &str) -> crate::store::dynamodb::DynamoSettings {
        let mut settings = crate::store::dynamodb::DynamoSettings::new(table);
        settings.shards = self.write_shards.max(1);
        settings.retention_days = self.retention_days.max(1);
        settings
    }
}
