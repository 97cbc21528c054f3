//! Shared segments: create, grant, attach, detach and delete, as typed
//! calls to the memory server. See `docs/clients.md` ("Shared
//! segments") for what each mode means.

use crate::mem::{attached, done, request, Mapping};
pub use zpager_ipc::protocol::MemError;
use zpager_ipc::protocol::Request;
pub use zpager_ipc::segment::{AttachMode, Modes, Name};

/// `text` as a segment or program name (`BadRange` if it is not one: 1
/// to 28 letters, digits, `_` or `-`).
pub fn name(text: &str) -> Result<Name, MemError> {
    Name::new(text).ok_or(MemError::BadRange)
}

/// Creates empty segment `segment` of `len` bytes (rounded up to whole
/// MiB). This program may attach it in every mode and grant it.
pub fn create(segment: &str, len: u64) -> Result<(), MemError> {
    done(request(&Request::SegmentCreate {
        name: name(segment)?,
        len,
    }))
}

/// Lets the clients running program `client` attach `segment` in `modes`
/// ("sr", "sw", "ew" joined by `+`). Only the creator's program may.
pub fn grant(segment: &str, client: &str, modes: &str) -> Result<(), MemError> {
    done(request(&Request::SegmentGrant {
        name: name(segment)?,
        client: name(client)?,
        modes: Modes::parse(modes).ok_or(MemError::BadRange)?,
    }))
}

/// Attaches `segment` in `mode` at `at` (1 MiB-aligned), or where the
/// server picks; returns the attachment as a [`Mapping`] of its whole
/// length.
pub fn attach(segment: &str, mode: AttachMode, at: Option<u64>) -> Result<Mapping, MemError> {
    attached(request(&Request::SegmentAttach {
        name: name(segment)?,
        mode,
        at,
    }))
}

/// Detaches the segment attached at `addr` (one IDTE per MiB).
pub fn detach(addr: u64) -> Result<(), MemError> {
    done(request(&Request::SegmentDetach { addr }))
}

/// Deletes run-time segment `segment` (its creator's program only): the
/// name is free at once; the segment goes with its last attacher.
pub fn delete(segment: &str) -> Result<(), MemError> {
    done(request(&Request::SegmentDelete {
        name: name(segment)?,
    }))
}
