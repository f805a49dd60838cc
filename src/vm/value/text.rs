//! A string object's text: short strings inside the object, longer ones in
//! a separate allocation; ASCII strings marked as such.
//!
//! Owns: [`Text`]. May not touch: anything above the value layer.
//!
//! Every heap object is one box of the same size, as large as the largest
//! kind of object (a map's table). A string's text used to live in a second
//! allocation pointed to from that box, leaving most of the box unused; now
//! up to [`INLINE`] bytes sit in the box itself, so making (and freeing) a
//! short string is one allocation instead of two — what CPython does for
//! every string (its `PyASCIIObject` header is followed by the characters).
//!
//! Indexing and `len` count characters, not bytes. For a string known to be
//! ASCII (one byte per character, flagged when the text is made) both are
//! O(1); other strings walk their UTF-8, as before.

use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most bytes kept inside the object.
pub const INLINE: usize = 61;

/// A string's text: immutable to scripts. The one change is
/// [`Text::push_text`], which the VM makes only to a string nothing else
/// holds (`s += x` on a string only `s` refers to), so no one can see it.
pub struct Text {
    /// The content's hash ([`Text::content_hash`]), 0 until first asked
    /// for; reset by the in-place appends, which change the content.
    hash: AtomicU64,
    repr: Repr,
}

enum Repr {
    Inline {
        len: u8,
        ascii: bool,
        bytes: [u8; INLINE],
    },
    /// Made with exactly its length; appending grows it by doubling.
    Heap {
        ascii: bool,
        text: String,
    },
}

/// The seed of every string's [`Text::content_hash`], drawn once per
/// process so collisions cannot be precomputed.
fn content_hasher() -> &'static foldhash::fast::FixedState {
    static HASHER: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    HASHER.get_or_init(|| {
        foldhash::fast::FixedState::with_seed(foldhash::fast::RandomState::default().hash_one(0u64))
    })
}

impl Text {
    #[inline]
    fn new(repr: Repr) -> Text {
        Text { hash: AtomicU64::new(0), repr }
    }

    /// A hash of the characters, the same for equal texts, computed on
    /// first use and kept in the object (as CPython keeps a `str`'s hash):
    /// a string used as a map key again and again is hashed once. Never
    /// 0 (0 marks "not computed yet").
    #[inline]
    pub fn content_hash(&self) -> u64 {
        // Relaxed is enough: the value is a pure function of the bytes,
        // which cannot change while the text is shared (appends need
        // `&mut`), so any thread computing it stores the same number.
        let known = self.hash.load(Ordering::Relaxed);
        if known != 0 {
            return known;
        }
        self.compute_hash()
    }

    #[cold]
    fn compute_hash(&self) -> u64 {
        let hash = content_hasher().hash_one(self.as_bytes()).max(1);
        self.hash.store(hash, Ordering::Relaxed);
        hash
    }

    /// The content changes: forget its hash.
    #[inline]
    fn forget_hash(&mut self) {
        *self.hash.get_mut() = 0;
    }

