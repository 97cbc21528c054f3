//! Address spaces: the memory server registers a client's top table (a
//! segment or region-third table) before starting a thread in it, may
//! replace that table while the client lives, and drops the space when the
//! client has ended. Ids carry a generation (`zpager_ipc::ids`), so a
//! stale one is refused.

use super::{Kernel, State};
use crate::arch::{self, phys};
use zpager_ipc::abi::Error;
use zpager_ipc::dat::asce;
use zpager_ipc::ids::SpaceId;
use zpager_ipc::kcall::{SpaceCreate, SpaceSetAsce};

/// Whether `value` may be a client space's ASCE: a segment or region-third
/// table of any length, no control bits (in particular not the real-space
/// bit, which would map all of storage), and the whole table, as long as
/// its length field says, in storage the server owns.
fn client_asce_valid(value: u64) -> bool {
    asce::is_client_designation(value) && phys::valid(asce::origin(value), asce::table_bytes(value))
}

impl Kernel {
    /// Registers a client space in the slot the server chose; returns its
    /// id with the slot's new generation.
    pub fn create_space(&mut self, call: SpaceCreate) -> Result<SpaceId, Error> {
        if !client_asce_valid(call.asce) {
            return Err(Error::BadArgument);
        }
        self.spaces.create(call.index, call.asce)
    }

    /// Gives live client space `call.space` the top table `call.asce`
    /// (the server grows a space from a segment table to a region-third
    /// table this way). Every refusal comes before any change. Afterwards
    /// no translation through the old table survives in the TLB, so the
    /// server may free it.
    pub fn set_space_asce(&mut self, call: SpaceSetAsce) -> Result<(), Error> {
        if !client_asce_valid(call.asce) {
            return Err(Error::BadArgument);
        }
        let old = self.spaces.set_asce(call.space, call.asce)?;
        // Threads carry a copy of their space's ASCE, for the scheduler.
        // Free slots may hold the id of an ended space; the generation
        // keeps it from matching a live one, but they are skipped anyway.
        for t in self
            .threads
            .iter_mut()
            .filter(|t| t.state != State::Free && t.space == call.space)
        {
            t.asce = call.asce;
        }
        // The space's table may be the one CR1 and CR7 designate now (the
        // last client to run): they must not keep pointing at a table the
        // server is about to free.
        if self.loaded_asce == old {
            arch::load_primary_asce(call.asce);
            self.loaded_asce = call.asce;
        }
        arch::purge_tlb();
        Ok(())
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
