//! The boot archive: how programs and configuration reach the guest.
//!
//! QEMU loads the `-initrd` file at [`LOAD_ADDRESS`] for an ELF kernel but
//! tells the kernel neither its size nor a command line, so the archive
//! describes itself. All integers are big-endian.
//!
//! ```text
//! offset  size  header
//!      0     8  magic "ZPGRBOOT"
//!      8     2  version (1)
//!     10     2  header length (32)
//!     12     4  number of entries
//!     16     4  total length of the archive in bytes
//!     20     4  FNV-1a checksum of bytes 32..total length
//!     24     8  reserved, zero
//!
//!     32  48*n  entry table; each entry:
//!                 0  32  name, UTF-8, NUL-padded, at least one byte
//!                32   4  kind (1 config, 2 program, 3 data)
//!                36   4  reserved, zero
//!                40   4  payload offset from the archive start
//!                44   4  payload length
//! ```
//!
//! Every payload starts on a [`PAYLOAD_ALIGN`] boundary, so a program's
//! pages can later be mapped straight from the archive's frames.

use core::fmt;

/// Physical address where QEMU places the `-initrd` file.
pub const LOAD_ADDRESS: u64 = 0x80_0000;
/// Archive magic.
pub const MAGIC: [u8; 8] = *b"ZPGRBOOT";
/// The only version this code reads and writes.
pub const VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 32;
/// Size of one entry-table record.
pub const ENTRY_LEN: usize = 48;
/// Longest entry name in bytes.
pub const NAME_LEN: usize = 32;
/// Payload alignment (one frame).
pub const PAYLOAD_ALIGN: usize = 4096;
/// Upper bound on entries, so a corrupt count cannot make a reader walk far.
pub const MAX_ENTRIES: u32 = 256;
/// Name of the entry holding the boot configuration.
pub const CONFIG_ENTRY: &str = "config";

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Boot configuration text (see [`crate::bootconfig`]).
    Config,
    /// An s390x ELF program.
    Program,
    /// Opaque data.
    Data,
}

impl EntryKind {
    /// The code stored in the entry table.
    pub const fn code(self) -> u32 {
        match self {
            EntryKind::Config => 1,
            EntryKind::Program => 2,
            EntryKind::Data => 3,
        }
    }

    /// The kind stored as `code`.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(EntryKind::Config),
            2 => Some(EntryKind::Program),
            3 => Some(EntryKind::Data),
            _ => None,
        }
    }
}

/// Why an archive was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// Fewer bytes than a header.
    Truncated { available: usize },
    /// The magic is wrong: no archive was loaded, or something else was.
    BadMagic { found: [u8; 8] },
    /// A version this kernel does not read.
    UnsupportedVersion { found: u16 },
    /// The header length field is not [`HEADER_LEN`].
    BadHeaderLength { found: u16 },
    /// The reserved header bytes are not zero.
    ReservedNotZero,
    /// The declared total length is impossible or beyond the readable bytes.
    BadTotalLength { declared: u32, available: usize },
    /// More entries than [`MAX_ENTRIES`] or than fit in the archive.
    BadEntryCount { count: u32 },
    /// The checksum does not match the contents.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// An entry's name is empty, not NUL-padded or not UTF-8.
    BadName { index: u32 },
    /// An entry's kind is unknown.
    UnknownKind { index: u32, kind: u32 },
    /// An entry's payload is misaligned, overlaps the table or leaves the archive.
    BadPayload { index: u32 },
    /// Two entries share a name.
    DuplicateName { index: u32 },
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArchiveError::Truncated { available } => {
                write!(f, "only {available} bytes, shorter than the header")
            }
            ArchiveError::BadMagic { found } => write!(
                f,
                "bad magic {found:02x?} (expected \"ZPGRBOOT\"; was the archive passed with -initrd?)"
            ),
            ArchiveError::UnsupportedVersion { found } => {
                write!(f, "unsupported version {found} (this kernel reads {VERSION})")
            }
            ArchiveError::BadHeaderLength { found } => {
                write!(f, "header length {found}, expected {HEADER_LEN}")
            }
            ArchiveError::ReservedNotZero => write!(f, "reserved header bytes are not zero"),
            ArchiveError::BadTotalLength {
                declared,
                available,
            } => write!(
                f,
                "declared length {declared} does not fit the {available} readable bytes"
            ),
            ArchiveError::BadEntryCount { count } => write!(f, "impossible entry count {count}"),
            ArchiveError::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: header says {stored:#010x}, contents give {computed:#010x}"
            ),
            ArchiveError::BadName { index } => write!(f, "entry {index} has a malformed name"),
            ArchiveError::UnknownKind { index, kind } => {
                write!(f, "entry {index} has unknown kind {kind}")
            }
            ArchiveError::BadPayload { index } => {
                write!(f, "entry {index} payload is misaligned or out of bounds")
            }
            ArchiveError::DuplicateName { index } => {
                write!(f, "entry {index} repeats an earlier name")
            }
        }
    }
}

