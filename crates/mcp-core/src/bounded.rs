//! The one rule for text a client chose that ends up in the audit log or the server log (user
//! names, user agents, paths, methods, header values, …): at most [`MAX_TEXT_BYTES`] bytes.
//!
//! Longer text keeps its beginning, cut at a character boundary, and ends in a marker saying how
//! many bytes were cut, so the result is still at most [`MAX_TEXT_BYTES`] and a reader sees that
//! it was cut.
//!
//! ```
//! use mcp_core::bounded::{MAX_TEXT_BYTES, text};
//!
//! assert_eq!(text("alice"), "alice");
//! let long = "x".repeat(100_000);
//! let cut = text(&long);
//! assert!(cut.len() <= MAX_TEXT_BYTES);
//! assert!(cut.starts_with("xxxx") && cut.ends_with("bytes cut]"));
//! ```

use std::borrow::Cow;

/// The most bytes (UTF-8) a client-chosen text keeps in logs and audit events.
pub const MAX_TEXT_BYTES: usize = 512;

/// `s` if it is at most [`MAX_TEXT_BYTES`] bytes, else its beginning and a `…[N bytes cut]`
/// marker, [`MAX_TEXT_BYTES`] bytes at most in all.
pub fn text(s: &str) -> Cow<'_, str> {
    truncate(s, MAX_TEXT_BYTES)
}

/// [`text`] for an owned string: no copy when it is short enough.
pub fn text_owned(s: String) -> String {
    match text(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(cut) => cut,
    }
}

/// `s` cut to at most `max` bytes the way [`text`] cuts (for the few places with a tighter
/// bound, such as metric label values). With `max` too small for the marker, the text is cut
/// without one.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    // The marker's digits depend on how much is cut, which depends on the marker: the widest
    // count (all of `s`) is a safe reservation.
    let widest = format!("…[{} bytes cut]", s.len());
    let keep = if widest.len() < max {
        max - widest.len()
    } else {
        let end = floor_char_boundary(s, max);
        return Cow::Owned(s[..end].to_owned());
    };
    let end = floor_char_boundary(s, keep);
    Cow::Owned(format!("{}…[{} bytes cut]", &s[..end], s.len() - end))
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_as_it_is() {
        assert!(matches!(text("GET"), Cow::Borrowed("GET")));
        let exact = "a".repeat(MAX_TEXT_BYTES);
        assert_eq!(text(&exact), exact);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_a_marker() {
        for len in [MAX_TEXT_BYTES + 1, 10_000, 1 << 20] {
            let long = "é".repeat(len);
            let cut = text(&long);
            assert!(cut.len() <= MAX_TEXT_BYTES, "{}", cut.len());
            let kept = cut.split('…').next().unwrap();
            assert!(long.starts_with(kept));
            assert!(
                cut.ends_with(&format!("[{} bytes cut]", long.len() - kept.len())),
                "{cut}"
            );
        }
    }

    #[test]
    fn a_tiny_bound_cuts_without_a_marker() {
        assert_eq!(truncate("abcdefgh", 4), "abcd");
        assert_eq!(truncate("ééé", 3), "é");
    }

    #[test]
    fn owned_text_is_not_copied_when_short() {
        let s = String::from("fine");
        let ptr = s.as_ptr();
        let kept = text_owned(s);
        assert_eq!(kept.as_ptr(), ptr);
    }
}
