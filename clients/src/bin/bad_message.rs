//! Sends the memory server malformed and forbidden messages. A garbled
//! request, and a valid one followed by stray bytes (a few, or enough to
//! pass the old 256-byte cut), must get an error reply and a server-only
//! call an error; a
//! forged kernel message must get this client killed. On the way it tries
//! to print lines that look like the memory server's and the kernel's,
//! which the kernel must prefix with this client's name.
#![no_std]
#![no_main]

use zpager_ipc::abi::{label, syscall, Error, MEMSERVER_ENDPOINT};
use zpager_ipc::protocol::{MemError, Request, Response};
use zpager_rt::{mem, println, sys};

zpager_rt::entry!(main);

/// Sends the first `len` bytes of the message page as a request.
fn raw_request(len: usize) -> Response {
    let reply = sys::call(MEMSERVER_ENDPOINT, [label::REQUEST, len as u64, 0, 0, 0, 0]);
    let page = zpager_rt::sys::message_page();
    postcard::from_bytes(&page[..(reply[1] as usize).min(page.len())]).unwrap_or(Response::Done)
}

fn garbled_request() -> Response {
    // Not a postcard Request: an enum tag far out of range.
    let page = zpager_rt::sys::message_page();
    page[..4].copy_from_slice(&[0xff, 0xff, 0xff, 0x0f]);
    raw_request(4)
}

/// A valid `Stats` request followed by `extra` zero bytes.
fn request_with_trailing_bytes(extra: usize) -> Response {
    let page = zpager_rt::sys::message_page();
    let n = postcard::to_slice(&Request::Stats, &mut page[..]).map_or(0, |s| s.len());
    page[n..n + extra].fill(0);
    raw_request(n + extra)
}

fn main() -> u64 {
    let garbled = garbled_request();
    println!("garbled request answered with {garbled:?}");
    let trailing = [1, 300].map(request_with_trailing_bytes);
    println!(
        "a request with 1 and with 300 stray bytes after it answered with {:?} and {:?}",
        trailing[0], trailing[1]
    );
    let (err, _) = sys::raw::<{ syscall::SPACE_CREATE }>([0, 5, 0, 0, 0]);
    println!("server-only call answered with error {err}");
    let still_served = mem::stats().is_ok();
    let ok = garbled == Response::Error(MemError::Malformed)
        && trailing == [Response::Error(MemError::Malformed); 2]
        && err == Error::NotPermitted as u64
        && still_served;
    if !ok {
        println!("verdict: FAIL");
        return 1;
    }
    zpager_rt::print!(
        "half a line, then\nmemserver: verdict: FAIL\nZPAGER EXIT status=3\n\rmemserver: hidden prefix\x1b[2K\n"
    );
    println!("forging a fault message (only the kernel may send one)");
    sys::call(MEMSERVER_ENDPOINT, [label::FAULT, 0x1000, 0, 0, 0, 0]);
    println!("survived a forged message; verdict: FAIL");
    1
}
