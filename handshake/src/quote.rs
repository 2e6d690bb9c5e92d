//! Bounded quoting of peer input in reasons, log lines and reports.
//!
//! A peer chooses how many suites, extensions or names it sends and how
//! long each is; whatever we write about them (an error reason, a log
//! field, a gRPC status message) must stay small whatever it sent. These
//! helpers quote the first few items or bytes and say how much was left
//! out, in time linear in what they quote, not in the input.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};

/// How many items of a list are quoted before "… and N more".
pub const MAX_ITEMS: usize = 16;

/// The longest text quoted whole, in bytes; longer text is cut at a
/// character boundary and marked.
pub const MAX_TEXT: usize = 256;

/// The longest error reason kept, in bytes (see [`crate::Error::new`]):
/// one line a person reads, small enough for a gRPC status message.
pub const MAX_REASON: usize = 768;

/// The first [`MAX_ITEMS`] of `items`, `Debug`-formatted and separated by
/// `", "`, then "… and N more" if there were more.
pub fn list<T: fmt::Debug>(items: &[T]) -> String {
    list_with(items, MAX_ITEMS, |i, out| write!(out, "{i:?}"))
}

/// Like [`list`], quoting at most `max` items, each written by `item`.
pub fn list_with<T>(
    items: &[T],
    max: usize,
    mut item: impl FnMut(&T, &mut String) -> fmt::Result,
) -> String {
    let mut out = String::new();
    for (n, i) in items.iter().take(max).enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        // Writing into a String cannot fail.
        let _ = item(i, &mut out);
    }
    if items.len() > max {
        let _ = write!(out, ", … and {} more", items.len() - max);
    }
    out
}

/// `text` whole if it is at most `max` bytes, else its first `max` bytes
/// (cut back to a character boundary) and "… (N bytes more)".
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!(
        "{}… ({} bytes more)",
        &text[..cut],
        text.len() - cut
    ))
}

/// Bytes from the peer shown as text: lossy UTF-8, at most [`MAX_TEXT`]
/// bytes of it.
pub fn bytes(b: &[u8]) -> String {
    let shown = &b[..b.len().min(MAX_TEXT)];
    let mut out = String::from_utf8_lossy(shown).into_owned();
    if b.len() > shown.len() {
        let _ = write!(out, "… ({} bytes more)", b.len() - shown.len());
    }
    out
}

/// A `Display` wrapper that quotes at most [`MAX_TEXT`] bytes of `T`'s
/// text: for formatting a value of unknown length into a reason.
pub struct Short<T>(pub T);

impl<T: Display> Display for Short<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&truncate(&self.0.to_string(), MAX_TEXT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_is_cut_and_counted() {
        let items: Vec<u16> = (0..1000).collect();
        let s = list(&items);
        assert!(s.starts_with("0, 1, 2"), "{s}");
        assert!(s.ends_with(", … and 984 more"), "{s}");
        assert!(!s.contains("16,"), "{s}");
        assert_eq!(list(&[1, 2]), "1, 2");
        assert_eq!(list::<u8>(&[]), "");
    }

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(100); // 200 bytes
        let t = truncate(&long, 5);
        assert_eq!(t, "éé… (196 bytes more)");
        let b = bytes(&vec![b'a'; MAX_TEXT + 10]);
        assert!(b.ends_with("… (10 bytes more)"), "{b}");
        assert_eq!(
            Short("x".repeat(1000)).to_string().len(),
            MAX_TEXT + "… (744 bytes more)".len()
        );
    }
}
