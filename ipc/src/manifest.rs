//! The manifest: which clients the memory server starts, in what order and
//! with what arguments. It travels as the `manifest` entry of the boot
//! archive, one client per line:
//!
//! ```text
//! # comment
//! client hello
//! client anon pages=512
//! client bad_priv expect=killed
//! client anon frames=600 pages=512
//! ```
//!
//! Options come right after the name, in any order:
//! * `expect=killed` or `expect=exit:N` says how the client should end
//!   (default `exit:0`); the run passes only if every client ends as
//!   expected;
//! * `frames=N` caps the frames the client and every space forked from it
//!   (its family) may hold together (page tables, anonymous memory,
//!   segment tables, message pages; a frame shared after a fork counts
//!   once; at least 16). Clients without one share what the explicit caps
//!   leave equally, so no family can take frames another was promised.
//! * `spaces=N` caps the live spaces of its family, itself included (at
//!   least 1; 1 means it may not fork). Clients without one share what
//!   the explicit caps leave of the 255 client spaces equally.
//! * `may_offline` lets the client and its forks make the privileged
//!   requests `Offline`, `Online` and `Translate` (storage offline).
//! * `server_stats` lets the client and its forks see the whole server's
//!   frame counts in `Stats` (everyone sees its own family's).
//! * `grant=NAME:MODES` lets the client and its forks attach boot segment
//!   NAME in MODES (`sr`, `sw`, `ew` joined by `+`); repeatable, at most
//!   [`MAX_CLIENT_GRANTS`] times.
//!
//! Everything after the name and options is the client's argument string.
//!
//! Boot segments are declared on lines of their own, anywhere in the
//! manifest, and live until shutdown:
//!
//! ```text
//! segment ro file=ro.bin      # the pages of archive entry ro.bin, in place
//! segment scratch size=64M    # empty, whole MiB, zero until touched
//! client segment_sr grant=ro:sr+ew
//! ```
//!
//! A file segment is never writable in place, so it cannot be granted
//! `sw`; a grant must name a declared segment.
//!
//! Pfn ranges, physical ranges a client maps in place with no per-frame
//! records, are declared the same way and granted with `pfn=`:
//!
//! ```text
//! pfnrange table file=table.bin   # the frames of archive entry table.bin
//! pfnrange buf size=64K           # contiguous storage kept out of the pool, zeroed
//! client pfn_grant pfn=table:ro+private pfn=buf:rw
//! ```
//!
//! * `pfn=NAME:MODES` lets the client and its forks map pfn range NAME
//!   in MODES (`ro`, `rw`, `private` joined by `+`; see
//!   [`crate::pfn::PfnMode`]); repeatable, at most
//!   [`MAX_CLIENT_PFN_GRANTS`] times. A file range is never written in
//!   place, so it cannot be granted `rw`; a grant must name a declared
//!   range. These are the only frames a grant can reach: an archive data
//!   entry, or storage the memory server keeps out of its pool at boot.

use crate::pfn::PfnModes;
use core::fmt;

mod objects;
pub use objects::{
    BootObject, Grants, PfnRangeSpec, SegmentSource, SegmentSpec, MAX_BOOT_SEGMENTS,
    MAX_CLIENT_GRANTS, MAX_CLIENT_PFN_GRANTS, MAX_PFN_RANGES, MAX_PFN_RANGE_BYTES,
    MAX_SEGMENT_BYTES,
};
use objects::{Kind, PFN_RANGE, SEGMENT};

/// The kinds of boot object a line may declare.
const KINDS: [&Kind; 2] = [&SEGMENT, &PFN_RANGE];

/// Most clients a manifest may start: one space and one thread each, next
/// to the memory server's, in the kernel's tables of 32.
pub const MAX_CLIENTS: usize = 31;

/// Client spaces the kernel and the memory server can hold at once.
pub const MAX_SPACES: u64 = 255;

/// The smallest `frames=` limit: enough for a program's tables, message
/// page and a few pages of stack and data.
pub const MIN_FRAME_LIMIT: u64 = 16;

/// Name of the archive entry.
pub const MANIFEST_ENTRY: &str = "manifest";
/// Name of the memory server's program entry.
pub const MEMSERVER_ENTRY: &str = "memserver";

/// Names no client may have, compared without regard to case: the first
/// words of the lines the kernel, the memory server, QEMU's exit line and
/// xtask print. Every client line starts with the client's name and a
/// colon, so with these reserved no client line can pass for a system one.
pub const RESERVED_NAMES: &[&str] = &[
    "zpager",
    "kernel",
    "boot",
    "memory",
    "timer",
    "cpu",
    "memserver",
    "kill",
    "selftest",
    "machine",
    "psw",
    "teid",
    "xtask",
    "qemu",
];

