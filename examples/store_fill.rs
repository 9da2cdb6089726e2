//! Fills an embedded store with N realistic reports, for the scale benchmark
//! (`bench/store-scale.sh`), and prints the payloads that benchmark sends to a server.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/store_fill DIR N [SEED]          # a new store in DIR, N reports
//! target/release/examples/store_fill --policy SITE         # the policy SITE sends
//! target/release/examples/store_fill --payload SITE [SEED] # a 100-report batch for wrk
//! target/release/examples/store_fill --new-problems SITE TAG  # 100 reports, 100 new problems
//! ```
//!
//! The fill: four sites (`shop.example` 55 % of reports, `blog.example` 25 %, `app.example`
//! 15 %, `docs.example` 5 %), each report 85 % `csp-violation`, 10 % `deprecation`, 5 %
//! `network-error`, on about 450 problems in all (third-party hosts × directive × page for
//! CSP, plus inline code, eval and schemes; a few dozen deprecation ids and NEL errors), hot
//! ones and a long tail (Zipf within each site and type). Each site sends one policy of 300 to
//! 600 bytes with every CSP report, as real sites do. The arrivals are spread evenly over the
//! 30 days ending now, oldest first, as a live store receives them, at age 0; each report gets
//! a pseudo-random visitor byte. Everything follows from the seed.
//!
//! Every report goes through the real decode path (`report::decode` on a Reporting API body,
//! the site taken from the report's URL) and the store's public `put`, 100 reports a put, 8
//! puts in flight: the store's writer commits concurrent puts together.
//!
//! Each report is unique without making a new problem: its `lineNumber` and `columnNumber`
//! (CSP, deprecation) or the last segment of its URL's path (NEL) come from a counter. A
//! report's identity (`report::id`) covers its URL and whole body; its group
//! (`report::fingerprint`) only the directive, blocked origin and document (CSP), the id
//! (deprecation), or the type, phase and host (NEL). The fill checks both: the store must
//! hold N reports at the end, and the distinct (site, type, fingerprint) are counted.
//!
//! `--payload` prints a batch in the same mix for one site, whose `{N}` (in each report's
//! script URL or NEL path) the caller replaces with a value of its own per request, so that
//! every request's reports are new and their problems are not. `--new-problems` prints 100
//! CSP reports blocked on 100 hosts never seen (`t0.TAG.vendor.example`, ...): 100 new
//! problems, for the alert path.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fastrand::Rng;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use lookout::report::{Options, Report, RequestMeta, Timestamp, decode};
use lookout::store::ReportStore;
use lookout::store::embedded::{DB_FILE, EmbeddedStore};

const USAGE: &str = "usage: store_fill DIR N [SEED] | --policy SITE | --payload SITE [SEED] | --new-problems SITE TAG";

/// The seed when none is given.
const DEFAULT_SEED: u64 = 1;
/// Reports per `put` (and per `--payload` batch: Chromium's cap on a delivery).
const BATCH: usize = 100;
/// Puts in flight at once.
const IN_FLIGHT: usize = 8;
/// Progress is printed every this many stored reports.
const PROGRESS_EVERY: u64 = 100_000;
/// The days the arrivals span, ending now.
const DAYS: i64 = 30;
/// The Zipf exponent of problems within a site and type: a few hot, many rare.
const ZIPF: f64 = 1.1;
/// Shares of `csp-violation`, `deprecation` and `network-error` among a site's reports.
const TYPE_SHARES: [f64; 3] = [85.0, 10.0, 5.0];

/// One site: its share of reports, what it sends, and how many problems of each type it has.
struct Site {
    name: &'static str,
    /// Share of all reports, in percent.
    share: f64,
    /// The policy its CSP reports carry (`originalPolicy`).
    policy: &'static str,
    /// The hash in its script bundle's name (a report's `sourceFile`).
    build: &'static str,
    pages: &'static [&'static str],
    /// CSP problems of third-party fetches: a host's directive on one page.
    fetch_problems: usize,
    /// CSP problems of inline code, eval and schemes: (effectiveDirective, blockedURL, sample).
    code_problems: &'static [(&'static str, &'static str, &'static str)],
    deprecation_problems: usize,
    nel_problems: usize,
}

