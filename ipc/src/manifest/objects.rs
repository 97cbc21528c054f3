//! The boot objects a manifest declares on lines of their own, shared
//! segments (`segment`) and pfn ranges (`pfnrange`), and the client
//! options that grant them (`grant=`, `pfn=`). Both kinds are written
//! the same way and checked by the same code; [`Kind`] holds what
//! differs (the keyword, the limits, the words of the errors).

use super::parse_size;
use crate::modes::{Mode, Set};
use crate::segment::Name;

/// Where a boot object's pages come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentSource<'a> {
    /// The archive entry of that name, mapped in place.
    File(&'a str),
    /// This many bytes, rounded up by the server (whole MiB for a
    /// segment, pages for a pfn range).
    Size(u64),
}

/// A `segment` or `pfnrange` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootObject<'a> {
    pub name: &'a str,
    pub source: SegmentSource<'a>,
}

/// A `segment` line: a file's frames read in place, or an empty segment.
pub type SegmentSpec<'a> = BootObject<'a>;

/// A `pfnrange` line: `File` is an archive data entry's frames, read in
/// place; `Size` that many bytes (rounded up to pages) of contiguous
/// storage kept out of the pool at boot and zeroed.
pub type PfnRangeSpec<'a> = BootObject<'a>;

/// What differs between the two kinds of boot object.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    /// The line's first word.
    pub keyword: &'static str,
    /// Most such lines in a manifest.
    pub max_count: usize,
    /// Largest `size=`.
    pub max_bytes: u64,
    /// The mode a file (read in place) can never be granted.
    pub never_for_file: &'static str,
    pub bad_name: &'static str,
    pub bad_size: &'static str,
    pub expected: &'static str,
    pub extra_words: &'static str,
    pub size_range: &'static str,
    pub too_many: &'static str,
    pub duplicate: &'static str,
    pub grant_syntax: &'static str,
    pub grant_modes: &'static str,
    pub too_many_grants: &'static str,
    pub undeclared: &'static str,
    pub file_granted: &'static str,
}

/// Most `grant=` (or `pfn=`) options on one client line.
pub const MAX_CLIENT_GRANTS: usize = 8;

/// Most `pfn=` options on one client line.
pub const MAX_CLIENT_PFN_GRANTS: usize = MAX_CLIENT_GRANTS;

/// Most `segment` lines in a manifest.
pub const MAX_BOOT_SEGMENTS: usize = 16;

/// Largest empty boot segment: 1 TiB (the pool bounds it further).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 40;

/// Most `pfnrange` lines in a manifest.
pub const MAX_PFN_RANGES: usize = 16;

/// Largest kept pfn range: 1 TiB (the storage free at boot, in one
/// piece, bounds it further).
pub const MAX_PFN_RANGE_BYTES: u64 = 1 << 40;

pub const SEGMENT: Kind = Kind {
    keyword: "segment",
    max_count: MAX_BOOT_SEGMENTS,
    max_bytes: MAX_SEGMENT_BYTES,
    never_for_file: "sw",
    bad_name: "segment names are 1 to 28 letters, digits, `_` and `-`",
    bad_size: "segment size must be like 64M or 1G",
    expected: "expected `segment <name> file=<archive entry>` or `size=<N>[K|M|G|T]`",
    extra_words: "a segment line takes a name and one of file= or size=",
    size_range: "segment size must be from 1 byte to 1T",
    too_many: "more than 16 segments",
    duplicate: "two segments with one name",
    grant_syntax: "grant must be `grant=<segment>:<modes>`, modes sr, sw, ew joined by +",
    grant_modes: "grant modes are sr, sw, ew joined by +",
    too_many_grants: "more than 8 grants on one client line",
    undeclared: "grant names a segment no `segment` line declares",
    file_granted: "a file segment is read in place: it cannot be granted sw",
};

