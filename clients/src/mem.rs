//! The memory server's client protocol: typed calls that travel as
//! postcard in the message page.

use crate::sys;
use zpager_ipc::abi::{label, MEMSERVER_ENDPOINT};
pub use zpager_ipc::protocol::{MemError, Stats};
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

/// An empty call to the server and back.
pub fn ping() {
    sys::call(MEMSERVER_ENDPOINT, [label::PING, 0, 0, 0, 0, 0]);
}

fn done(r: Response) -> Result<(), MemError> {
    match r {
        Response::Done => Ok(()),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}