static SITES: [Site; 4] = [
    Site {
        name: "shop.example",
        share: 55.0,
        policy: "default-src 'self'; script-src 'self' 'report-sample' 'sha256-Vz3bT4Jr0bQ6o0cbnWlO9CNcyGSe3HqMBFp0DeX9k1E=' https://www.googletagmanager.com https://js.stripe.com; style-src 'self' 'report-sample' https://fonts.googleapis.com; img-src 'self' data: https://cdn.shop.example https://www.google-analytics.com; font-src 'self' https://fonts.gstatic.com; connect-src 'self' https://api.shop.example https://www.google-analytics.com https://api.stripe.com; frame-src https://js.stripe.com https://www.youtube.com; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; report-to lookout",
        build: "3f9c2e71",
        pages: &[
            "/",
            "/products",
            "/product/espresso-machine",
            "/product/grinder-pro",
            "/cart",
            "/checkout",
            "/account/orders",
            "/search",
        ],
        fetch_problems: 150,
        code_problems: &[
            (
                "script-src-elem",
                "inline",
                "window.dataLayer = window.dataLayer || [",
            ),
            (
                "script-src-elem",
                "inline",
                "!function(f,b,e,v,n,t,s){if(f.fbq)return",
            ),
            ("style-src-attr", "inline", "display:none"),
            ("script-src", "eval", ""),
            ("font-src", "data", ""),
        ],
        deprecation_problems: 16,
        nel_problems: 10,
    },
    Site {
        name: "blog.example",
        share: 25.0,
        policy: "default-src 'self'; script-src 'self' 'report-sample' https://www.googletagmanager.com https://platform.twitter.com https://s.w.org; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; img-src 'self' data: https://i0.wp.com https://s.w.org; font-src 'self' data: https://fonts.gstatic.com; connect-src 'self' https://www.google-analytics.com; frame-src https://www.youtube-nocookie.com https://platform.twitter.com; media-src 'self'; object-src 'none'; base-uri 'self'; report-uri https://reports.blog.example/r/blog.example; report-to lookout",
        build: "b71d04a9",
        pages: &[
            "/",
            "/posts/csp-in-practice",
            "/posts/faster-pages",
            "/posts/reporting-api",
            "/tags/security",
            "/about",
        ],
        fetch_problems: 100,
        code_problems: &[
            (
                "script-src-elem",
                "inline",
                "var _paq = window._paq = window._paq ||",
            ),
            ("script-src", "eval", ""),
            ("worker-src", "blob", ""),
        ],
        deprecation_problems: 10,
        nel_problems: 6,
    },
    Site {
        name: "app.example",
        share: 15.0,
        policy: "default-src 'none'; script-src 'self' 'report-sample' https://cdn.app.example; style-src 'self' 'report-sample' https://cdn.app.example; img-src 'self' blob: https://cdn.app.example https://avatars.app.example; font-src 'self' https://cdn.app.example; connect-src 'self' https://api.app.example wss://realtime.app.example; worker-src 'self' blob:; manifest-src 'self'; frame-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; require-trusted-types-for 'script'; report-to lookout",
        build: "c0de5e11",
        pages: &[
            "/dashboard",
            "/projects",
            "/projects/board",
            "/settings/billing",
            "/login",
            "/reports",
        ],
        fetch_problems: 90,
        code_problems: &[
            (
                "script-src-elem",
                "inline",
                "(self.__next_f=self.__next_f||[]).push([",
            ),
            ("script-src", "eval", ""),
            ("script-src", "wasm-eval", ""),
            (
                "require-trusted-types-for",
                "trusted-types-sink",
                "Element innerHTML|<div class=toast>Saved",
            ),
        ],
        deprecation_problems: 14,
        nel_problems: 10,
    },
    Site {
        name: "docs.example",
        share: 5.0,
        policy: "default-src 'self'; script-src 'self' 'report-sample' https://www.googletagmanager.com https://cdn.docs.example; style-src 'self' 'report-sample' https://cdn.docs.example; img-src 'self' data: https://cdn.docs.example; font-src 'self' https://cdn.docs.example; connect-src 'self' https://search.docs.example https://www.google-analytics.com; frame-src 'none'; object-src 'none'; base-uri 'self'; form-action 'self'; upgrade-insecure-requests; report-to lookout",
        build: "d0c5a7e3",
        pages: &[
            "/",
            "/guide/getting-started",
            "/guide/deploy",
            "/api/reference",
            "/faq",
        ],
        fetch_problems: 40,
        code_problems: &[
            (
                "script-src-elem",
                "inline",
                "document.documentElement.className='js'",
            ),
            ("style-src-elem", "inline", "pre code{white-space:pre}"),
        ],
        deprecation_problems: 8,
        nel_problems: 5,
    },
];

