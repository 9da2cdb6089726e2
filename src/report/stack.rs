//! The top frames of a JavaScript call stack, as a `crash` report's `stack` carries it: what
//! the crash of an unresponsive page is grouped by.
//!
//! Chrome sends the stack of a page it found unresponsive when the page opted in with
//! `Document-Policy: include-js-call-stacks-in-crash-reports`, one frame a line, each after
//! `"\n    at "` (V8's `Error.stack` form). The forms read, one frame a line:
//!
//! - V8: `at fn (https://x/y.js:1:2)`, `at https://x/y.js:1:2` (top-level code),
//!   `at async fn (...)`, `at new Foo (...)`, `at Foo.bar [as baz] (...)`,
//!   `at fn (<anonymous>)`, and `eval` code: `at eval (eval at fn (https://x/y.js:1:2),
//!   <anonymous>:1:3)`, read as the script that called `eval`;
//! - SpiderMonkey and JavaScriptCore: `fn@https://x/y.js:1:2`, `@https://x/y.js:1:2`
//!   (anonymous), `async*fn@...`, `fn@[native code]`.
//!
//! Any other line is no frame: a message line (`Error: ...`), or what Chrome writes instead
//! of a stack ("Website owner has not opted in for JS call stacks in crash reports.", "Stack
//! omitted due to extension script frames."). The stack is the sender's text, as long as a
//! request body: only its first [`MAX_LINES`] lines are read, a line longer than
//! [`MAX_LINE_BYTES`] or holding a control character is no frame.

/// The frames that group the crash of an unresponsive page.
pub(crate) const TOP_FRAMES: usize = 3;

/// The lines of a stack read for its top frames.
pub(crate) const MAX_LINES: usize = 64;

/// The longest line read as a frame, in bytes.
pub(crate) const MAX_LINE_BYTES: usize = 4096;

/// How many `eval at` locations are unwrapped to reach the script that called `eval`.
const MAX_EVAL_DEPTH: usize = 8;

/// One frame of a stack, line and column left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    /// The function, without V8's `async `, `new ` and ` [as alias]` or SpiderMonkey's
    /// `async*`; empty for top-level and anonymous code.
    pub function: &'a str,
    /// The script's URL as written (query and fragment still on), or what the engine writes
    /// for code without one (`<anonymous>`, `native`, `[native code]`); never empty.
    pub file: &'a str,
}

/// The first [`TOP_FRAMES`] frames of `stack`, top first; none when it holds no frame.
pub(crate) fn top_frames(stack: &str) -> Vec<Frame<'_>> {
    stack
        .split('\n')
        .take(MAX_LINES)
        .filter_map(frame)
        .take(TOP_FRAMES)
        .collect()
}

/// The frame a line of a stack is, if it is one.
fn frame(line: &str) -> Option<Frame<'_>> {
    let line = line.trim();
    if line.is_empty() || line.len() > MAX_LINE_BYTES || line.chars().any(char::is_control) {
        return None;
    }
    match line.strip_prefix("at ") {
        Some(rest) => v8_frame(rest.trim_start()),
        None => at_sign_frame(line),
    }
}

/// `fn (location)` or `location`, after V8's `at `.
fn v8_frame(rest: &str) -> Option<Frame<'_>> {
    let split = rest.strip_suffix(')').and_then(|inner| {
        let open = opening_paren(inner)?;
        Some((inner[..open].trim_end(), &inner[open + 1..]))
    });
    let (function, location) = split.unwrap_or(("", rest));
    let file = strip_positions(unwrap_eval(location.trim()));
    (!file.is_empty()).then(|| Frame {
        function: clean_function(function),
        file,
    })
}

/// `fn@location`, SpiderMonkey's and JavaScriptCore's form: a frame only when the location
/// ends with a position or is native code, so that a message holding an `@` is none.
fn at_sign_frame(line: &str) -> Option<Frame<'_>> {
    let (function, location) = line.split_once('@')?;
    let location = location.trim();
    let file = strip_positions(location);
    let positioned = file.len() < location.len();
    (!file.is_empty() && (positioned || location == "[native code]")).then(|| Frame {
        function: clean_function(function),
        file,
    })
}

