//! The dashboard (`lookout ui`): problems ranked with per-day charts, one problem's reports,
//! the suggested policy, the scripts inventory. Read-only, rendered on the server: HTML and
//! inline SVG from what the store returned, every value from a report escaped, no script.
//!
//! - [`routes`]: the router and its views, each reading its [`filters`] once, then the store.
//! - `guard`: in front of every view, the [`hosts`] the page answers for and no other site.
//! - [`page`], [`chart`], [`html`], [`shell`]: the pages, their charts, escaping, and the
//!   command lines they show. `response`: the headers every page leaves with.
//!
//! A view: a handler in `routes.rs`, a page in `page.rs`, and its query values in `filters.rs`.

pub mod chart;
pub mod filters;
mod guard;
pub mod hosts;
pub mod html;
pub mod page;
mod response;
pub mod routes;
pub mod shell;

pub use routes::{Dashboard, router};