/// What a third-party URL is fetched as: its CSP directive and a few paths.
#[derive(Debug, Clone, Copy)]
enum Asset {
    Script,
    Image,
    Connect,
    Font,
    Style,
    Frame,
    Media,
}

impl Asset {
    fn directive(self) -> &'static str {
        match self {
            Self::Script => "script-src-elem",
            Self::Image => "img-src",
            Self::Connect => "connect-src",
            Self::Font => "font-src",
            Self::Style => "style-src-elem",
            Self::Frame => "frame-src",
            Self::Media => "media-src",
        }
    }

    /// Paths a blocked URL of this kind has (one problem: the group keeps the origin only).
    fn paths(self) -> &'static [&'static str] {
        match self {
            Self::Script => &["/js/loader.js", "/v2/sdk.min.js", "/tag.js"],
            Self::Image => &["/tr/", "/pixel.gif", "/collect"],
            Self::Connect => &["/v1/batch", "/collect", "/api/events"],
            Self::Font => &["/fonts/inter.woff2", "/af/3e1b2c/l.woff2"],
            Self::Style => &["/css/main.css", "/bootstrap.min.css"],
            Self::Frame => &["/embed/", "/widget"],
            Self::Media => &["/video/clip.mp4"],
        }
    }
}

/// 60 third-party hosts that no site's policy allows (every fetch problem is a violation).
const HOSTS: [(&str, Asset); 60] = [
    ("connect.facebook.net", Asset::Script),
    ("static.hotjar.com", Asset::Script),
    ("script.hotjar.com", Asset::Script),
    ("cdn.segment.com", Asset::Script),
    ("bat.bing.com", Asset::Script),
    ("snap.licdn.com", Asset::Script),
    ("analytics.tiktok.com", Asset::Script),
    ("s.pinimg.com", Asset::Script),
    ("cdn.jsdelivr.net", Asset::Script),
    ("unpkg.com", Asset::Script),
    ("cdnjs.cloudflare.com", Asset::Script),
    ("js.hs-scripts.com", Asset::Script),
    ("widget.intercom.io", Asset::Script),
    ("cdn.optimizely.com", Asset::Script),
    ("www.clarity.ms", Asset::Script),
    ("cdn.cookielaw.org", Asset::Script),
    ("static.zdassets.com", Asset::Script),
    ("js.sentry-cdn.com", Asset::Script),
    ("cdn.amplitude.com", Asset::Script),
    ("assets.adobedtm.com", Asset::Script),
    ("www.facebook.com", Asset::Image),
    ("px.ads.linkedin.com", Asset::Image),
    ("ct.pinterest.com", Asset::Image),
    ("i.ytimg.com", Asset::Image),
    ("pbs.twimg.com", Asset::Image),
    ("images.unsplash.com", Asset::Image),
    ("t.co", Asset::Image),
    ("sb.scorecardresearch.com", Asset::Image),
    ("pixel.quantserve.com", Asset::Image),
    ("googleads.g.doubleclick.net", Asset::Image),
    ("www.googleadservices.com", Asset::Image),
    ("c.bing.com", Asset::Image),
    ("api.segment.io", Asset::Connect),
    ("o450123.ingest.sentry.io", Asset::Connect),
    ("api-iam.intercom.io", Asset::Connect),
    ("in.hotjar.com", Asset::Connect),
    ("api2.amplitude.com", Asset::Connect),
    ("logx.optimizely.com", Asset::Connect),
    ("region1.google-analytics.com", Asset::Connect),
    ("stats.g.doubleclick.net", Asset::Connect),
    ("events.launchdarkly.com", Asset::Connect),
    ("rs.fullstory.com", Asset::Connect),
    ("analytics.google.com", Asset::Connect),
    ("use.typekit.net", Asset::Font),
    ("fonts.bunny.net", Asset::Font),
    ("ka-f.fontawesome.com", Asset::Font),
    ("fonts.cdnfonts.com", Asset::Font),
    ("p.typekit.net", Asset::Style),
    ("maxcdn.bootstrapcdn.com", Asset::Style),
    ("stackpath.bootstrapcdn.com", Asset::Style),
    ("use.fontawesome.com", Asset::Style),
    ("fonts.bunny.net", Asset::Style),
    ("player.vimeo.com", Asset::Frame),
    ("td.doubleclick.net", Asset::Frame),
    ("www.google.com", Asset::Frame),
    ("www.instagram.com", Asset::Frame),
    ("open.spotify.com", Asset::Frame),
    ("calendly.com", Asset::Frame),
    ("video.twimg.com", Asset::Media),
    ("cdn.plyr.io", Asset::Media),
];

