//! The webhook URL is a secret (whoever has it can post to the owner's channel), so the
//! deployed function reads it from an SSM SecureString once at cold start instead of holding
//! it in its environment, which `lambda:GetFunctionConfiguration` shows in plain text.

/// Why the webhook URL could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("reading the SSM parameter {name} failed")]
    Read {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the SSM parameter {0} holds no value")]
    Empty(String),
}

/// The decrypted value of the SSM parameter `name`.
pub async fn read_parameter(
    client: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<String, SecretError> {
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            name: name.to_owned(),
            source: Box::new(e),
        })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| SecretError::Empty(name.to_owned()))
}
