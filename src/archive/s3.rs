//! The archive's writer on S3: a batch's objects put a few at a time, each call with the
//! SDK's standard retries.

use futures_util::{StreamExt, TryStreamExt};

use super::{ArchiveError, Object};

/// Objects put at once.
const PUTS_IN_FLIGHT: usize = 4;

/// An S3 bucket the archive writes to.
#[derive(Debug, Clone)]
pub struct S3Archive {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// What one batch wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Objects put.
    pub objects: usize,
    /// Reports in them.
    pub reports: usize,
    /// Compressed bytes.
    pub bytes: usize,
}

impl S3Archive {
    /// A writer to `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Puts every object; the first failure fails the whole write (the caller delivers the
    /// batch again, and its objects replace the ones already put).
    pub async fn write(&self, objects: Vec<Object>) -> Result<Written, ArchiveError> {
        futures_util::stream::iter(objects)
            .map(|o| self.put(o))
            .buffer_unordered(PUTS_IN_FLIGHT)
            .try_fold(Written::default(), |mut w, (reports, bytes)| async move {
                w.objects += 1;
                w.reports += reports;
                w.bytes += bytes;
                Ok(w)
            })
            .await
    }

    async fn put(&self, object: Object) -> Result<(usize, usize), ArchiveError> {
        let bytes = object.body.len();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type("application/x-ndjson")
            .body(object.body.into())
            .send()
            .await
            .map_err(|e| ArchiveError::Write {
                key: object.key.clone(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok((object.reports, bytes))
    }
}