/// Chromium deprecation reports: (id, message).
const DEPRECATIONS: [(&str, &str); 24] = [
    (
        "UnloadHandler",
        "Unload event listeners are deprecated and will be removed.",
    ),
    (
        "DocumentDomainSettingWithoutOriginAgentClusterHeader",
        "Relaxing the same-origin policy by setting document.domain is deprecated.",
    ),
    (
        "NavigatorUserAgent",
        "navigator.userAgent will be reduced; use User-Agent Client Hints instead.",
    ),
    (
        "RTCPeerConnectionGetStatsLegacyNonCompliant",
        "The callback-based getStats() is deprecated and will be removed.",
    ),
    (
        "XHRJSONEncodingDetection",
        "UTF-16 is not supported by response json in XMLHttpRequest.",
    ),
    (
        "DataUrlInSvgUse",
        "Loading a data: URL in an SVG <use> element is deprecated.",
    ),
    (
        "GetUserMediaInsecureOrigin",
        "getUserMedia() no longer works on insecure origins.",
    ),
    (
        "InsecurePrivateNetworkSubresourceRequest",
        "A request to a private network resource from an insecure context is deprecated.",
    ),
    (
        "LocalCSSFileExtensionRejected",
        "A CSS stylesheet cannot be loaded from a file: URL unless it ends in .css.",
    ),
    (
        "MediaSourceAbortRemove",
        "SourceBuffer.abort() no longer aborts a pending remove().",
    ),
    (
        "NoSysexWebMIDIWithoutPermission",
        "Web MIDI will ask permission to use it even when sysex is not specified.",
    ),
    (
        "NotificationInsecureOrigin",
        "The Notification API may no longer be used from insecure origins.",
    ),
    (
        "ObsoleteCreateImageBitmapImageOrientationNone",
        "The imageOrientation: 'none' option of createImageBitmap is deprecated.",
    ),
    (
        "OverflowVisibleOnReplacedElement",
        "overflow: visible on img, video and canvas may paint outside the element's bounds.",
    ),
    (
        "PaymentInstruments",
        "paymentManager.instruments is deprecated; use just-in-time installs instead.",
    ),
    (
        "PrefixedVideoFullscreen",
        "HTMLVideoElement.webkitEnterFullscreen() is deprecated; use requestFullscreen().",
    ),
    (
        "RangeExpand",
        "Range.expand() is deprecated; use Selection.modify() instead.",
    ),
    (
        "SharedArrayBufferConstructedWithoutIsolation",
        "SharedArrayBuffer will require cross-origin isolation.",
    ),
    (
        "TextToSpeech_DisallowedByAutoplay",
        "speechSynthesis.speak() without user activation is deprecated.",
    ),
    (
        "GeolocationInsecureOrigin",
        "getCurrentPosition() and watchPosition() no longer work on insecure origins.",
    ),
    (
        "OpenWebDatabaseInsecureContext",
        "WebSQL in non-secure contexts is deprecated and will be removed.",
    ),
    (
        "PrivacySandboxExtensionsAPI",
        "The Privacy Sandbox extensions API namespace is deprecated.",
    ),
    (
        "PrefixedStorageInfo",
        "window.webkitStorageInfo is deprecated; use navigator.storage instead.",
    ),
    (
        "CrossOriginWindowAlert",
        "Triggering window.alert from cross-origin iframes has been deprecated.",
    ),
];

/// Network Error Logging failures: (type, phase, status_code).
const NEL_ERRORS: [(&str, &str, u16); 13] = [
    ("dns.name_not_resolved", "dns", 0),
    ("dns.failed", "dns", 0),
    ("tcp.timed_out", "connection", 0),
    ("tcp.reset", "connection", 0),
    ("tcp.refused", "connection", 0),
    ("tcp.aborted", "connection", 0),
    ("tls.protocol.error", "connection", 0),
    ("http.error", "application", 500),
    ("http.error", "application", 502),
    ("http.error", "application", 503),
    ("http.error", "application", 404),
    ("http.protocol.error", "application", 0),
    ("abandoned", "application", 0),
];

/// Paths a site's failing requests go to (NEL groups by host: one problem).
const NEL_PATHS: [&str; 5] = [
    "/api/cart",
    "/api/search",
    "/api/session",
    "/static/img",
    "/assets/app",
];