    /// The text as a `str`.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.repr {
            Repr::Inline { len, bytes, .. } => {
                // SAFETY: `bytes[..len]` was copied from a `str` in
                // `Text::from` and never changed, so it is valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(&bytes[..*len as usize]) }
            }
            Repr::Heap { text, .. } => text,
        }
    }

    /// Whether every character is ASCII (one byte each).
    #[inline]
    pub fn is_ascii(&self) -> bool {
        match self.repr {
            Repr::Inline { ascii, .. } | Repr::Heap { ascii, .. } => ascii,
        }
    }

    /// The heap bytes the text holds outside its object.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => 0,
            Repr::Heap { text, .. } => text.capacity(),
        }
    }

    /// Whether `extra` more bytes fit without a new allocation (inside
    /// the object, or in the heap part's spare capacity): then an append
    /// of that many bytes grows the heap by nothing, and needs neither the
    /// heap limit's check nor a recount.
    #[inline]
    pub fn has_room(&self, extra: usize) -> bool {
        match &self.repr {
            Repr::Inline { len, .. } => *len as usize + extra <= INLINE,
            Repr::Heap { text, .. } => text.capacity() - text.len() >= extra,
        }
    }

    /// Append `tail` in place (see [`Text`] for when this is allowed):
    /// inside the object while it fits, else on the heap, whose capacity
    /// doubles as CPython's in-place `+=` does, so a loop of appends
    /// copies each byte a bounded number of times.
    pub fn push_text(&mut self, tail: &Text) {
        self.forget_hash();
        let ascii = self.is_ascii() && tail.is_ascii();
        let len = self.len() + tail.len();
        match &mut self.repr {
            Repr::Inline { len: short, ascii: flag, bytes } if len <= INLINE => {
                bytes[*short as usize..len].copy_from_slice(tail.as_bytes());
                *short = len as u8;
                *flag = ascii;
            }
            Repr::Heap { ascii: flag, text } => {
                text.push_str(tail);
                *flag = ascii;
            }
            Repr::Inline { .. } => {
                let mut text = String::with_capacity(len * 2);
                text.push_str(self.as_str());
                text.push_str(tail);
                self.repr = Repr::Heap { ascii, text };
            }
        }
    }

    /// Put `head` in front of the text, in place (allowed when
    /// [`Text::push_text`] is): `" " + str(x)` on the temporary `str(x)`.
    /// Inside the object while the sum fits, else on the heap.
    pub fn push_front_text(&mut self, head: &Text) {
        self.forget_hash();
        let ascii = self.is_ascii() && head.is_ascii();
        let (old, add) = (self.len(), head.len());
        let len = old + add;
        match &mut self.repr {
            Repr::Inline { len: short, ascii: flag, bytes } if len <= INLINE => {
                bytes.copy_within(..old, add);
                bytes[..add].copy_from_slice(head.as_bytes());
                *short = len as u8;
                *flag = ascii;
            }
            Repr::Heap { ascii: flag, text } => {
                text.insert_str(0, head);
                *flag = ascii;
            }
            Repr::Inline { .. } => {
                let mut text = String::with_capacity(len);
                text.push_str(head);
                text.push_str(self.as_str());
                self.repr = Repr::Heap { ascii, text };
            }
        }
    }

    /// How many characters: O(1) for ASCII text.
    #[inline]
    pub fn char_count(&self) -> usize {
        if self.is_ascii() { self.len() } else { self.chars().count() }
    }

    /// `a` followed by `b`, in one allocation at most (none when short).
    pub fn concat(a: &Text, b: &Text) -> Text {
        let (x, y) = (a.as_str(), b.as_str());
        let ascii = a.is_ascii() && b.is_ascii();
        let len = x.len() + y.len();
        if len <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..x.len()].copy_from_slice(x.as_bytes());
            bytes[x.len()..len].copy_from_slice(y.as_bytes());
            return Text::new(Repr::Inline { len: len as u8, ascii, bytes });
        }
        let mut joined = String::with_capacity(len);
        joined.push_str(x);
        joined.push_str(y);
        Text::new(Repr::Heap { ascii, text: joined })
    }

    /// The character at `at` (counted in characters), as a string slice:
    /// O(1) for ASCII text.
    pub fn char_at(&self, at: usize) -> Option<&str> {
        let s = self.as_str();
        if self.is_ascii() {
            return s.get(at..at + 1);
        }
        let (start, c) = s.char_indices().nth(at)?;
        Some(&s[start..start + c.len_utf8()])
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        let ascii = s.is_ascii();
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            return Text::new(Repr::Inline { len: s.len() as u8, ascii, bytes });
        }
        Text::new(Repr::Heap { ascii, text: s.to_owned() })
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.len() <= INLINE {
            return Text::from(s.as_str());
        }
        Text::new(Repr::Heap { ascii: s.is_ascii(), text: s.into_boxed_str().into_string() })
    }
}

impl From<Box<str>> for Text {
    fn from(s: Box<str>) -> Text {
        if s.len() <= INLINE {
            return Text::from(&*s);
        }
        Text::new(Repr::Heap { ascii: s.is_ascii(), text: s.into_string() })
    }
}

impl Deref for Text {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    /// Lengths first, then the bytes; a short text's bytes are compared in
    /// line, because a call to `memcmp` costs more than comparing a word's
    /// or a character's few bytes (`c == "a"` in a loop over a string).
    #[inline]
    fn eq(&self, other: &Text) -> bool {
        let (a, b) = (self.as_str().as_bytes(), other.as_str().as_bytes());
        if a.len() != b.len() {
            return false;
        }
        if a.len() <= SHORT_COMPARE {
            return a.iter().zip(b).all(|(x, y)| x == y);
        }
        a == b
    }
}

