//! Samples of inline code that browsers extensions and security software put into pages: a CSP
//! report whose `sample` starts with one of these is about the visitor's browser, not the site.
//!
//! Sources (each entry names its own):
//! - CSP-useful, `csp-wtf/explained.md` and `not-explained.md` (github.com/nico3333fr/CSP-useful,
//!   MIT, Copyright (c) Nicolas Hoffmann): reports explained one by one;
//! - NelmioSecurityBundle's `InjectedScriptsNoiseDetector` (MIT, Copyright (c) 2011 Nelmio);
//! - EFForg/privacybadger#1793; issues.adblockplus.org ticket 5953.
//!
//! Matched case-sensitively on the start of the sample, after dropping the `...` old Firefox
//! versions append to a cut sample. Only prefixes no site's own code would start with are
//! listed.

/// (sample prefix, what injects it).
pub const INJECTED_SAMPLES: &[(&str, &str)] = &[
    (
        "window.klTabId_kis = '",
        "Kaspersky Internet Security (CSP-useful explained.md)",
    ),
    (
        "transform:translate(NaNpx, NaNpx);",
        "Kaspersky Internet Security (CSP-useful explained.md)",
    ),
    (
        ".cip-genpw-icon.cip-icon-key-small {back",
        "ChromeIPass (CSP-useful explained.md)",
    ),
    (
        ".autocardanywhere-popup {background-colo",
        "AutoCardAnywhere (CSP-useful explained.md)",
    ),
    (
        "(function injected(eventName, injectedIn",
        "Adblock Plus (CSP-useful not-explained.md; adblockplus ticket 5953)",
    ),
    (
        "(function (ERROR) {\n\n    const V8_STACK_",
        "Privacy Badger (CSP-useful explained.md; EFForg/privacybadger#1793)",
    ),
    (
        "(function (NAVIGATOR, OBJECT) {\n\n    OBJ",
        "Privacy Badger (CSP-useful explained.md)",
    ),
    (
        ";(function installGlobalHook(window) {\n",
        "React DevTools (CSP-useful explained.md; NelmioSecurityBundle)",
    ),
    (
        ";(function(e){let t={};if(e.hasOwnProper",
        "Vue devtools (CSP-useful explained.md)",
    ),
    (
        "window.devToolsOptions = Object.assign(w",
        "Redux DevTools (CSP-useful explained.md; NelmioSecurityBundle)",
    ),
    (
        "try {\r\n(function injectPageScriptAPI(scr",
        "AdGuard (CSP-useful explained.md)",
    ),
    (
        "try {\r\nwindow.AG_onLoad = function(func)",
        "AdGuard (CSP-useful not-explained.md; NelmioSecurityBundle)",
    ),
    (
        "try {\r\nvar AG_onLoad=function(func){if(d",
        "AdGuard (CSP-useful not-explained.md)",
    ),
    (
        "/* Copyright 2014 Evernote Corporation. ",
        "Evernote Web Clipper (CSP-useful explained.md)",
    ),
    (
        "@media print {#UNIQUE_ID-ghostery {displ",
        "Ghostery (CSP-useful explained.md)",
    ),
    (
        "@media print {#ghostery-purple-box {disp",
        "Ghostery (CSP-useful explained.md)",
    ),
    (
        "#ghostery-button{z-index: 2147483646 !im",
        "Ghostery (CSP-useful explained.md)",
    ),
    (
        ".tota11y-dark-color-scheme{background-co",
        "tota11y (CSP-useful explained.md)",
    ),
    (
        "window.loop11ExtTerritory = true;",
        "Loop11 (CSP-useful explained.md)",
    ),
    (
        "/*\n * Many CSS class names in this file ",
        "Vimium (CSP-useful explained.md)",
    ),
    (
        "window[\"_gaUserPrefs\"] = { ioo : functio",
        "Google Analytics Opt-out (CSP-useful explained.md)",
    ),
    (
        "var Cacaoweb = { callbackIsRunning: func",
        "Cacaoweb (CSP-useful explained.md)",
    ),
    (
        "background-image: url(moz-extension://",
        "a Firefox extension (CSP-useful explained.md)",
    ),
    (
        ".password-toggler-button-parent {positio",
        "password-toggler (CSP-useful explained.md)",
    ),
    (
        ".vimvixen-console-frame {\n  margin: 0;\n ",
        "Vim Vixen (CSP-useful not-explained.md)",
    ),
    (
        "try {  for(var lastpass_iter=0; lastpass",
        "LastPass (NelmioSecurityBundle)",
    ),
    (
        "\n:root .mod > ._jH + .rscontainer\n{ disp",
        "EasyList CSS from an ad blocker (CSP-useful explained.md)",
    ),
];

/// What injected `sample`, if it starts like known injected code.
pub fn injected_by(sample: &str) -> Option<&'static str> {
    let sample = sample.strip_suffix("...").unwrap_or(sample);
    INJECTED_SAMPLES
        .iter()
        .find(|(prefix, _)| sample.starts_with(prefix))
        .map(|(_, who)| *who)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_injections_are_recognised_and_site_code_is_not() {
        assert!(
            injected_by("window.klTabId_kis = 'abc123';")
                .unwrap()
                .contains("Kaspersky")
        );
        assert!(injected_by("(function injected(eventName, injectedIn...").is_some());
        assert_eq!(injected_by("document.getElementById('app')"), None);
        assert_eq!(injected_by("(function () {"), None);
        for (prefix, _) in INJECTED_SAMPLES {
            assert!(
                prefix.chars().count() <= 40,
                "{prefix}: a sample holds 40 characters"
            );
            assert!(prefix.len() >= 15, "{prefix}: too short to be specific");
        }
    }
}