/// 32-bit FNV-1a; catches the corruption a stale or truncated file brings.
pub fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the total length from a header without validating anything else,
/// so a reader can learn how many bytes to map before calling [`Archive::parse`].
pub fn declared_length(header: &[u8]) -> Result<usize, ArchiveError> {
    if header.len() < HEADER_LEN {
        return Err(ArchiveError::Truncated {
            available: header.len(),
        });
    }
    check_magic(header)?;
    Ok(be_u32(header, 16) as usize)
}

fn check_magic(bytes: &[u8]) -> Result<(), ArchiveError> {
    let mut found = [0u8; 8];
    found.copy_from_slice(&bytes[..8]);
    if found != MAGIC {
        return Err(ArchiveError::BadMagic { found });
    }
    Ok(())
}

/// One entry of a validated archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's name.
    pub name: &'a str,
    /// What the entry holds.
    pub kind: EntryKind,
    /// Offset of the payload from the archive start (frame-aligned).
    pub offset: usize,
    /// The payload.
    pub data: &'a [u8],
}

/// A validated boot archive borrowed from memory.
#[derive(Clone, Copy, Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    count: u32,
}

impl<'a> Archive<'a> {
    /// Validates `bytes`, which may extend past the archive's end, and
    /// borrows the archive. Every entry is checked here, so iteration
    /// afterwards cannot fail.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArchiveError> {
        let total = declared_length(bytes)?;
        let version = be_u16(bytes, 8);
        if version != VERSION {
            return Err(ArchiveError::UnsupportedVersion { found: version });
        }
        let header_len = be_u16(bytes, 10);
        if header_len as usize != HEADER_LEN {
            return Err(ArchiveError::BadHeaderLength { found: header_len });
        }
        if bytes[24..HEADER_LEN].iter().any(|&b| b != 0) {
            return Err(ArchiveError::ReservedNotZero);
        }
        if total < HEADER_LEN || total > bytes.len() {
            return Err(ArchiveError::BadTotalLength {
                declared: total as u32,
                available: bytes.len(),
            });
        }
        let bytes = &bytes[..total];
        let count = be_u32(bytes, 12);
        let table_end = HEADER_LEN as u64 + u64::from(count) * ENTRY_LEN as u64;
        if count > MAX_ENTRIES || table_end > total as u64 {
            return Err(ArchiveError::BadEntryCount { count });
        }
        let stored = be_u32(bytes, 20);
        let computed = checksum(&bytes[HEADER_LEN..]);
        if stored != computed {
            return Err(ArchiveError::ChecksumMismatch { stored, computed });
        }
        let archive = Archive { bytes, count };
        for index in 0..count {
            let entry = archive.decode(index, table_end as usize)?;
            for earlier in 0..index {
                if archive.decode(earlier, table_end as usize)?.name == entry.name {
                    return Err(ArchiveError::DuplicateName { index });
                }
            }
        }
        Ok(archive)
    }

    fn decode(&self, index: u32, table_end: usize) -> Result<Entry<'a>, ArchiveError> {
        let bytes = self.bytes;
        let rec = &bytes[HEADER_LEN + index as usize * ENTRY_LEN..][..ENTRY_LEN];
        let raw_name = &rec[..NAME_LEN];
        let name_len = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if name_len == 0 || raw_name[name_len..].iter().any(|&b| b != 0) {
            return Err(ArchiveError::BadName { index });
        }
        let name = core::str::from_utf8(&raw_name[..name_len])
            .map_err(|_| ArchiveError::BadName { index })?;
        let kind_code = be_u32(rec, 32);
        let kind = EntryKind::from_code(kind_code).ok_or(ArchiveError::UnknownKind {
            index,
            kind: kind_code,
        })?;
        let offset = be_u32(rec, 40) as usize;
        let len = be_u32(rec, 44) as usize;
        if !offset.is_multiple_of(PAYLOAD_ALIGN)
            || offset < table_end
            || offset.checked_add(len).is_none_or(|end| end > bytes.len())
        {
            return Err(ArchiveError::BadPayload { index });
        }
        Ok(Entry {
            name,
            kind,
            offset,
            data: &bytes[offset..offset + len],
        })
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the archive holds no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries, in table order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        let table_end = HEADER_LEN + self.count as usize * ENTRY_LEN;
        // parse() validated every entry, so decode cannot fail here.
        (0..self.count).filter_map(move |i| self.decode(i, table_end).ok())
    }

    /// The entry called `name`.
    pub fn find(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|e| e.name == name)
    }
}

#[cfg(feature = "alloc")]
pub use writer::ArchiveBuilder;

#[cfg(feature = "alloc")]
mod writer;

#[cfg(all(test, feature = "alloc"))]
mod tests;
