//! Who sent a request, as far as the endpoint can tell without trusting the request: the
//! address API Gateway saw (`requestContext.http.sourceIp`), or the socket's peer locally, or
//! a forwarded address only when the peer is a proxy the owner named. Turned at once into a
//! visitor byte under the day's key (see `report::visitor`); the address itself is not kept.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use lambda_http::request::RequestContext;

use crate::report::visitor::DayKey;
use crate::store::ReportStore;

/// The visitor bytes of senders, with the day's key cached.
#[derive(Debug, Default)]
pub struct Senders {
    /// Proxies whose `X-Forwarded-For` is believed (the local server behind the owner's proxy).
    trusted_proxies: Vec<IpAddr>,
    /// The current day and its key.
    key: Mutex<Option<(String, DayKey)>>,
}

impl Senders {
    /// Senders read through the named proxies.
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            trusted_proxies,
            key: Mutex::new(None),
        }
    }

    /// The sender's address: API Gateway's source address, else the socket's peer; through a
    /// trusted proxy, the last `X-Forwarded-For` address that is not one of the proxies.
    pub fn address(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        if let Some(RequestContext::ApiGatewayV2(ctx)) = extensions.get::<RequestContext>() {
            return ctx.http.source_ip.as_deref()?.parse().ok();
        }
        let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        // Read from the right: each proxy appends the address it saw; the first one that is not
        // a trusted proxy is the client as far as the owner's proxies can tell.
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|a| !self.trusted_proxies.contains(a))
                .unwrap_or(peer),
        )
    }

    /// The visitor byte of `address` on `day`; `None` when the store cannot give the day's key
    /// (logged: the reports are stored all the same, without a visitor).
    pub async fn visitor(
        &self,
        store: &dyn ReportStore,
        day: String,
        address: IpAddr,
    ) -> Option<u8> {
        let cached = {
            let key = self.key.lock().unwrap_or_else(|p| p.into_inner());
            key.as_ref()
                .filter(|(d, _)| *d == day)
                .map(|(_, k)| k.clone())
        };
        let key = match cached {
            Some(k) => k,
            None => match store.day_key(&day).await {
                Ok(k) => {
                    *self.key.lock().unwrap_or_else(|p| p.into_inner()) = Some((day, k.clone()));
                    k
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no visitor key for the day: reports stored without a visitor");
                    return None;
                }
            },
        };
        Some(key.visitor(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 4000)));
        e
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_named_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let open = Senders::default();
        assert_eq!(
            open.address(&peer("192.0.2.1"), &headers),
            Some("192.0.2.1".parse().unwrap()),
            "no proxy named: the header is the sender's to write"
        );
        let behind = Senders::new(vec!["192.0.2.1".parse().unwrap()]);
        assert_eq!(
            behind.address(&peer("192.0.2.1"), &headers),
            Some("198.51.100.7".parse().unwrap()),
            "the address the owner's proxy saw, not what the client prepended"
        );
        assert_eq!(
            behind.address(&peer("192.0.2.50"), &headers),
            Some("192.0.2.50".parse().unwrap())
        );
        assert_eq!(open.address(&Extensions::new(), &headers), None);
    }
}
