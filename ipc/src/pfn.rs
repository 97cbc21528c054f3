//! Pfn grants: physical ranges the manifest names and grants to
//! programs, which map them in place with no per-frame records. Here are
//! the views a client may ask for and the sets of views a grant allows;
//! used by the memory-server protocol and by the manifest.
//!
//! A range is either the frames of a boot-archive data entry (never
//! written in place) or contiguous storage the memory server keeps out
//! of its pool at boot (zeroed). Nothing else can be granted: not the
//! kernel's frames, the server's, or any client's.

use core::fmt;
use serde::{Deserialize, Serialize};

/// How a client maps a granted range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfnMode {
    /// The range's frames, read-only; a store kills the client.
    ReadOnly,
    /// The range's frames, writable in place: every client mapping it
    /// `rw` sees every write at once. Only kept storage, never an
    /// archive file.
    ReadWrite,
    /// A private writable view: it reads the range's frames until it
    /// writes a page, which copies that page into an anonymous frame of
    /// its own (charged to its family); its writes are seen by nobody
    /// else. Pages it has not written show the range as it is now.
    Private,
}

impl PfnMode {
    pub const ALL: [PfnMode; 3] = [PfnMode::ReadOnly, PfnMode::ReadWrite, PfnMode::Private];

    /// The mode's name as the manifest writes it.
    pub fn short(self) -> &'static str {
        match self {
            PfnMode::ReadOnly => "ro",
            PfnMode::ReadWrite => "rw",
            PfnMode::Private => "private",
        }
    }

    /// Whether the client may store into the mapping (in place or into
    /// its private copies).
    pub fn writable(self) -> bool {
        self != PfnMode::ReadOnly
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of views: what a pfn grant allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfnModes(u8);

impl PfnModes {
    pub const NONE: PfnModes = PfnModes(0);
    pub const ALL: PfnModes = PfnModes(7);

    /// The set holding `modes`.
    pub fn of(modes: &[PfnMode]) -> PfnModes {
        PfnModes(modes.iter().fold(0, |m, a| m | a.bit()))
    }

    pub fn contains(self, mode: PfnMode) -> bool {
        self.0 & mode.bit() != 0
    }

    /// Both sets together.
    pub fn union(self, other: PfnModes) -> PfnModes {
        PfnModes((self.0 | other.0) & Self::ALL.0)
    }

    /// Parses `ro`, `rw`, `private` joined by `+` ("ro+private").
    pub fn parse(text: &str) -> Option<PfnModes> {
        let mut modes = PfnModes::NONE;
        for word in text.split('+') {
            let mode = PfnMode::ALL.into_iter().find(|m| m.short() == word)?;
            modes = modes.union(PfnModes::of(&[mode]));
        }
        Some(modes)
    }
}

impl fmt::Display for PfnModes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for mode in PfnMode::ALL.into_iter().filter(|m| self.contains(*m)) {
            if !first {
                f.write_str("+")?;
            }
            f.write_str(mode.short())?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        let m = PfnModes::parse("ro+private").unwrap();
        assert!(m.contains(PfnMode::ReadOnly));
        assert!(!m.contains(PfnMode::ReadWrite));
        assert!(m.contains(PfnMode::Private));
        assert_eq!(std::format!("{m}"), "ro+private");
        assert_eq!(
            std::format!("{}", PfnModes::parse("private+rw+ro").unwrap()),
            "ro+rw+private"
        );
        assert_eq!(PfnModes::parse("ro+sw"), None);
        assert_eq!(PfnModes::parse(""), None);
        assert_eq!(PfnModes::parse("ro+"), None);
        assert!(!PfnMode::ReadOnly.writable() && PfnMode::Private.writable());
    }
}
