//! The request every decode measurement uses: a site in the path and Chromium's User-Agent
//! header, at a fixed time. Shared by the decode benches and `examples/decode_loop.rs`.

use lookout::report::{RequestMeta, Timestamp};

/// What the transport would know about the measured request.
pub fn meta() -> RequestMeta<'static> {
    RequestMeta {
        site: Some("example.com"),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
        ),
        received_at: Timestamp(1_795_305_600_000),
        endpoint: None,
        policy_version: None,
    }
}
