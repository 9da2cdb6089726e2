//! The dashboard's pages (`lookout ui`): problems ranked with per-day charts, one problem's
//! reports, the suggested policy. Pure rendering: HTML and inline SVG from what the store
//! returned, every value from a report escaped, no script.

pub mod chart;
pub mod hosts;
pub mod html;
pub mod page;
pub mod shell;