/// User-Agents: (string, share, Chromium: sends NEL and deprecation reports).
const USER_AGENTS: [(&str, f64, bool); 8] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
        30.0,
        true,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36",
        12.0,
        true,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
        20.0,
        true,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0",
        8.0,
        true,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:149.0) Gecko/20100101 Firefox/149.0",
        8.0,
        false,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:148.0) Gecko/20100101 Firefox/148.0",
        3.0,
        false,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15",
        7.0,
        false,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1",
        12.0,
        false,
    ),
];

/// A weighted choice among indices.
struct Weighted(Vec<f64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut sum = 0.0;
        Self(
            weights
                .into_iter()
                .map(|w| {
                    sum += w;
                    sum
                })
                .collect(),
        )
    }

    /// Ranks 0..n, rank r weighing 1 / (r + 1)^ZIPF.
    fn zipf(n: usize) -> Self {
        Self::new((0..n).map(|r| 1.0 / ((r + 1) as f64).powf(ZIPF)))
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.0.last().copied().unwrap_or(0.0);
        let x = rng.f64() * total;
        self.0
            .partition_point(|&c| c <= x)
            .min(self.0.len().saturating_sub(1))
    }
}

/// One problem: what its reports have in common.
#[derive(Debug, Clone, Copy)]
enum Problem {
    Fetch {
        host: &'static str,
        asset: Asset,
        page: &'static str,
    },
    Code {
        directive: &'static str,
        blocked: &'static str,
        sample: &'static str,
        page: &'static str,
    },
    Deprecation(usize),
    Nel(usize),
}

/// What makes a report unique within its problem.
struct Unique<'a> {
    line: u64,
    column: u64,
    /// The script bundle's hash, in `sourceFile`.
    build: &'a str,
    /// The last segment of a NEL report's URL path.
    path_id: &'a str,
}

/// A CSP report's own parts.
struct Csp<'a> {
    page: &'a str,
    directive: &'a str,
    blocked: &'a str,
    sample: &'a str,
}

/// A site's problems: CSP, deprecation and NEL, each list ranked, with its Zipf weights.
struct SiteProblems {
    site: &'static Site,
    by_type: [(Vec<Problem>, Weighted); 3],
}

/// Every site's problems, and the weights reports are drawn with.
struct Catalogue {
    sites: Vec<SiteProblems>,
    site_shares: Weighted,
    type_shares: Weighted,
    agents: Weighted,
    chromium_agents: Weighted,
}

