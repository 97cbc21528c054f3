//! Nonlinear windows (what Linux's `remap_file_pages` did): a window of
//! W pages onto a shared segment of more pages, any page of which each
//! window page can be pointed at. See `docs/clients.md` ("Windows").

use crate::mem::{request, Mapping};
pub use zpager_ipc::protocol::MemError;
use zpager_ipc::protocol::{Request, Response};

const PAGE: u64 = 4096;

/// A window: its pages as a [`Mapping`], and which object it shows.
pub struct Window {
    map: Mapping,
}

/// Creates a window of `pages` pages onto segment `segment` (its object,
/// at least that long), read-only or `writable`. Page `i` shows object
/// page `i` until [`Window::set`] points it elsewhere. Needs a grant of
/// SR (read-only) or SW (`writable`), as an attach in that mode does.
pub fn create(segment: &str, pages: u64, writable: bool) -> Result<Window, MemError> {
    match request(&Request::WindowCreate {
        name: crate::segment::name(segment)?,
        pages,
        writable,
    }) {
        Response::Mapped { addr } => Ok(Window {
            map: Mapping::from_raw(addr, pages * PAGE),
        }),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// Points `count` pages of the window at `addr`, from its page `page`
/// on, at the object's pages from `object_page` on (one request; a page
/// mapped already is invalidated first, so the next access sees the new
/// page).
pub fn set(addr: u64, page: u64, object_page: u64, count: u64) -> Result<(), MemError> {
    crate::mem::done(request(&Request::WindowSet {
        addr,
        page,
        object_page,
        count,
    }))
}

impl Window {
    /// Points window page `page` at object page `object_page`.
    pub fn set(&self, page: u64, object_page: u64) -> Result<(), MemError> {
        set(self.map.addr(), page, object_page, 1)
    }

    /// Points window pages `page..page+count` at object pages
    /// `object_page..object_page+count`.
    pub fn set_run(&self, page: u64, object_page: u64, count: u64) -> Result<(), MemError> {
        set(self.map.addr(), page, object_page, count)
    }

    /// Its pages, to read and write (bounds-checked).
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }

    /// Start address.
    pub fn addr(&self) -> u64 {
        self.map.addr()
    }

    /// Its length in pages.
    pub fn pages(&self) -> u64 {
        self.map.len() / PAGE
    }

    /// Unmaps it (`mem::unmap` takes a part).
    pub fn unmap(self) -> Result<(), MemError> {
        self.map.unmap()
    }
}
