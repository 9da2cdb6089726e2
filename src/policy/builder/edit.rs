//! Where a source goes (rule 6 of [`super`]): the effective directive if the policy has it,
//! else its parent, else a new directive seeded with the sources of the one that governed it.

use crate::policy::directives::{Directive, Policy};
use crate::policy::source::{FetchDirective, Source};

/// The directive that a source for `effective` goes in, as [`edit`] would choose it.
pub(super) fn target_name(policy: &Policy, effective: &str) -> String {
    if policy.get(effective).is_some() {
        return effective.to_owned();
    }
    parent(effective).unwrap_or(effective).to_owned()
}

/// `script-src` for `script-src-elem` and `-attr`, `style-src` likewise.
fn parent(effective: &str) -> Option<&'static str> {
    match effective {
        "script-src-elem" | "script-src-attr" => Some("script-src"),
        "style-src-elem" | "style-src-attr" => Some("style-src"),
        _ => None,
    }
}

/// The directives that governed `name` when it is absent, in CSP's fallback order.
fn fallbacks(name: &str) -> &'static [&'static str] {
    match name {
        "script-src" | "style-src" | "img-src" | "font-src" | "media-src" | "object-src"
        | "manifest-src" | "connect-src" | "child-src" => &["default-src"],
        "frame-src" => &["child-src", "default-src"],
        "worker-src" => &["child-src", "script-src", "default-src"],
        _ => &[],
    }
}

/// What adding a source to a policy did.
pub(super) enum Edit {
    /// Added; to a new directive seeded from this one's sources, if any.
    Added { seeded_from: Option<String> },
    /// The directive already allowed it.
    AlreadyThere,
    /// The policy does not restrict the directive at all: nothing to add to.
    NotRestricted,
}

/// Adds `source` where it allows `effective`.
pub(super) fn edit(policy: &mut Policy, effective: FetchDirective, source: &Source) -> Edit {
    let name = target_name(policy, effective.name());
    if let Some(d) = policy.get_mut(&name) {
        return if d.add(source) {
            Edit::Added { seeded_from: None }
        } else {
            Edit::AlreadyThere
        };
    }
    let Some(from) = fallbacks(&name).iter().find_map(|f| policy.get(f)).cloned() else {
        return Edit::NotRestricted;
    };
    let mut created = Directive {
        name: name.clone(),
        sources: from.sources.clone(),
    };
    created.add(source);
    policy.directives.push(created);
    Edit::Added {
        seeded_from: Some(from.name),
    }
}
