//! Client requests: decoded from postcard, checked in full, then applied.

use crate::apply::Replace;
use crate::pagetable::{self as pt, Entries, Kind};
use crate::remap::refusal;
use crate::server::Server;
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use heapless::Vec;
use zpager_ipc::abi::layout;
use zpager_ipc::protocol::{MemError, Request, Response};

/// Decodes a request: exactly one postcard `Request`, nothing after it.
pub fn decode_request(input: &[u8]) -> Result<Request, MemError> {
    match postcard::take_from_bytes::<Request>(input) {
        Ok((request, [])) => Ok(request),
        _ => Err(MemError::Malformed),
    }
}

impl<P: Platform> Server<P> {
    /// Serves a request that arrived as postcard bytes; writes the
    /// postcard response into `out` and returns its length. Malformed
    /// input gets a [`MemError::Malformed`] answer, never a panic.
    pub fn request_bytes(&mut self, id: usize, input: &[u8], out: &mut [u8]) -> usize {
        let response = match decode_request(input) {
            Ok(request) => self.request(id, request),
            Err(e) => Response::Error(e),
        };
        // Every response encodes in a few dozen bytes.
        postcard::to_slice(&response, out).map_or(0, |s| s.len())
    }

    /// Serves a client request from space `id`.
    pub fn request(&mut self, id: usize, request: Request) -> Response {
        if self.space_ref(id).is_none() {
            return Response::Error(MemError::BadRange);
        }
        match self.try_request(id, request) {
            Ok(r) => r,
            Err(e) => Response::Error(e),
        }
    }

    fn try_request(&mut self, id: usize, request: Request) -> Result<Response, MemError> {
        match request {
            Request::MapAnon { len, writable } => {
                let pages = len.div_ceil(PAGE_SIZE);
                if pages == 0 {
                    return Err(MemError::BadRange);
                }
                let start = self.place_new(id, pages)?;
                let region = Region {
                    start,
                    end: start + pages * PAGE_SIZE,
                    writable,
                    backing: Backing::Anon,
                    fixed: false,
                };
                self.insert_new(id, region)?;
                Ok(Response::Mapped { addr: start })
            }
            Request::Unmap { addr, len } => {
                let end = self.changeable(id, addr, len)?;
                self.unmap(id, addr, end)?;
                // It may have taken the last piece of a window.
                self.free_unused_segments();
                Ok(Response::Done)
            }
            Request::Protect {
                addr,
                len,
                writable,
            } => {
                let end = self.changeable(id, addr, len)?;
                let pfn = self.check_pfn_protect(id, addr, end, writable)?;
                self.check_window_rights(id, addr, end, writable)?;
                self.can_unshare(id, self.unshare_cost(id, addr, end, false))?;
                self.space(id)
                    .ok_or(MemError::BadRange)?
                    .carve(addr, end, Some(writable))
                    .map_err(refusal)?;
                self.for_each_table(id, addr, end, |s, ste_phys, table, lo, hi| {
                    // Rights change in a table of this space's own.
                    let table = if s.platform.ste(ste_phys).is_protected() {
                        s.unshare(id, lo, table)
                    } else {
                        table
                    };
                    s.protect_in_table(table, lo, hi, writable, pfn)
                });
                Ok(Response::Done)
            }
            Request::Stats => Ok(Response::Stats(self.stats(id))),
            Request::Remap {
                addr,
                old_len,
                new_len,
                mode,
            } => {
                let addr = self.remap(id, addr, old_len, new_len, mode)?;
                Ok(Response::Mapped { addr })
            }
            // These need the kernel (a thread to copy, a caller to keep
            // waiting): the program serves them, with `Server::fork`.
            Request::Fork | Request::Wait { .. } => Err(MemError::Malformed),
            Request::Offline { start_pfn, count } => self.offline(id, start_pfn, count),
            Request::Online { start_pfn, count } => self.online(id, start_pfn, count),
            Request::Translate { addr } => self.translate(id, addr),
            Request::SegmentCreate { name, len } => self.request_create(id, name, len),
            Request::SegmentGrant {
                name,
                client,
                modes,
            } => self.request_grant(id, name, client, modes),
            Request::SegmentAttach { name, mode, at } => self.attach(id, name, mode, at),
            Request::SegmentDetach { addr } => self.detach(id, addr),
            Request::SegmentDelete { name } => self.request_delete(id, name),
            Request::MapPfn { name, mode } => self.map_pfn(id, name, mode),
            Request::WindowCreate {
                name,
                pages,
                writable,
            } => self.window_create(id, name, pages, writable),
            Request::WindowSet {
                addr,
                page,
                object_page,
                count,
            } => self.window_set(id, addr, page, object_page, count),
        }
    }

