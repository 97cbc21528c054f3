//! Generational ids for the kernel's slots: address spaces ([`SpaceId`])
//! and threads ([`Badge`]).
//!
//! # Packing
//!
//! Both are one u64: bits 0-31 hold the slot's index, bits 32-63 its
//! generation.
//!
//! ```text
//!  63            32 31             0
//! +----------------+----------------+
//! |   generation   |     index      |
//! +----------------+----------------+
//! ```
//!
//! # Generation rules
//!
//! The kernel keeps a generation per slot, 0 while the slot has never
//! been used. Each time it puts a new space or thread in a slot it moves
//! the slot on with [`next_generation`] (so the first occupant has
//! [`FIRST_GENERATION`]) and hands out the id with the new generation.
//! An id kept from an earlier occupant therefore never names the next
//! one: the kernel refuses calls naming a stale space id (`BadArgument`),
//! and a reply to a stale badge (a protocol error). Generation 0 is never
//! a client's: the memory server's own space is index 0, generation 0
//! ([`SpaceId::SERVER`], plain 0). After 2^32 - 1 reuses of one slot the
//! generation wraps back to [`FIRST_GENERATION`].
//!
//! The memory server chooses a space's index (it owns the spaces' page
//! tables) and learns the generation from `SPACE_CREATE`'s result.

/// A slot's generation when the kernel first uses it.
pub const FIRST_GENERATION: u32 = 1;

/// The generation a slot moves to when it is reused (0 is skipped).
#[inline]
pub const fn next_generation(generation: u32) -> u32 {
    match generation.checked_add(1) {
        Some(next) => next,
        None => FIRST_GENERATION,
    }
}

macro_rules! generational_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(u64);

        impl $name {
            /// The id of `index` in `generation`.
            #[inline(always)]
            pub const fn new(index: u32, generation: u32) -> $name {
                $name((generation as u64) << 32 | index as u64)
            }

            /// The id as it travels in a register.
            #[inline(always)]
            pub const fn from_raw(raw: u64) -> $name {
                $name(raw)
            }

            #[inline(always)]
            pub const fn raw(self) -> u64 {
                self.0
            }

            /// The slot it names.
            #[inline(always)]
            pub const fn index(self) -> usize {
                self.0 as u32 as usize
            }

            /// The slot's generation when the id was handed out.
            #[inline(always)]
            pub const fn generation(self) -> u32 {
                (self.0 >> 32) as u32
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}.{}", self.index(), self.generation())
            }
        }
    };
}

generational_id!(
    /// An address space: the memory server's choice of index and the
    /// kernel's generation (see the [module docs](self)).
    SpaceId
);

generational_id!(
    /// A thread, as the memory server sees it: the kernel's thread slot and
    /// its generation (see the [module docs](self)). It names the sender of
    /// each message and the target of a reply.
    Badge
);

impl SpaceId {
    /// The memory server's own space.
    pub const SERVER: SpaceId = SpaceId(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn space_id_round_trips(index: u32, generation: u32) {
            let id = SpaceId::new(index, generation);
            prop_assert_eq!(id.index(), index as usize);
            prop_assert_eq!(id.generation(), generation);
            prop_assert_eq!(SpaceId::from_raw(id.raw()), id);
        }

        #[test]
        fn badge_round_trips(index: u32, generation: u32) {
            let badge = Badge::new(index, generation);
            prop_assert_eq!(badge.index(), index as usize);
            prop_assert_eq!(badge.generation(), generation);
            prop_assert_eq!(Badge::from_raw(badge.raw()), badge);
        }

        #[test]
        fn a_new_generation_is_a_new_id(index: u32, generation: u32) {
            let old = SpaceId::new(index, generation);
            let new = SpaceId::new(index, next_generation(generation));
            prop_assert_ne!(old, new);
            prop_assert_eq!(old.index(), new.index());
        }
    }

    #[test]
    fn generations_skip_zero_when_they_wrap() {
        assert_eq!(next_generation(FIRST_GENERATION), 2);
        assert_eq!(next_generation(u32::MAX), FIRST_GENERATION);
        assert_eq!(SpaceId::SERVER.raw(), 0);
        assert_eq!(SpaceId::new(7, 3).raw(), 3 << 32 | 7);
        // The "no caller" badge can never name a slot.
        assert_eq!(
            Badge::from_raw(crate::abi::NO_REPLY).index(),
            u32::MAX as usize
        );
    }
}