/// Longest client name: room is left in the kernel's 32-byte thread name
/// for an instance number ("#31").
pub const MAX_NAME: usize = crate::abi::utcb::MAX_NAME - 4;

/// Separates a program's name from its instance number when a manifest
/// starts it more than once ("userregs#2").
pub const INSTANCE_MARK: char = '#';

/// Whether `name` may name a client: letters, digits, `_` and `-` only
/// (so no name can carry a space, a colon or an instance mark), and none
/// of [`RESERVED_NAMES`].
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("client names are letters, digits, `_` and `-`");
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err("that name is reserved: the system's own console lines start with it");
    }
    Ok(())
}

/// How a client is expected to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// It calls exit with this status.
    Exit(u64),
    /// The kernel kills it.
    Killed,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Exit(n) => write!(f, "exit:{n}"),
            Expect::Killed => write!(f, "killed"),
        }
    }
}

/// One client line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSpec<'a> {
    /// Program name: the archive entry to load.
    pub name: &'a str,
    /// How it should end.
    pub expect: Expect,
    /// Most frames it may hold (`frames=N`); `None` gives it an equal
    /// share of what the explicit limits leave.
    pub frame_limit: Option<u64>,
    /// Most live spaces of its family (`spaces=N`); `None` gives it an
    /// equal share of what the explicit limits leave.
    pub space_limit: Option<u64>,
    /// Whether its family may take storage offline (`may_offline`).
    pub may_offline: bool,
    /// Whether its family sees the whole server's frame counts
    /// (`server_stats`).
    pub server_stats: bool,
    /// The boot segments it may attach (`grant=`).
    pub grants: Grants<'a>,
    /// The pfn ranges it may map (`pfn=`).
    pub pfn_grants: Grants<'a, PfnModes>,
    /// The argument string (may be empty).
    pub args: &'a str,
}

/// A malformed manifest line (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub line: usize,
    pub what: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest line {}: {}", self.line, self.what)
    }
}

/// One line of a manifest (parsed one at a time, so the client line's
/// size costs nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
enum Line<'a> {
    Client(ClientSpec<'a>),
    /// A boot object: a `segment` or `pfnrange` line.
    Object(&'static Kind, BootObject<'a>),
}

/// Parses one line; `None` for blank and comment lines.
fn parse_line(line_no: usize, raw: &str) -> Option<Result<Line<'_>, ManifestError>> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let err = |what| {
        Some(Err(ManifestError {
            line: line_no,
            what,
        }))
    };
    for kind in KINDS {
        let prefix = line
            .strip_prefix(kind.keyword)
            .and_then(|r| r.strip_prefix(' '));
        if let Some(rest) = prefix {
            return Some(
                objects::parse(kind, rest)
                    .map(|o| Line::Object(kind, o))
                    .map_err(|what| ManifestError {
                        line: line_no,
                        what,
                    }),
            );
        }
    }
    let Some(rest) = line.strip_prefix("client ") else {
        return err(
            "expected `client <name> [options] [args]`, `segment <name> file=|size=` or `pfnrange <name> file=|size=`",
        );
    };
    let rest = rest.trim_start();
    let (name, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if name.is_empty() || name.len() > MAX_NAME {
        return err("client name must be 1 to 28 bytes");
    }
    if name == MEMSERVER_ENTRY {
        return err("the memory server cannot be started as a client");
    }
    if let Err(what) = check_name(name) {
        return err(what);
    }
    let mut expect = Expect::Exit(0);
    let mut frame_limit = None;
    let mut space_limit = None;
    let mut may_offline = false;
    let mut server_stats = false;
    let mut grants = Grants::default();
    let mut pfn_grants = Grants::default();
    rest = rest.trim_start();
    loop {
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Some(value) = word.strip_prefix("expect=") {
            expect = match value {
                "killed" => Expect::Killed,
                v => match v.strip_prefix("exit:").and_then(|n| n.parse().ok()) {
                    Some(n) => Expect::Exit(n),
                    None => return err("expect must be `killed` or `exit:<n>`"),
                },
            };
        } else if let Some(value) = word.strip_prefix("frames=") {
            match value.parse() {
                Ok(n) if n >= MIN_FRAME_LIMIT => frame_limit = Some(n),
                _ => return err("frames must be a number of at least 16"),
            }
        } else if let Some(value) = word.strip_prefix("spaces=") {
            match value.parse() {
                Ok(n) if (1..=MAX_SPACES).contains(&n) => space_limit = Some(n),
                _ => return err("spaces must be a number from 1 to 255"),
            }
        } else if word == "may_offline" {
            may_offline = true;
        } else if word == "server_stats" {
            server_stats = true;
        } else if let Some(value) = word.strip_prefix("grant=") {
            if let Err(what) = grants.parse_push(&SEGMENT, value) {
                return err(what);
            }
        } else if let Some(value) = word.strip_prefix("pfn=") {
            if let Err(what) = pfn_grants.parse_push(&PFN_RANGE, value) {
                return err(what);
            }
        } else {
            break;
        }
        rest = after.trim_start();
    }
    if rest.len() > crate::abi::utcb::MAX_ARGS {
        return err("client arguments longer than 1024 bytes");
    }
    Some(Ok(Line::Client(ClientSpec {
        name,
        expect,
        frame_limit,
        space_limit,
        may_offline,
        server_stats,
        grants,
        pfn_grants,
        args: rest,
    })))
}