impl Catalogue {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::with_seed(seed);
        let sites = SITES
            .iter()
            .map(|site| {
                let pages = site.pages.len();
                let mut combos: Vec<(usize, usize)> = (0..HOSTS.len())
                    .flat_map(|h| (0..pages).map(move |p| (h, p)))
                    .collect();
                rng.shuffle(&mut combos);
                let mut csp: Vec<Problem> = combos
                    .iter()
                    .take(site.fetch_problems)
                    .map(|&(h, p)| Problem::Fetch {
                        host: HOSTS[h].0,
                        asset: HOSTS[h].1,
                        page: site.pages[p],
                    })
                    .collect();
                // Inline code and eval are among a site's commoner problems: ranks 1, 6, 11...
                for (i, &(directive, blocked, sample)) in site.code_problems.iter().enumerate() {
                    let page = site.pages[rng.usize(..pages)];
                    let code = Problem::Code {
                        directive,
                        blocked,
                        sample,
                        page,
                    };
                    csp.insert((1 + 5 * i).min(csp.len()), code);
                }
                let mut ids: Vec<usize> = (0..DEPRECATIONS.len()).collect();
                rng.shuffle(&mut ids);
                ids.truncate(site.deprecation_problems);
                let mut errors: Vec<usize> = (0..NEL_ERRORS.len()).collect();
                rng.shuffle(&mut errors);
                errors.truncate(site.nel_problems);
                let lists: [Vec<Problem>; 3] = [
                    csp,
                    ids.into_iter().map(Problem::Deprecation).collect(),
                    errors.into_iter().map(Problem::Nel).collect(),
                ];
                SiteProblems {
                    site,
                    by_type: lists.map(|list| {
                        let weights = Weighted::zipf(list.len());
                        (list, weights)
                    }),
                }
            })
            .collect();
        Self {
            sites,
            site_shares: Weighted::new(SITES.iter().map(|s| s.share)),
            type_shares: Weighted::new(TYPE_SHARES),
            agents: Weighted::new(USER_AGENTS.iter().map(|a| a.1)),
            chromium_agents: Weighted::new(USER_AGENTS.iter().map(|a| if a.2 { a.1 } else { 0.0 })),
        }
    }

    fn site_index(&self, name: &str) -> Result<usize, String> {
        self.sites
            .iter()
            .position(|s| s.site.name == name)
            .ok_or_else(|| format!("no site {name:?} (one of {})", site_names()))
    }

    /// A site by its share, then a problem of it.
    fn pick(&self, rng: &mut Rng) -> (usize, Problem) {
        let s = self.site_shares.pick(rng);
        (s, self.pick_on(s, rng))
    }

    /// A type of site `s` by its share, then one of its problems by rank.
    fn pick_on(&self, s: usize, rng: &mut Rng) -> Problem {
        let (list, weights) = &self.sites[s].by_type[self.type_shares.pick(rng)];
        list[weights.pick(rng)]
    }

    fn user_agent(&self, chromium: bool, rng: &mut Rng) -> &'static str {
        let weights = if chromium {
            &self.chromium_agents
        } else {
            &self.agents
        };
        USER_AGENTS[weights.pick(rng)].0
    }

    /// One Reporting API report of `problem` on site `s`, at age 0.
    fn report(&self, s: usize, problem: Problem, u: &Unique<'_>, rng: &mut Rng) -> Value {
        let site = self.sites[s].site;
        match problem {
            Problem::Fetch { host, asset, page } => {
                let paths = asset.paths();
                let blocked = format!("https://{host}{}", paths[rng.usize(..paths.len())]);
                let parts = Csp {
                    page,
                    directive: asset.directive(),
                    blocked: &blocked,
                    sample: "",
                };
                self.csp(site, &parts, u, rng)
            }
            Problem::Code {
                directive,
                blocked,
                sample,
                page,
            } => {
                let parts = Csp {
                    page,
                    directive,
                    blocked,
                    sample,
                };
                self.csp(site, &parts, u, rng)
            }
            Problem::Deprecation(i) => {
                let (id, message) = DEPRECATIONS[i];
                let page = site.pages[rng.usize(..site.pages.len())];
                json!({
                    "type": "deprecation",
                    "age": 0,
                    "url": format!("https://{}{page}", site.name),
                    "user_agent": self.user_agent(true, rng),
                    "body": {
                        "id": id,
                        "message": message,
                        "sourceFile": source_file(site, u.build),
                        "lineNumber": u.line,
                        "columnNumber": u.column,
                    },
                })
            }
            Problem::Nel(i) => {
                let (kind, phase, status) = NEL_ERRORS[i];
                let page = site.pages[rng.usize(..site.pages.len())];
                let path = NEL_PATHS[rng.usize(..NEL_PATHS.len())];
                let resolved = phase != "dns";
                let protocol = if resolved { "h2" } else { "" };
                let server_ip = if resolved {
                    format!("203.0.113.{}", 10 + s)
                } else {
                    String::new()
                };
                let method = if rng.u8(..4) == 0 { "POST" } else { "GET" };
                let elapsed = rng.u32(5..30_000);
                let user_agent = self.user_agent(true, rng);
                json!({
                    "type": "network-error",
                    "age": 0,
                    "url": format!("https://{}{path}/{}", site.name, u.path_id),
                    "user_agent": user_agent,
                    "body": {
                        "elapsed_time": elapsed,
                        "method": method,
                        "phase": phase,
                        "protocol": protocol,
                        "referrer": format!("https://{}{page}", site.name),
                        "sampling_fraction": 1.0,
                        "server_ip": server_ip,
                        "status_code": status,
                        "type": kind,
                    },
                })
            }
        }
    }

    /// A `csp-violation` report as Chromium sends it, with the site's policy.
    fn csp(&self, site: &Site, c: &Csp<'_>, u: &Unique<'_>, rng: &mut Rng) -> Value {
        let document = format!("https://{}{}", site.name, c.page);
        let referrer = if rng.u8(..100) < 30 {
            "https://www.google.com/"
        } else {
            ""
        };
        let disposition = if rng.u8(..100) < 80 {
            "enforce"
        } else {
            "report"
        };
        let user_agent = self.user_agent(false, rng);
        json!({
            "type": "csp-violation",
            "age": 0,
            "url": document,
            "user_agent": user_agent,
            "body": {
                "blockedURL": c.blocked,
                "columnNumber": u.column,
                "disposition": disposition,
                "documentURL": document,
                "effectiveDirective": c.directive,
                "lineNumber": u.line,
                "originalPolicy": site.policy,
                "referrer": referrer,
                "sample": c.sample,
                "sourceFile": source_file(site, u.build),
                "statusCode": 200,
            },
        })
    }
}

