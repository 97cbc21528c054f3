//! Shared segments: their names, the modes a client attaches one in, and
//! the sets of modes a grant allows. Used by the memory-server protocol
//! and by the manifest.

use core::fmt;
use serde::{Deserialize, Serialize};

/// Longest segment or client name in a [`Name`].
pub const MAX_NAME: usize = 28;

/// A segment's name, or the program name a grant names: 1 to
/// [`MAX_NAME`] letters, digits, `_` or `-`, padded with zero bytes.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name([u8; MAX_NAME]);

impl Name {
    /// `text` as a name, if it is one.
    pub fn new(text: &str) -> Option<Name> {
        let ok = (1..=MAX_NAME).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| {
            let mut bytes = [0; MAX_NAME];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Name(bytes)
        })
    }

    /// The name as text (empty if the bytes are not a name: a malformed
    /// message).
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(MAX_NAME);
        core::str::from_utf8(&self.0[..len]).unwrap_or("")
    }

    /// Whether the bytes are a name [`Name::new`] would make (a decoded
    /// message may hold anything).
    pub fn is_valid(&self) -> bool {
        Name::new(self.as_str()).is_some_and(|n| n == *self)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a client attaches a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachMode {
    /// SR: shared read-only; a store kills the client.
    SharedRead,
    /// SW: shared writable; every attacher sees every write at once.
    SharedWrite,
    /// EW: exclusive writable, a private copy-on-write view: the
    /// attacher's writes are its own (the MiB written is unshared for it,
    /// as after a fork); pages it has not written show the segment as it
    /// is now.
    ExclusiveWrite,
}

impl AttachMode {
    pub const ALL: [AttachMode; 3] = [
        AttachMode::SharedRead,
        AttachMode::SharedWrite,
        AttachMode::ExclusiveWrite,
    ];

    /// The mode's short name as the manifest writes it.
    pub fn short(self) -> &'static str {
        match self {
            AttachMode::SharedRead => "sr",
            AttachMode::SharedWrite => "sw",
            AttachMode::ExclusiveWrite => "ew",
        }
    }

    /// Whether the attacher may store into the segment.
    pub fn writable(self) -> bool {
        self != AttachMode::SharedRead
    }
}

/// A set of attach modes: what a segment grant allows.
pub type Modes = crate::modes::Set<AttachMode>;

impl crate::modes::Mode for AttachMode {
    const ALL: &'static [AttachMode] = &AttachMode::ALL;

    fn short(self) -> &'static str {
        AttachMode::short(self)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(Name::new("ro-data_1").unwrap().as_str(), "ro-data_1");
        assert!(Name::new("").is_none());
        assert!(Name::new("a b").is_none());
        assert!(Name::new(&"x".repeat(MAX_NAME + 1)).is_none());
        assert!(Name::new(&"x".repeat(MAX_NAME)).is_some());
        let mut bad = Name::new("ok").unwrap();
        bad.0[5] = b'z';
        assert!(!bad.is_valid());
    }

    #[test]
    fn modes_parse_and_print() {
        let m = Modes::parse("sr+ew").unwrap();
        assert!(m.contains(AttachMode::SharedRead));
        assert!(!m.contains(AttachMode::SharedWrite));
        assert!(m.contains(AttachMode::ExclusiveWrite));
        assert_eq!(std::format!("{m}"), "sr+ew");
        assert_eq!(Modes::parse("sr+xx"), None);
        assert_eq!(Modes::parse(""), None);
    }
}