    /// Where `pages` pages of a new mapping of space `id` go: the lowest
    /// fit in the heap area, else above 4 GiB, the space's tables grown
    /// to reach it.
    pub(crate) fn place_new(&mut self, id: usize, pages: u64) -> Result<u64, MemError> {
        let space = self.space(id).ok_or(MemError::BadRange)?;
        if let Some(start) = space.free_heap_range(pages) {
            return Ok(start);
        }
        let start = space
            .free_high_range(pages)
            .ok_or(MemError::NoAddressSpace)?;
        // Refused before the tables grow for nothing.
        if space.regions.len() >= crate::space::MAX_REGIONS {
            return Err(MemError::TooManyRegions);
        }
        self.reach(id, start + pages * PAGE_SIZE, true)?;
        Ok(start)
    }

    /// Fails unless the family of space `id` and the pool can give `n`
    /// frames for unsharing tables.
    pub(crate) fn can_unshare(&mut self, id: usize, n: u64) -> Result<(), MemError> {
        if n > self.pool.frames.available() {
            return Err(MemError::OutOfMemory);
        }
        match self.family_of(id) {
            Some(f) if f.can_take(n) => Ok(()),
            _ => Err(MemError::FrameLimit),
        }
    }

    /// Gives the anonymous and window pages of `lo..hi` (all in `table`),
    /// and its granted pfn pages if `pfn` (a range holding an `rw` view:
    /// the caller has refused to make a read-only view writable), new
    /// rights, in one batch through the kernel. Zero-page, archive and
    /// copy-on-write entries (a private pfn view's among them) stay
    /// read-only either way: a write fault will copy them.
    fn protect_in_table(&mut self, table: u64, lo: u64, hi: u64, writable: bool, pfn: bool) {
        let mut batch: Vec<Replace, 256> = Vec::new();
        let mut page = lo;
        while page < hi {
            let pte = self.platform.pte(table, page);
            let sw = self.platform.sw(table, page);
            let new = pte.with_writable(writable && !sw.is_cow());
            let kind = sw.kind();
            let changes = matches!(kind, Kind::Anon | Kind::Window) || (pfn && kind == Kind::Pfn);
            if pte.is_valid() && changes && pte != new {
                // A table has 256 entries, so the push cannot fail.
                let _ = batch.push(Replace {
                    pte_phys: pt::pte_phys(table, page),
                    vaddr: page,
                    new: new.0,
                });
            }
            page += PAGE_SIZE;
        }
        self.platform.replace_ptes(&batch);
    }

    /// Checks that `addr..addr+len` is page-aligned and wholly covered by
    /// changeable regions without gaps (pieces of `MapAnon` mappings), and
    /// returns its end.
    pub(crate) fn changeable(&self, id: usize, addr: u64, len: u64) -> Result<u64, MemError> {
        let end = addr.checked_add(len).ok_or(MemError::BadRange)?;
        if len == 0
            || !addr.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || end > layout::LARGE_SPACE_END
        {
            return Err(MemError::BadRange);
        }
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let mut covered = addr;
        for r in space
            .regions
            .iter()
            .filter(|r| r.end > addr && r.start < end)
        {
            if r.start > covered {
                return Err(MemError::NotMapped);
            }
            if r.fixed {
                return Err(MemError::NotChangeable);
            }
            covered = r.end;
        }
        if covered < end {
            return Err(MemError::NotMapped);
        }
        Ok(end)
    }
}
