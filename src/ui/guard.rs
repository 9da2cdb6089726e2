//! In front of every view: a request is answered only when it names a host the page serves
//! ([`Hosts`]) and no other site sent it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::hosts::Hosts;
use super::response::Refusal;
use super::routes::Dashboard;
use super::shell::shell_quote;

/// A request is answered only when each host it names (its `Host` header, HTTP/2's
/// `:authority`) is one the page serves ([`Hosts`]), else 421, and when no other site sent it
/// (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not the page's own), else 403. A page
/// on another site that points a name of its own at this machine (DNS rebinding) reads nothing
/// but the refusal.
pub(super) async fn only_own_hosts(
    State(ui): State<Arc<Dashboard>>,
    request: Request,
    next: Next,
) -> Response {
    let refused = refusal(&ui.hosts, request.uri(), request.headers());
    if let Some(refused) = refused {
        return refused.into_response();
    }
    next.run(request).await
}

/// Why [`only_own_hosts`] refuses a request, if it does.
fn refusal(hosts: &Hosts, uri: &Uri, headers: &HeaderMap) -> Option<Refusal> {
    let authority = uri.authority().map(|a| a.as_str().as_bytes());
    let named: Vec<&[u8]> = authority
        .into_iter()
        .chain(
            headers
                .get_all(header::HOST)
                .into_iter()
                .map(HeaderValue::as_bytes),
        )
        .collect();
    if named.is_empty() {
        return Some(misdirected(None));
    }
    for name in named {
        // The dashboard speaks plain HTTP: a host without a port is on port 80.
        if !std::str::from_utf8(name).is_ok_and(|n| hosts.admits(n, 80)) {
            return Some(misdirected(Some(&*String::from_utf8_lossy(name))));
        }
    }
    let cross_site = headers
        .get_all("sec-fetch-site")
        .into_iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return Some(Refusal(
            StatusCode::FORBIDDEN,
            "The dashboard does not answer requests that another site starts (Sec-Fetch-Site: cross-site): open it from the address bar or a bookmark.".to_owned(),
        ));
    }
    for origin in headers.get_all(header::ORIGIN) {
        if !origin.to_str().is_ok_and(|o| hosts.admits_origin(o)) {
            let origin = excerpt(&String::from_utf8_lossy(origin.as_bytes()));
            return Some(Refusal(
                StatusCode::FORBIDDEN,
                format!(
                    "The dashboard does not answer requests from {origin}, a page that is not its own. If it is, start lookout ui with --allowed-host NAME[:PORT] for that name."
                ),
            ));
        }
    }
    None
}

/// 421 for a request sent to a name the dashboard does not serve (`name`, as the request
/// gave it), saying which flag admits it.
fn misdirected(name: Option<&str>) -> Refusal {
    let message = match name {
        Some(name) => {
            let name = excerpt(name);
            format!(
                "The dashboard does not answer for the host {name}: a page on another site can point a name of its own at this machine. If you opened it by that name, start it with: lookout ui --allowed-host {}",
                shell_quote(&name)
            )
        }
        None => "The request names no host. The dashboard answers for its own address, localhost, 127.0.0.1 and [::1] on its port, and the names given with --allowed-host.".to_owned(),
    };
    Refusal(StatusCode::MISDIRECTED_REQUEST, message)
}

/// A value from a request as a refusal quotes it: its first 100 characters.
fn excerpt(value: &str) -> String {
    value.chars().take(100).collect()
}