/// A byte count: digits with an optional K, M, G or T suffix.
pub fn parse_size(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T']);
    let shift = match &text[digits.len()..] {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift)
}

/// The lines of a manifest, in order. Errors stop at the first bad line.
fn lines(text: &str) -> impl Iterator<Item = Result<Line<'_>, ManifestError>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| parse_line(i + 1, l))
}

/// The clients of a manifest, in order. Errors stop at the first bad line.
pub fn clients(text: &str) -> impl Iterator<Item = Result<ClientSpec<'_>, ManifestError>> {
    lines(text).filter_map(|l| match l {
        Ok(Line::Client(c)) => Some(Ok(c)),
        Ok(Line::Object(..)) => None,
        Err(e) => Some(Err(e)),
    })
}

/// The `kind` lines of a manifest, in order.
fn objects_of<'a>(
    text: &'a str,
    kind: &'static Kind,
) -> impl Iterator<Item = Result<BootObject<'a>, ManifestError>> + 'a {
    lines(text).filter_map(move |l| match l {
        Ok(Line::Object(k, o)) if k.keyword == kind.keyword => Some(Ok(o)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    })
}

/// The boot segments of a manifest, in order.
pub fn segments(text: &str) -> impl Iterator<Item = Result<SegmentSpec<'_>, ManifestError>> {
    objects_of(text, &SEGMENT)
}

/// The pfn ranges of a manifest, in order.
pub fn pfn_ranges(text: &str) -> impl Iterator<Item = Result<PfnRangeSpec<'_>, ManifestError>> {
    objects_of(text, &PFN_RANGE)
}

/// How a client is known on the console, in kill lines and in the
/// summary: its program name, numbered when the manifest starts that
/// program more than once ("userregs#1", "userregs#2").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance<'a> {
    pub name: &'a str,
    /// 1-based among the manifest's clients of the same program; `None`
    /// when it is the only one.
    pub number: Option<usize>,
}

impl fmt::Display for Instance<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number {
            Some(n) => write!(f, "{}{INSTANCE_MARK}{n}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// The clients of a valid manifest with their instance names, in order.
pub fn instances(text: &str) -> impl Iterator<Item = (Instance<'_>, ClientSpec<'_>)> {
    let specs = || clients(text).flatten();
    specs().enumerate().map(move |(i, spec)| {
        let same = |s: &ClientSpec<'_>| s.name == spec.name;
        let number =
            (specs().filter(same).count() > 1).then(|| specs().take(i + 1).filter(same).count());
        (
            Instance {
                name: spec.name,
                number,
            },
            spec,
        )
    })
}

/// Checks a whole manifest; returns how many clients it starts.
pub fn validate(text: &str) -> Result<usize, ManifestError> {
    let (mut clients, mut objects) = (0, [0usize; KINDS.len()]);
    for (line, c) in text.lines().enumerate() {
        let err = |what| ManifestError {
            line: line + 1,
            what,
        };
        match parse_line(line + 1, c).transpose()? {
            Some(Line::Client(spec)) => {
                clients += 1;
                if clients > MAX_CLIENTS {
                    return Err(err("more than 31 clients"));
                }
                spec.grants.check(&SEGMENT, text).map_err(err)?;
                spec.pfn_grants.check(&PFN_RANGE, text).map_err(err)?;
            }
            Some(Line::Object(kind, object)) => {
                let i = KINDS
                    .iter()
                    .position(|k| k.keyword == kind.keyword)
                    .unwrap_or(0);
                objects[i] += 1;
                if objects[i] > kind.max_count {
                    return Err(err(kind.too_many));
                }
                let same = objects_of(text, kind)
                    .flatten()
                    .filter(|o| o.name == object.name);
                if same.count() > 1 {
                    return Err(err(kind.duplicate));
                }
            }
            None => {}
        }
    }
    Ok(clients)
}

#[cfg(test)]
mod tests;