/// Where the `(` closing with the `)` just after `s` opens, parentheses inside counted.
fn opening_paren(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Where the `)` closing a `(` just before `s` is, parentheses inside counted.
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// V8's location of `eval` code, `eval at fn (LOCATION), <anonymous>:1:3`, as the location of
/// the code that called `eval` (nested `eval at` unwrapped too); any other location as it is.
fn unwrap_eval(mut location: &str) -> &str {
    for _ in 0..MAX_EVAL_DEPTH {
        let Some(rest) = location.strip_prefix("eval at ") else {
            break;
        };
        let Some(open) = rest.find('(') else {
            break;
        };
        let inner = &rest[open + 1..];
        let Some(close) = closing_paren(inner) else {
            break;
        };
        location = inner[..close].trim();
    }
    location
}

/// A location without its line and column (`https://x/y.js:1:2` → `https://x/y.js`), and
/// without a WebAssembly offset (`:0x1a`).
fn strip_positions(mut location: &str) -> &str {
    for _ in 0..2 {
        match location.rsplit_once(':') {
            Some((before, position)) if is_position(position) => location = before,
            _ => break,
        }
    }
    location
}

/// Decimal digits, or `0x` and hexadecimal digits.
fn is_position(s: &str) -> bool {
    match s.strip_prefix("0x") {
        Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A function's name without what tells how it was called: V8's `async ` and `new ` before
/// it and ` [as alias]` after it, SpiderMonkey's `async*` before it.
fn clean_function(function: &str) -> &str {
    let mut f = function.trim();
    for prefix in ["async ", "new ", "async*"] {
        if let Some(rest) = f.strip_prefix(prefix) {
            f = rest.trim_start();
        }
    }
    if let Some(alias) = f.find(" [as ") {
        f = f[..alias].trim_end();
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(stack: &str) -> Vec<(&str, &str)> {
        top_frames(stack)
            .into_iter()
            .map(|f| (f.function, f.file))
            .collect()
    }

    #[test]
    fn chromes_hang_stack_in_v8s_form() {
        // As Chrome builds it: each frame after "\n    at ".
        let stack = "\n    at spin (https://app.example/js/main.js?v=3:12:9)\n    at HTMLButtonElement.<anonymous> (https://app.example/js/main.js?v=3:40:5)\n    at https://app.example/js/boot.js:1:1\n    at https://app.example/js/late.js:9:9";
        assert_eq!(
            frames(stack),
            [
                ("spin", "https://app.example/js/main.js?v=3"),
                (
                    "HTMLButtonElement.<anonymous>",
                    "https://app.example/js/main.js?v=3"
                ),
                ("", "https://app.example/js/boot.js"),
            ],
            "three frames, positions cut"
        );
    }

    #[test]
    fn v8s_other_frame_forms() {
        let stack = "Error: slow\n    at async load (https://a.example/l.js:1:2)\n    at new Widget (https://a.example/w.js:3:4)\n    at Foo.bar [as baz] (https://a.example:8443/f.js:5:6)";
        assert_eq!(
            frames(stack),
            [
                ("load", "https://a.example/l.js"),
                ("Widget", "https://a.example/w.js"),
                ("Foo.bar", "https://a.example:8443/f.js"),
            ],
            "the message line is no frame"
        );
        assert_eq!(
            frames("    at Array.forEach (<anonymous>)\n    at native"),
            [("Array.forEach", "<anonymous>"), ("", "native")]
        );
        assert_eq!(
            frames(
                "    at eval (eval at run (https://a.example/r.js:7:8), <anonymous>:1:1)\n    at eval (eval at inner (eval at outer (https://a.example/o.js:1:1)), <anonymous>:2:2)"
            ),
            [
                ("eval", "https://a.example/r.js"),
                ("eval", "https://a.example/o.js")
            ],
            "eval code is filed under the script that called eval"
        );
        assert_eq!(
            frames("    at https://a.example/m.wasm:wasm-function[3]:0x1a"),
            [("", "https://a.example/m.wasm:wasm-function[3]")]
        );
    }

    #[test]
    fn firefox_and_safari_frames() {
        let stack = "spin@https://app.example/js/main.js:12:9\n@https://app.example/js/main.js#x:40:5\nasync*boot@https://app.example/js/boot.js:1:1\nlate@https://app.example/late.js:2:2";
        assert_eq!(
            frames(stack),
            [
                ("spin", "https://app.example/js/main.js"),
                ("", "https://app.example/js/main.js#x"),
                ("boot", "https://app.example/js/boot.js"),
            ]
        );
        assert_eq!(
            frames("forEach@[native code]\nglobal code@https://s.example/a.js:3:14"),
            [
                ("forEach", "[native code]"),
                ("global code", "https://s.example/a.js")
            ]
        );
    }

    #[test]
    fn stacks_without_frames() {
        for text in [
            "",
            "\n\n   \n",
            "Website owner has not opted in for JS call stacks in crash reports.",
            "Stack omitted due to extension script frames.",
            "SomeError: ... at ...",
            "Error: write to me@example.com",
            "at ",
            "@",
            "@:1:2",
            "at (:1:2)",
        ] {
            assert!(frames(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn hostile_stacks_are_read_within_bounds() {
        // Control characters: the line is no frame, the next one still is.
        let stack = "    at evil\u{1b}[31m (https://a.example/x.js:1:1)\n    at ok\u{7} (https://a.example/y.js:1:1)\n    at fine (https://a.example/z.js:1:1)";
        assert_eq!(frames(stack), [("fine", "https://a.example/z.js")]);
        // A huge line is no frame; lines past the first MAX_LINES are not read.
        let huge = format!("    at f (https://a.example/{}.js:1:1)", "a".repeat(10_000));
        assert!(frames(&huge).is_empty());
        let late = format!(
            "{}    at late (https://a.example/l.js:1:1)",
            "noise\n".repeat(MAX_LINES)
        );
        assert!(frames(&late).is_empty());
        // A megabyte without a newline, and unbalanced or deep parentheses.
        assert!(frames(&"(".repeat(1 << 20)).is_empty());
        assert_eq!(
            frames("    at f ((((https://a.example/x.js:1:1)"),
            [("f (((", "https://a.example/x.js")]
        );
        let deep = format!(
            "    at eval ({}https://a.example/d.js:1:1{}, <anonymous>:1:1)",
            "eval at f (".repeat(20),
            ")".repeat(20)
        );
        assert_eq!(top_frames(&deep).len(), 1);
        // Multi-byte text is cut nowhere but on a character.
        assert_eq!(
            frames("    at 関数 (https://a.example/é.js:1:1)"),
            [("関数", "https://a.example/é.js")]
        );
    }
}
