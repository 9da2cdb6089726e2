//! The Lambda function: configuration, DynamoDB client and logging once per cold start, then
//! the same HTTP app as `lookout serve`, behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lookout::lambda::run().await
}
