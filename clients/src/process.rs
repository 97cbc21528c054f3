//! Fork and wait: Unix process semantics over the memory server.

use crate::mem::request;
pub use zpager_ipc::protocol::{ChildEnd, MemError};
use zpager_ipc::protocol::{Request, Response};

/// Which side of a fork returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forked {
    /// The original, with the child's id (for [`wait`]).
    Parent(u64),
    /// The copy.
    Child,
}

/// Copies this client: a new space with its memory (copy-on-write, so
/// neither sees the other's later writes) and this thread, registers and
/// stack as at the call. Both return: the parent with the child's id,
/// the child with [`Forked::Child`]. Refused with
/// [`MemError::TooManySpaces`] or [`MemError::FrameLimit`] when the family
/// (this client, its manifest ancestor and all their forks) is at its
/// `spaces=` or `frames=` limit.
pub fn fork() -> Result<Forked, MemError> {
    match request(&Request::Fork) {
        Response::Forked { child: 0 } => Ok(Forked::Child),
        Response::Forked { child } => Ok(Forked::Parent(child)),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}

/// Waits until child `child` has ended and says how: its exit status, or
/// that it was killed and why (a `zpager_ipc::kill::KillReason` code).
/// Each child can be waited for once ([`MemError::NoSuchChild`] after).
pub fn wait(child: u64) -> Result<ChildEnd, MemError> {
    match request(&Request::Wait { child }) {
        Response::Ended(how) => Ok(how),
        Response::Error(e) => Err(e),
        _ => Err(MemError::Malformed),
    }
}