pub const PFN_RANGE: Kind = Kind {
    keyword: "pfnrange",
    max_count: MAX_PFN_RANGES,
    max_bytes: MAX_PFN_RANGE_BYTES,
    never_for_file: "rw",
    bad_name: "pfn range names are 1 to 28 letters, digits, `_` and `-`",
    bad_size: "pfn range size must be like 64K or 16M",
    expected: "expected `pfnrange <name> file=<archive entry>` or `size=<N>[K|M|G|T]`",
    extra_words: "a pfnrange line takes a name and one of file= or size=",
    size_range: "pfn range size must be from 1 byte to 1T",
    too_many: "more than 16 pfn ranges",
    duplicate: "two pfn ranges with one name",
    grant_syntax: "pfn must be `pfn=<range>:<modes>`, modes ro, rw, private joined by +",
    grant_modes: "pfn modes are ro, rw, private joined by +",
    too_many_grants: "more than 8 pfn grants on one client line",
    undeclared: "pfn names a range no `pfnrange` line declares",
    file_granted: "a file pfn range is read in place: it cannot be granted rw",
};

/// A client's `grant=` options (boot segment names and the modes each
/// allows) or its `pfn=` options (pfn range names and the views each
/// allows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants<'a, M = crate::segment::Modes> {
    list: [Option<(&'a str, M)>; MAX_CLIENT_GRANTS],
}

impl<'a, M: Copy> Grants<'a, M> {
    /// The grants, in the order the line gives them.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, M)> + '_ {
        self.list.iter().flatten().copied()
    }

    fn push(&mut self, name: &'a str, modes: M) -> bool {
        match self.list.iter_mut().find(|g| g.is_none()) {
            Some(slot) => {
                *slot = Some((name, modes));
                true
            }
            None => false,
        }
    }
}

impl<'a, M: Mode> Grants<'a, Set<M>> {
    /// Adds the grant option `NAME:MODES` (what follows `grant=` or
    /// `pfn=`).
    pub(super) fn parse_push(&mut self, kind: &Kind, value: &'a str) -> Result<(), &'static str> {
        let (name, modes) = value.split_once(':').ok_or(kind.grant_syntax)?;
        let modes = Set::<M>::parse(modes).ok_or(kind.grant_modes)?;
        if Name::new(name).is_none() {
            return Err(kind.bad_name);
        }
        if !self.push(name, modes) {
            return Err(kind.too_many_grants);
        }
        Ok(())
    }

    /// Checks each grant against the `kind` lines of manifest `text`:
    /// declared, and never a file in its forbidden mode.
    pub(super) fn check(&self, kind: &'static Kind, text: &str) -> Result<(), &'static str> {
        for (name, modes) in self.iter() {
            let declared = super::objects_of(text, kind)
                .flatten()
                .find(|o| o.name == name);
            match declared {
                None => return Err(kind.undeclared),
                Some(BootObject {
                    source: SegmentSource::File(_),
                    ..
                }) if M::ALL
                    .iter()
                    .any(|m| m.short() == kind.never_for_file && modes.contains(*m)) =>
                {
                    return Err(kind.file_granted)
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Parses what follows the keyword on a `kind` line.
pub(super) fn parse<'a>(kind: &Kind, rest: &'a str) -> Result<BootObject<'a>, &'static str> {
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or("");
    if Name::new(name).is_none() {
        return Err(kind.bad_name);
    }
    let source = match words.next() {
        Some(w) if w.starts_with("file=") && w.len() > 5 => SegmentSource::File(&w[5..]),
        Some(w) if w.starts_with("size=") => {
            SegmentSource::Size(parse_size(&w[5..]).ok_or(kind.bad_size)?)
        }
        _ => return Err(kind.expected),
    };
    if words.next().is_some() {
        return Err(kind.extra_words);
    }
    if matches!(source, SegmentSource::Size(n) if n == 0 || n > kind.max_bytes) {
        return Err(kind.size_range);
    }
    Ok(BootObject { name, source })
}
