//! A webhook receiver on loopback: what alerts it was sent, and the status it answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

/// A webhook receiver: what it was sent, and the status it answers.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Value>>>,
}

pub async fn receiver(status: StatusCode) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, got }
}

/// A webhook receiver that answers `script` in order (a status, and a `Retry-After` when
/// given), then 200.
pub async fn scripted(script: Vec<(StatusCode, Option<&'static str>)>) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(VecDeque::from(script)));
    let sink = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = sink.clone();
            let answers = answers.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
                let (status, retry_after) = answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((StatusCode::OK, None));
                let mut response = axum::response::Response::new(axum::body::Body::empty());
                *response.status_mut() = status;
                if let Some(seconds) = retry_after {
                    response.headers_mut().insert(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from_static(seconds),
                    );
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, got }
}

impl Receiver {
    pub fn alerts(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` alerts arrived (or 15 s), then a little longer for any extra one.
    pub async fn settle(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.alerts().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The local store is looked at every second: two more looks find any extra alert.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        self.alerts()
    }
}
