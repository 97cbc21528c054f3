//! Pfn grants: map a physical range the manifest granted this program
//! (`pfn=NAME:MODES` on its line, the range on a `pfnrange` line), in
//! place, with no per-frame records. See `docs/clients.md` ("Pfn
//! grants") for what each view means.

use crate::mem::{request, Mapping};
pub use zpager_ipc::pfn::{PfnMode, PfnModes};
pub use zpager_ipc::protocol::MemError;
use zpager_ipc::protocol::Request;

/// Maps the whole of pfn range `range` in `mode`, placed as
/// [`crate::mem::map_anon`] places memory; returns it as a [`Mapping`]
/// of the range's length. `NotGranted` without a grant for the mode,
/// `NoSuchRange` if the manifest declares no such range. Unmap it with
/// [`Mapping::unmap`]; [`crate::mem::protect`] changes its rights
/// within what the view allows.
pub fn map(range: &str, mode: PfnMode) -> Result<Mapping, MemError> {
    crate::mem::attached(request(&Request::MapPfn {
        name: crate::segment::name(range)?,
        mode,
    }))
}
