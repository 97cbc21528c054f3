//! The kernel's table of address spaces: which segment table (ASCE) each
//! space id names, and each slot's generation, so that an id kept from a
//! destroyed space never names the space that reuses its slot (the rules
//! are in `zpager_ipc::ids`).

use zpager_ipc::abi::{Error, MAX_CLIENT_SPACES};
use zpager_ipc::ids::{next_generation, SpaceId};

/// Slots, the memory server's (index 0) included.
pub const MAX_SPACES: usize = MAX_CLIENT_SPACES + 1;

#[derive(Clone, Copy)]
struct Slot {
    /// 0 while the slot is free.
    asce: u64,
    /// The generation of the space in the slot, or of the last one.
    generation: u32,
}

pub struct SpaceTable {
    slots: [Slot; MAX_SPACES],
}

impl Default for SpaceTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SpaceTable {
    pub const fn new() -> SpaceTable {
        SpaceTable {
            slots: [Slot {
                asce: 0,
                generation: 0,
            }; MAX_SPACES],
        }
    }

    /// Records the memory server's own space: [`SpaceId::SERVER`].
    pub fn set_server(&mut self, asce: u64) {
        self.slots[0].asce = asce;
    }

    /// Registers a client space with `asce` in slot `index`, chosen by the
    /// server; returns its id, carrying the slot's next generation.
    pub fn create(&mut self, index: u32, asce: u64) -> Result<SpaceId, Error> {
        let slot = match index as usize {
            0 => return Err(Error::BadArgument),
            i => self.slots.get_mut(i).ok_or(Error::BadArgument)?,
        };
        if asce == 0 {
            return Err(Error::BadArgument);
        }
        if slot.asce != 0 {
            return Err(Error::Busy);
        }
        slot.generation = next_generation(slot.generation);
        slot.asce = asce;
        Ok(SpaceId::new(index, slot.generation))
    }

    /// The ASCE of live client space `id`; `BadArgument` for the server's
    /// space, a free slot, or an id from an earlier generation.
    pub fn client(&self, id: SpaceId) -> Result<u64, Error> {
        match self.slots.get(id.index()) {
            Some(slot)
                if id.index() != 0 && slot.asce != 0 && slot.generation == id.generation() =>
            {
                Ok(slot.asce)
            }
            _ => Err(Error::BadArgument),
        }
    }

    /// Gives live client space `id` a new top table; returns the ASCE it
    /// had. Refused like [`SpaceTable::client`], and for ASCE 0 (which
    /// would free the slot), before anything changes.
    pub fn set_asce(&mut self, id: SpaceId, asce: u64) -> Result<u64, Error> {
        let old = self.client(id)?;
        if asce == 0 {
            return Err(Error::BadArgument);
        }
        self.slots[id.index()].asce = asce;
        Ok(old)
    }

    /// Frees client space `id`; returns the ASCE it had.
    pub fn remove(&mut self, id: SpaceId) -> Result<u64, Error> {
        let asce = self.client(id)?;
        self.slots[id.index()].asce = 0;
        Ok(asce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpager_ipc::ids::FIRST_GENERATION;

    const ASCE: u64 = 0x10_0000;

    #[test]
    fn a_stale_id_never_names_the_next_space() {
        let mut table = SpaceTable::new();
        let first = table.create(5, ASCE).unwrap();
        assert_eq!((first.index(), first.generation()), (5, FIRST_GENERATION));
        assert_eq!(table.client(first), Ok(ASCE));
        assert_eq!(table.remove(first), Ok(ASCE));
        assert_eq!(table.client(first), Err(Error::BadArgument));
        assert_eq!(table.remove(first), Err(Error::BadArgument));

        let second = table.create(5, ASCE + 0x1000).unwrap();
        assert_eq!(second.index(), 5);
        assert_ne!(second, first);
        assert_eq!(table.client(first), Err(Error::BadArgument));
        assert_eq!(table.remove(first), Err(Error::BadArgument));
        assert_eq!(table.client(second), Ok(ASCE + 0x1000));
    }

    #[test]
    fn a_live_space_changes_its_top_table_and_keeps_its_id() {
        let mut table = SpaceTable::new();
        let id = table.create(3, ASCE).unwrap();
        let region_third = 0x20_0007;
        assert_eq!(table.set_asce(id, region_third), Ok(ASCE));
        assert_eq!(table.client(id), Ok(region_third));
        assert_eq!(table.set_asce(id, 0), Err(Error::BadArgument));
        assert_eq!(
            table.client(id),
            Ok(region_third),
            "a refusal changes nothing"
        );
        // The server's space, a free slot and a stale id are refused.
        assert_eq!(
            table.set_asce(SpaceId::SERVER, ASCE),
            Err(Error::BadArgument)
        );
        assert_eq!(
            table.set_asce(SpaceId::new(4, 1), ASCE),
            Err(Error::BadArgument)
        );
        assert_eq!(table.remove(id), Ok(region_third));
        let next = table.create(3, ASCE).unwrap();
        assert_eq!(table.set_asce(id, region_third), Err(Error::BadArgument));
        assert_eq!(table.client(next), Ok(ASCE));
    }

    #[test]
    fn holds_every_client_space_at_once() {
        let mut table = SpaceTable::new();
        table.set_server(ASCE);
        let ids: [SpaceId; MAX_CLIENT_SPACES] =
            core::array::from_fn(|i| table.create(i as u32 + 1, ASCE + i as u64).unwrap());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(table.client(*id), Ok(ASCE + i as u64));
        }
        assert_eq!(
            table.create(MAX_CLIENT_SPACES as u32 + 1, ASCE),
            Err(Error::BadArgument)
        );
        assert_eq!(table.create(7, ASCE), Err(Error::Busy));
    }

    #[test]
    fn the_server_space_and_bad_slots_are_refused() {
        let mut table = SpaceTable::new();
        table.set_server(ASCE);
        assert_eq!(table.create(0, ASCE), Err(Error::BadArgument));
        assert_eq!(table.create(1, 0), Err(Error::BadArgument));
        assert_eq!(table.client(SpaceId::SERVER), Err(Error::BadArgument));
        assert_eq!(table.remove(SpaceId::SERVER), Err(Error::BadArgument));
        assert_eq!(
            table.client(SpaceId::new(u32::MAX, 1)),
            Err(Error::BadArgument)
        );
        // A slot never used has no live generation, 0 included.
        assert_eq!(table.client(SpaceId::new(3, 0)), Err(Error::BadArgument));
    }
}
