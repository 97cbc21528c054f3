//! Address spaces: the memory server registers a client's segment table
//! before starting a thread in it and drops it when the client has ended.
//! Ids carry a generation (`zpager_ipc::ids`), so a stale one is refused.

use super::{Kernel, State};
use crate::arch::{self, phys};
use zpager_ipc::abi::Error;
use zpager_ipc::ids::SpaceId;
use zpager_ipc::kcall::SpaceCreate;

impl Kernel {
    /// Registers a client space in the slot the server chose; returns its
    /// id with the slot's new generation.
    pub fn create_space(&mut self, call: SpaceCreate) -> Result<SpaceId, Error> {
        // A one-page segment table in server storage, no control bits:
        // in particular not the real-space bit, which would map all of
        // storage, nor a table length beyond the page checked here.
        if call.asce & 0xfff != 0 || !phys::valid(call.asce, 4096) {
            return Err(Error::BadArgument);
        }
        self.spaces.create(call.index, call.asce)
    }

    /// The server's own space, built by the loader.
    pub fn set_server_space(&mut self, asce: u64) {
        self.spaces.set_server(asce);
        arch::load_home_asce(asce);
    }

    /// Drops client space `id`, which must have no threads left.
    pub fn destroy_space(&mut self, id: SpaceId) -> Result<(), Error> {
        let asce = self.spaces.client(id)?;
        if self
            .threads
            .iter()
            .any(|t| t.state != State::Free && t.space == id)
        {
            return Err(Error::Busy);
        }
        // CR1 and CR7 may still designate the table; the server will reuse
        // its frame, so point them at the empty table first. Then no stale
        // translation may survive.
        if self.loaded_asce == asce {
            arch::load_primary_asce(arch::empty_asce());
            self.loaded_asce = arch::empty_asce();
        }
        self.spaces.remove(id)?;
        arch::purge_tlb();
        Ok(())
    }
}
