//! Pfn grants: physical ranges the manifest names and grants to
//! programs, which map them in place with no per-frame records. Here are
//! the views a client may ask for and the sets of views a grant allows;
//! used by the memory-server protocol and by the manifest.
//!
//! A range is either the frames of a boot-archive data entry (never
//! written in place) or contiguous storage the memory server keeps out
//! of its pool at boot (zeroed). Nothing else can be granted: not the
//! kernel's frames, the server's, or any client's.

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
}

/// A set of views: what a pfn grant allows.
pub type PfnModes = crate::modes::Set<PfnMode>;

impl crate::modes::Mode for PfnMode {
    const ALL: &'static [PfnMode] = &PfnMode::ALL;

    fn short(self) -> &'static str {
        PfnMode::short(self)
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
