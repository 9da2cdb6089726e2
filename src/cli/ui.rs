//! `lookout ui`: the dashboard ([`crate::ui`]), a read-only web page over either store (and
//! the alert state beside it, for the scripts' authorizations), on loopback. This file holds
//! its flags and starts it; the views are `ui::routes`.

use std::net::SocketAddr;
use std::time::Duration;

use super::CliResult as Result;
use super::StoreArgs;
use super::serve::{ConnectionLimits, start_with};
use crate::ui::hosts::{AllowedHost, Hosts};
use crate::ui::shell::shell_quote;
use crate::ui::{Dashboard, router};

/// Arguments of `lookout ui`.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Address to listen on (loopback unless you mean to share the page).
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
    /// The site shown first.
    #[arg(long, default_value = "")]
    site: String,
    /// Your policy, as your site sends it: the policy page's suggestion starts from it (never
    /// from a policy a report carries: anyone can send a report).
    #[arg(long)]
    policy: Option<String>,
    /// Another name the page answers for, as the address bar has it: `NAME` (on any port) or
    /// `NAME:PORT`; repeatable. Without it the page answers only for its own address, and
    /// `localhost`, `127.0.0.1` and `[::1]` on its port: a page on another site cannot read it
    /// by pointing a name of its own at this machine (DNS rebinding).
    #[arg(long = "allowed-host", value_name = "NAME[:PORT]", value_parser = AllowedHost::parse)]
    allowed_hosts: Vec<AllowedHost>,
    #[command(flatten)]
    store: StoreArgs,
}

/// The dashboard's connections, served as `lookout serve` serves its own (`serve::start_with`:
/// a connection limit, hyper's header-read timeout, an idle timeout on reads and writes): few
/// connections, since one person reads the page, and an idle minute, since a view over a large
/// table may read for a while before it writes a byte (the idle timeout runs meanwhile).
const LIMITS: ConnectionLimits = ConnectionLimits {
    max_connections: 64,
    idle: Duration::from_secs(60),
    ..ConnectionLimits::DEFAULT
};

/// Runs `lookout ui` until interrupted.
pub async fn run(args: UiArgs) -> Result<()> {
    let store = args.store.open_for_reading().await?;
    let mut store_args = String::new();
    if let Some(t) = &args.store.dynamodb.table {
        store_args.push_str(&format!(" --table {}", shell_quote(t)));
        if let Some(url) = &args.store.dynamodb.endpoint_url {
            store_args.push_str(&format!(" --endpoint-url {}", shell_quote(url)));
        }
    } else if args.store.data.as_os_str() != super::DEFAULT_DATA {
        let data = args.store.data.to_string_lossy();
        store_args.push_str(&format!(" --data {}", shell_quote(&data)));
    }
    // The scripts view reads authorizations from it (never writes); without it, the view
    // shows the scripts without their authorizations.
    let alert_state = match args.store.alert_state().await {
        Ok(state) => Some(state),
        Err(e) => {
            tracing::warn!(error = %e, "the alert state did not open: the scripts view shows no authorizations");
            None
        }
    };
    let listener = std::net::TcpListener::bind(args.addr)?;
    let dashboard = Dashboard {
        store,
        site: args.site,
        policy: args.policy,
        store_args,
        hosts: Hosts::new(listener.local_addr()?, &args.allowed_hosts),
        alert_state,
    };
    let server = start_with(listener, router(dashboard), None, LIMITS).await?;
    eprintln!(
        "lookout ui: {}/ over {} (read-only; Ctrl-C to stop)",
        server.url(),
        args.store.describe()
    );
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    server.wait().await?;
    Ok(())
}
