//! The subset of ELF the boot archive's programs use: 64-bit, big-endian,
//! s390x executables whose loadable segments start on page boundaries.
//! The kernel reads the memory server this way and the server reads
//! clients, so both share this one reader.

use core::fmt;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Offset of the segment's bytes in the file.
    pub offset: u64,
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes present in the file.
    pub file_size: u64,
    /// Bytes in memory (the rest is zero).
    pub mem_size: u64,
    /// PF_W.
    pub writable: bool,
    /// PF_X.
    pub executable: bool,
}

/// Why a program was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a 64-bit big-endian ELF executable for s390x.
    NotS390xExecutable,
    /// Headers lie outside the file or have impossible sizes.
    Malformed,
    /// A segment's address and file offset disagree modulo the page size,
    /// or its bytes lie outside the file.
    BadSegment,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElfError::NotS390xExecutable => "not a 64-bit big-endian s390x ELF executable",
            ElfError::Malformed => "malformed ELF headers",
            ElfError::BadSegment => "a loadable segment is misaligned or outside the file",
        })
    }
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const EM_S390: u16 = 22;
const ET_EXEC: u16 = 2;
const PAGE: u64 = 4096;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A validated program.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    bytes: &'a [u8],
    /// Entry address.
    pub entry: u64,
    phoff: usize,
    phnum: usize,
    phentsize: usize,
}

impl<'a> Program<'a> {
    /// Checks the headers and every loadable segment.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        if bytes.len() < 64 || bytes[..4] != *b"\x7fELF" || bytes[4] != 2 || bytes[5] != 2 {
            return Err(ElfError::NotS390xExecutable);
        }
        if u16_at(bytes, 16) != Some(ET_EXEC) || u16_at(bytes, 18) != Some(EM_S390) {
            return Err(ElfError::NotS390xExecutable);
        }
        let entry = u64_at(bytes, 24).ok_or(ElfError::Malformed)?;
        let phoff = u64_at(bytes, 32).ok_or(ElfError::Malformed)? as usize;
        let phentsize = u16_at(bytes, 54).ok_or(ElfError::Malformed)? as usize;
        let phnum = u16_at(bytes, 56).ok_or(ElfError::Malformed)? as usize;
        let table_end = phnum
            .checked_mul(phentsize)
            .and_then(|n| n.checked_add(phoff))
            .ok_or(ElfError::Malformed)?;
        if phentsize < 56 || table_end > bytes.len() {
            return Err(ElfError::Malformed);
        }
        let program = Program {
            bytes,
            entry,
            phoff,
            phnum,
            phentsize,
        };
        for i in 0..phnum {
            if let Some(seg) = program.header(i)? {
                let file_end = seg.offset.checked_add(seg.file_size);
                let mem_end = seg.vaddr.checked_add(seg.mem_size);
                if seg.vaddr % PAGE != seg.offset % PAGE
                    || file_end.is_none_or(|e| e > bytes.len() as u64)
                    || mem_end.is_none()
                    || seg.file_size > seg.mem_size
                {
                    return Err(ElfError::BadSegment);
                }
            }
        }
        Ok(program)
    }

    fn header(&self, i: usize) -> Result<Option<Segment>, ElfError> {
        let at = self.phoff + i * self.phentsize;
        let b = self.bytes;
        let bad = ElfError::Malformed;
        if u32_at(b, at).ok_or(bad)? != PT_LOAD {
            return Ok(None);
        }
        let flags = u32_at(b, at + 4).ok_or(bad)?;
        Ok(Some(Segment {
            offset: u64_at(b, at + 8).ok_or(bad)?,
            vaddr: u64_at(b, at + 16).ok_or(bad)?,
            file_size: u64_at(b, at + 32).ok_or(bad)?,
            mem_size: u64_at(b, at + 40).ok_or(bad)?,
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        }))
    }

    /// The loadable segments with a non-zero memory size, in file order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        // parse() checked every header, so they all decode.
        (0..self.phnum)
            .filter_map(|i| self.header(i).ok().flatten())
            .filter(|s| s.mem_size > 0)
    }
}