/// The site's script bundle, which the reports name as their source.
fn source_file(site: &Site, build: &str) -> String {
    format!("https://{}/static/js/app.{build}.js", site.name)
}

fn site_names() -> String {
    SITES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

fn number(s: &str, what: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("{what} is a number, not {s:?}\n{USAGE}"))
}

/// `--payload SITE SEED`: a batch of 100 reports on SITE in the fill's mix, `{N}` standing for
/// what the sender makes unique per request (in each report's script URL or NEL path); within
/// the batch, reports differ by line number or path.
fn payload(site: &str, seed: u64) -> Result<(), String> {
    let catalogue = Catalogue::new(seed);
    let s = catalogue.site_index(site)?;
    let mut rng = Rng::with_seed(seed ^ 0x5eed_5eed);
    let items: Vec<Value> = (0..BATCH)
        .map(|i| {
            let problem = catalogue.pick_on(s, &mut rng);
            let path_id = format!("{{N}}-{i}");
            let u = Unique {
                line: i as u64 + 1,
                column: 1,
                build: "{N}",
                path_id: &path_id,
            };
            catalogue.report(s, problem, &u, &mut rng)
        })
        .collect();
    println!("{}", Value::Array(items));
    Ok(())
}

/// `--new-problems SITE TAG`: 100 CSP reports on SITE, each blocked on a host of its own
/// under TAG: 100 problems no store has seen (a new TAG, new problems again).
fn new_problems(site: &str, tag: &str) -> Result<(), String> {
    let label = !tag.is_empty()
        && tag.len() <= 40
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !tag.starts_with('-')
        && !tag.ends_with('-');
    if !label {
        return Err(format!(
            "TAG is a host name label (letters, digits, '-'), not {tag:?}"
        ));
    }
    let catalogue = Catalogue::new(DEFAULT_SEED);
    let s = catalogue.site_index(site)?;
    let known = catalogue.sites[s].site;
    let mut rng = Rng::with_seed(DEFAULT_SEED);
    let items: Vec<Value> = (0..BATCH)
        .map(|i| {
            let blocked = format!("https://t{i}.{tag}.vendor.example/tag.js");
            let parts = Csp {
                page: known.pages[i % known.pages.len()],
                directive: "script-src-elem",
                blocked: &blocked,
                sample: "",
            };
            let u = Unique {
                line: i as u64 + 1,
                column: 1,
                build: known.build,
                path_id: "",
            };
            catalogue.csp(known, &parts, &u, &mut rng)
        })
        .collect();
    println!("{}", Value::Array(items));
    Ok(())
}

/// The size on disk of the store in `dir`: the database, its WAL and its shared-memory file.
fn bytes_on_disk(dir: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(dir.join(format!("{DB_FILE}{suffix}"))).ok())
        .map(|m| m.len())
        .sum()
}

