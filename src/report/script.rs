//! A script a page loaded, as a `csp-hash` report names it: where it came from (origin and
//! path, the query cut as in every group) and the hash of its bytes.
//!
//! The hash is part of the script's group, so that a URL's every content is a problem of its
//! own, counted exactly like any other: a skimmer swapped into `checkout.js` is a new group.
//! Report text is anyone's to write: a hash is kept only when it reads as one
//! (`sha256-`, `sha384-` or `sha512-` and the base64 of a digest of that size), a destination
//! only when it is a short lower-case word; anything else reads as unknown, so the key's
//! parts stay tokens and read back unambiguously.

use super::body::Body;
use super::fingerprint::{MAX_GROUP_PART_BYTES, fingerprint, push_origin_and_path};
use super::privacy::cut;

/// A script as a `csp-hash` report names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScriptRef {
    /// What loaded it (`script`); `other` when the report's value is not a plain word.
    pub destination: String,
    /// Its origin and path (`https://shop.example/s/widget.js`); `-` when the report had none.
    pub url: String,
    /// `sha256-{base64}`; `None` when the report's hash is empty (a cross-origin script
    /// fetched without CORS: the browser cannot hash what it may not read) or not a hash.
    pub hash: Option<String>,
}

impl ScriptRef {
    /// The script a `csp-hash` report's body names.
    pub fn of(body: &Body) -> Self {
        let mut url = origin_and_path(body.str_of("subresourceURL").unwrap_or(""));
        if url.is_empty() {
            url.push('-');
        }
        Self {
            destination: destination(body.str_of("destination").unwrap_or("")),
            url,
            hash: body.str_of("hash").and_then(valid_hash),
        }
    }

    /// The group key's parts after the type: destination, URL, hash (`-` when unknown).
    pub(crate) fn key_parts(&self) -> [&str; 3] {
        [
            &self.destination,
            &self.url,
            self.hash.as_deref().unwrap_or("-"),
        ]
    }

    /// Reads back the group of a `csp-hash` report (`csp-hash {destination} {url} {hash}`);
    /// `None` for any other group, or one written before the hash was part of it.
    pub fn from_group(group: &str) -> Option<Self> {
        let rest = group.strip_prefix("csp-hash ")?;
        let (destination, rest) = rest.split_once(' ')?;
        let (url, hash) = rest.rsplit_once(' ')?;
        let hash = match hash {
            "-" => None,
            h => Some(valid_hash(h)?),
        };
        Some(Self {
            destination: destination.to_owned(),
            url: url.to_owned(),
            hash,
        })
    }

    /// A short stable name of the script's URL within its site (16 hex digits), for keys.
    pub fn url_id(&self) -> String {
        url_id(&self.url)
    }
}

/// A URL's origin and path, as script and page URLs are kept (the query and fragment cut).
pub fn origin_and_path(url: &str) -> String {
    let mut out = String::new();
    push_origin_and_path(&mut out, url);
    cut(&mut out, MAX_GROUP_PART_BYTES);
    out
}

/// A short stable name of a script URL (16 hex digits), for keys.
pub fn url_id(url: &str) -> String {
    fingerprint(url)
}

/// `s` when it is a SHA-2 hash source as CSP writes them (`sha256-` and the padded base64 of
/// 32 bytes; 48 for `sha384-`, 64 for `sha512-`).
pub fn valid_hash(s: &str) -> Option<String> {
    let (alg, b64) = s.split_once('-')?;
    let bytes: usize = match alg {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => return None,
    };
    let len = bytes.div_ceil(3) * 4;
    let ok = b64.len() == len
        && b64.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || (b == b'=' && i >= len - 2)
        })
        && b64.trim_end_matches('=').len() == (bytes * 4).div_ceil(3);
    ok.then(|| s.to_owned())
}

/// A destination as reported when it is a short lower-case word (`script`, `style`,
/// `audioworklet`), else `other`.
fn destination(s: &str) -> String {
    if !s.is_empty() && s.len() <= 24 && s.bytes().all(|b| b.is_ascii_lowercase()) {
        s.to_owned()
    } else {
        "other".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: &str = "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=";

    fn of(v: serde_json::Value) -> ScriptRef {
        ScriptRef::of(&Body::from(v))
    }

    #[test]
    fn a_script_is_its_origin_path_and_hash() {
        let s = of(
            json!({"subresourceURL": "https://Shop.example/s/widget.js?v=3#x",
                          "hash": H, "type": "subresource", "destination": "script"}),
        );
        assert_eq!(s.url, "https://shop.example/s/widget.js");
        assert_eq!(s.hash.as_deref(), Some(H));
        assert_eq!(s.destination, "script");
    }

    #[test]
    fn only_a_real_hash_is_kept() {
        assert!(valid_hash(H).is_some());
        let h384 = format!("sha384-{}", "A".repeat(64));
        assert!(valid_hash(&h384).is_some());
        let h512 = format!("sha512-{}==", "A".repeat(86));
        assert!(valid_hash(&h512).is_some());
        for bad in [
            "",
            "sha256-",
            "md5-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=",
            "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOk=",
            "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOk s=",
            "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bG=ks=",
            "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=;rm",
        ] {
            assert_eq!(valid_hash(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_empty_or_forged_hash_is_unknown_and_the_destination_a_word() {
        let s = of(
            json!({"subresourceURL": "https://cdn.example/a.js", "hash": "",
                          "destination": "script\nX"}),
        );
        assert_eq!(s.hash, None);
        assert_eq!(s.destination, "other");
        assert_eq!(of(json!({})).url, "-");
    }

    #[test]
    fn the_group_reads_back_even_with_spaces_in_the_url() {
        for s in [
            of(
                json!({"subresourceURL": "https://shop.example/a b/c.js", "hash": H,
                      "destination": "script"}),
            ),
            of(json!({"subresourceURL": "https://cdn.example/x.js", "destination": "script"})),
        ] {
            let group = format!("csp-hash {}", s.key_parts().join(" "));
            assert_eq!(ScriptRef::from_group(&group), Some(s));
        }
        assert_eq!(
            ScriptRef::from_group("csp-hash script https://a.example/x.js"),
            None
        );
        assert_eq!(ScriptRef::from_group("csp-violation script-src x y"), None);
    }
}