/// Texts up to this many bytes compare byte by byte in line.
const SHORT_COMPARE: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_inline_and_long_text_on_the_heap() {
        let short = Text::from("héllo");
        assert_eq!(&*short, "héllo");
        assert_eq!(short.heap_bytes(), 0);
        assert!(!short.is_ascii());
        assert_eq!(short.char_count(), 5);
        assert_eq!(short.char_at(1), Some("é"));
        assert_eq!(short.char_at(5), None);
        let edge = "x".repeat(INLINE);
        assert_eq!(Text::from(edge.clone()).heap_bytes(), 0);
        let long = Text::from(format!("{edge}y"));
        assert_eq!(long.heap_bytes(), INLINE + 1);
        assert!(long.is_ascii());
        assert_eq!(long.char_at(INLINE), Some("y"));
        assert_eq!(long.char_count(), INLINE + 1);
        assert!(Text::from("") == Text::from(String::new()));
        let joined = Text::concat(&short, &long);
        assert_eq!(&*joined, format!("héllo{edge}y"));
        assert!(!joined.is_ascii());
        assert_eq!(joined.char_count(), 5 + INLINE + 1);
        let small = Text::concat(&Text::from("ab"), &Text::from("c"));
        assert_eq!((&*small, small.heap_bytes(), small.is_ascii()), ("abc", 0, true));
    }

    #[test]
    fn appending_in_place_matches_concatenation() {
        let mut text = Text::from("ab");
        let mut expected = String::from("ab");
        for piece in ["c", "é", &"x".repeat(INLINE), "yz"] {
            let tail = Text::from(piece);
            let joined = Text::concat(&text, &tail);
            text.push_text(&tail);
            expected.push_str(piece);
            assert_eq!(&*text, expected);
            assert!(text == joined);
            assert_eq!(text.is_ascii(), joined.is_ascii());
            assert_eq!(text.char_count(), expected.chars().count());
        }
        assert!(text.heap_bytes() >= text.len());
        let mut short = Text::from("a");
        short.push_text(&Text::from("b"));
        assert_eq!((&*short, short.heap_bytes(), short.is_ascii()), ("ab", 0, true));
    }

    #[test]
    fn putting_text_in_front_matches_concatenation() {
        let mut text = Text::from("yz");
        let mut expected = String::from("yz");
        for piece in ["c", "é", &"x".repeat(INLINE), "ab", ""] {
            let head = Text::from(piece);
            let joined = Text::concat(&head, &text);
            text.push_front_text(&head);
            expected.insert_str(0, piece);
            assert_eq!(&*text, expected);
            assert!(text == joined);
            assert_eq!(text.is_ascii(), joined.is_ascii());
            assert_eq!(text.char_count(), expected.chars().count());
        }
        let mut room = Text::from("x".repeat(INLINE - 1));
        assert!(room.has_room(1) && !room.has_room(2));
        room.push_text(&Text::from("yz"));
        let spare = room.heap_bytes() - room.len();
        assert!(spare > 0 && room.has_room(spare) && !room.has_room(spare + 1));
        let mut short = Text::from("1");
        short.push_front_text(&Text::from(" "));
        assert_eq!((&*short, short.heap_bytes(), short.is_ascii()), (" 1", 0, true));
    }

    #[test]
    fn the_kept_hash_follows_the_content() {
        let mut text = Text::from("ab");
        let first = text.content_hash();
        assert_eq!(first, Text::from("ab").content_hash());
        text.push_text(&Text::from("c"));
        assert_eq!(text.content_hash(), Text::from("abc").content_hash());
        text.push_front_text(&Text::from("x".repeat(INLINE).as_str()));
        let expected = Text::from(format!("{}abc", "x".repeat(INLINE)));
        assert_eq!(text.content_hash(), expected.content_hash());
        assert_ne!(text.content_hash(), 0);
    }

    #[test]
    fn a_text_fits_beside_the_largest_object() {
        assert!(std::mem::size_of::<Text>() <= 72);
    }
}