/// `DIR N SEED`: a new store in DIR with N reports.
fn fill(dir: &Path, n: u64, seed: u64) -> Result<(), String> {
    if n == 0 {
        return Err(format!("N is at least 1\n{USAGE}"));
    }
    if dir.join(DB_FILE).exists() {
        return Err(format!(
            "{} already holds a store: give a new directory",
            dir.display()
        ));
    }
    let catalogue = Catalogue::new(seed);
    let mut rng = Rng::with_seed(seed.wrapping_add(1));
    let opts = Options::default();
    let store = EmbeddedStore::open(dir).map_err(|e| format!("cannot open the store: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;

    let end = Timestamp::now().millis();
    let span = DAYS * 86_400_000;
    let start = end - span;
    let started = Instant::now();
    // Distinct (site, type, fingerprint), to check that uniqueness made no problems.
    let mut problems: HashSet<String> = HashSet::new();
    // Reports decoded and queued; reports generated (each draws its own counter value);
    // generated reports that decoding filtered or rejected.
    let (mut made, mut serial, mut dropped) = (0u64, 0u64, 0u64);
    let mut body: Vec<u8> = Vec::with_capacity(4096);
    let store_ref = &store;
    let put = move |reports: Vec<Report>| async move {
        let result = store_ref.put(&reports).await;
        (reports.len() as u64, result)
    };

    let stored_count = runtime.block_on(async {
        let mut in_flight = FuturesUnordered::new();
        let mut batch: Vec<Report> = Vec::with_capacity(BATCH);
        let mut stored = 0u64;
        let mut next_progress = PROGRESS_EVERY;
        while made < n {
            // Slot `made` of n even slots of the span: arrivals in time order, oldest first.
            let offset = (made as f64 + rng.f64()) * span as f64 / n as f64;
            let received_at = Timestamp(start + offset as i64);
            let (s, problem) = catalogue.pick(&mut rng);
            let path_id = serial.to_string();
            let unique = Unique {
                line: 1 + serial % 5000,
                column: 1 + serial / 5000,
                build: catalogue.sites[s].site.build,
                path_id: &path_id,
            };
            serial += 1;
            let report = catalogue.report(s, problem, &unique, &mut rng);
            body.clear();
            serde_json::to_writer(&mut body, &[report]).map_err(|e| e.to_string())?;
            let decoded = decode(&body, &RequestMeta::new(None, received_at), &opts)
                .map_err(|e| format!("a generated report does not decode: {e}"))?;
            let lost = (decoded.filtered.len() + decoded.rejected.len()) as u64;
            if lost > 0 {
                dropped += lost;
                if dropped > 100 + n / 100 {
                    let why = decoded.filtered.first().map(|f| f.reason.code());
                    return Err(format!(
                        "{dropped} generated reports were filtered or rejected (last: {})",
                        why.unwrap_or("rejected")
                    ));
                }
            }
            for mut r in decoded.reports {
                r.visitor = Some(rng.u8(..));
                problems.insert(format!("{} {} {}", r.site, r.report_type, r.fingerprint));
                batch.push(r);
                made += 1;
            }
            if batch.len() < BATCH && made < n {
                continue;
            }
            if !batch.is_empty() {
                in_flight.push(put(std::mem::replace(
                    &mut batch,
                    Vec::with_capacity(BATCH),
                )));
            }
            while in_flight.len() >= IN_FLIGHT || (made >= n && !in_flight.is_empty()) {
                let Some((k, result)) = in_flight.next().await else {
                    break;
                };
                result.map_err(|e| format!("a put failed: {e}"))?;
                stored += k;
                if stored >= next_progress {
                    let rate = stored as f64 / started.elapsed().as_secs_f64();
                    eprintln!("{stored} of {n} reports stored, {rate:.0} reports/s");
                    next_progress += PROGRESS_EVERY;
                }
            }
        }
        Ok::<u64, String>(stored)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let in_store = runtime
        .block_on(store.count())
        .map_err(|e| format!("cannot count the stored reports: {e}"))?;

    // The last connection to close checkpoints the WAL into the database and removes it: the
    // size measured is the store at rest.
    drop(store);
    let wal = dir.join(format!("{DB_FILE}-wal"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while wal.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let bytes = bytes_on_disk(dir);

    let rate = stored_count as f64 / seconds;
    let per_report = bytes as f64 / n as f64;
    let mut per_site: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &problems {
        *per_site
            .entry(p.split(' ').next().unwrap_or(""))
            .or_default() += 1;
    }
    let per_site: Vec<String> = per_site.iter().map(|(s, k)| format!("{s} {k}")).collect();
    println!(
        "filled {}: {stored_count} reports in {seconds:.1} s, {rate:.0} reports/s; the store holds {in_store}",
        dir.display()
    );
    println!(
        "problems (distinct site, type, fingerprint): {} ({})",
        problems.len(),
        per_site.join(", ")
    );
    println!("on disk: {bytes} bytes (the database, -wal and -shm), {per_report:.0} bytes/report");
    if dropped > 0 {
        println!("generated reports filtered or rejected by decoding: {dropped}");
    }
    println!(
        "result reports={n} stored={in_store} seconds={seconds:.1} fill_rate={rate:.0} bytes={bytes} bytes_per_report={per_report:.0} problems={}",
        problems.len()
    );
    if in_store != n {
        return Err(format!(
            "the store holds {in_store} reports, not {n}: some were folded as duplicates"
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let seed_of = |rest: &[&str]| rest.first().map_or(Ok(DEFAULT_SEED), |s| number(s, "SEED"));
    let outcome = match args.as_slice() {
        ["--policy", site] => Catalogue::new(DEFAULT_SEED)
            .site_index(site)
            .map(|s| println!("{}", SITES[s].policy)),
        ["--payload", site, rest @ ..] if rest.len() <= 1 => {
            seed_of(rest).and_then(|seed| payload(site, seed))
        }
        ["--new-problems", site, tag] => new_problems(site, tag),
        [dir, n, rest @ ..] if rest.len() <= 1 && !dir.starts_with("--") => number(n, "N")
            .and_then(|n| seed_of(rest).and_then(|seed| fill(Path::new(dir), n, seed))),
        _ => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store_fill: {e}");
            ExitCode::FAILURE
        }
    }
}
