//! The memory server's client protocol: typed calls that travel as
//! postcard in the message page.

use crate::sys;
use zpager_ipc::abi::{label, MEMSERVER_ENDPOINT};
pub use zpager_ipc::protocol::{MemError, RemapMode, Stats};
use zpager_ipc::protocol::{Request, Response};

/// Sends a request and decodes the answer.
pub fn request(req: &Request) -> Response {
    let page = crate::arch::utcb_page();
    let Ok(sent) = postcard::to_slice(req, &mut page[..]) else {
        return Response::Error(MemError::Malformed);
    };
    let len = sent.len() as u64;
    let reply = sys::call(MEMSERVER_ENDPOINT, [label::REQUEST, len, 0, 0, 0, 0]);
    let page = crate::arch::utcb_page();
    let n = (reply[1] as usize).min(page.len());
    postcard::from_bytes(&page[..n]).unwrap_or(Response::Error(MemError::Malformed))
}

/// Reserves `len` bytes of demand-zero memory; returns its address.
pub fn map_anon(len: u64, writable: bool) -> Result<u64, MemError> {
    match request(&Request::MapAnon { len, writable }) {
        Response::Mapped { addr } => Ok(addr),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// A run-time mapping with bounds-checked access, so client code needs no
/// `unsafe` to use its memory. Accesses are volatile: each one really
/// touches the page (and may fault into the memory server).
pub struct Mapping {
    addr: u64,
    len: u64,
}

impl Mapping {
    /// Maps `len` bytes (rounded up to pages) of demand-zero memory.
    pub fn anon(len: u64, writable: bool) -> Result<Mapping, MemError> {
        let addr = map_anon(len, writable)?;
        Ok(Mapping {
            addr,
            len: len.div_ceil(4096) * 4096,
        })
    }

    /// A mapping the server made at `addr` for `len` bytes (a segment
    /// attachment).
    pub(crate) fn from_raw(addr: u64, len: u64) -> Mapping {
        Mapping { addr, len }
    }

    /// Start address.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the mapping is empty (never: the server refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at<T>(&self, offset: u64) -> *mut T {
        let size = core::mem::size_of::<T>() as u64;
        assert!(
            offset.checked_add(size).is_some_and(|end| end <= self.len)
                && offset.is_multiple_of(size),
            "offset {offset:#x} outside the mapping or misaligned"
        );
        (self.addr + offset) as *mut T
    }

    /// Reads the byte at `offset`.
    pub fn read_u8(&self, offset: u64) -> u8 {
        // SAFETY: inside this mapping (checked), which only this value
        // refers to; the memory server backs it on first touch.
        unsafe { self.at::<u8>(offset).read_volatile() }
    }

    /// Writes the byte at `offset` (a read-only mapping gets the client
    /// killed, as any store to read-only memory does).
    pub fn write_u8(&self, offset: u64, value: u8) {
        // SAFETY: as for read_u8.
        unsafe { self.at::<u8>(offset).write_volatile(value) }
    }

    /// Reads the aligned doubleword at `offset`.
    pub fn read_u64(&self, offset: u64) -> u64 {
        // SAFETY: as for read_u8.
        unsafe { self.at::<u64>(offset).read_volatile() }
    }

    /// Writes the aligned doubleword at `offset`.
    pub fn write_u64(&self, offset: u64, value: u64) {
        // SAFETY: as for read_u8.
        unsafe { self.at::<u64>(offset).write_volatile(value) }
    }

    /// Unmaps it.
    pub fn unmap(self) -> Result<(), MemError> {
        unmap(self.addr, self.len)
    }

    /// Grows, shrinks or moves it to `new_len` bytes (rounded up to
    /// pages), as [`remap`] does; on success it refers to the range where
    /// it is now, with its data.
    pub fn remap(&mut self, new_len: u64, mode: RemapMode) -> Result<(), MemError> {
        self.addr = remap(self.addr, self.len, new_len, mode)?;
        self.len = new_len.div_ceil(4096) * 4096;
        Ok(())
    }
}

/// Linux's `mremap` for memory from [`map_anon`]: changes
/// `addr..addr+old_len` to `new_len` bytes (both rounded up to pages)
/// and returns where it is now. Data follows a move; grown pages read
/// zero; a shrink unmaps the tail. [`RemapMode::InPlace`] stays
/// (`CannotGrowInPlace` if the pages after it are taken),
/// [`RemapMode::MayMove`] moves when it cannot grow in place, and
/// [`RemapMode::Fixed`] moves to that address, unmapping whatever was
/// there (`Overlap` if that overlaps the range itself).
pub fn remap(addr: u64, old_len: u64, new_len: u64, mode: RemapMode) -> Result<u64, MemError> {
    match request(&Request::Remap {
        addr,
        old_len,
        new_len,
        mode,
    }) {
        Response::Mapped { addr } => Ok(addr),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// Removes `addr..addr+len` (page-aligned) from the space.
pub fn unmap(addr: u64, len: u64) -> Result<(), MemError> {
    done(request(&Request::Unmap { addr, len }))
}

/// Changes the rights of `addr..addr+len`.
pub fn protect(addr: u64, len: u64, writable: bool) -> Result<(), MemError> {
    done(request(&Request::Protect {
        addr,
        len,
        writable,
    }))
}

/// Fault and frame counters for this space and the whole server.
pub fn stats() -> Result<Stats, MemError> {
    match request(&Request::Stats) {
        Response::Stats(s) => Ok(s),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// The frame behind this client's own address `addr` (a `may_offline`
/// client only: others get `NotPermitted`).
pub fn translate(addr: u64) -> Result<u64, MemError> {
    match request(&Request::Translate { addr }) {
        Response::Translated { pfn } => Ok(pfn),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// Takes frames `start_pfn..start_pfn+count` of storage offline; returns
/// how many anonymous frames and page tables moved out (a `may_offline`
/// client only). Refused, with nothing moved, with `MemError::Pinned`
/// naming the first frame that cannot move.
pub fn offline(start_pfn: u64, count: u64) -> Result<(u64, u64), MemError> {
    match request(&Request::Offline { start_pfn, count }) {
        Response::Offlined { frames, tables } => Ok((frames, tables)),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// Brings a range `offline` took back (named exactly as then).
pub fn online(start_pfn: u64, count: u64) -> Result<(), MemError> {
    done(request(&Request::Online { start_pfn, count }))
}

/// An empty call to the server and back.
pub fn ping() {
    sys::call(MEMSERVER_ENDPOINT, [label::PING, 0, 0, 0, 0, 0]);
}

/// `Done`, or the error the server answered.
pub(crate) fn done(r: Response) -> Result<(), MemError> {
    match r {
        Response::Done => Ok(()),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// The mapping an `Attached` answer names (a segment attachment, a pfn
/// view), or the error the server answered.
pub(crate) fn attached(r: Response) -> Result<Mapping, MemError> {
    match r {
        Response::Attached { addr, len } => Ok(Mapping::from_raw(addr, len)),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}
