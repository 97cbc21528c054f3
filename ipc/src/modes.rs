//! Sets of modes: what a grant allows. A shared segment's grant is a set
//! of attach modes (`sr+ew`), a pfn grant a set of views (`ro+private`);
//! both are written the same way in the manifest and travel as one byte.

use core::fmt;
use core::marker::PhantomData;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A mode a grant can allow.
pub trait Mode: Copy + PartialEq + 'static {
    /// Every mode, in the order a set prints them (at most 8).
    const ALL: &'static [Self];
    /// The mode's name as the manifest writes it.
    fn short(self) -> &'static str;
}

/// A set of modes `M`.
pub struct Set<M>(u8, PhantomData<M>);

impl<M: Mode> Set<M> {
    pub const NONE: Set<M> = Set(0, PhantomData);
    pub const ALL: Set<M> = Set(((1u16 << M::ALL.len()) - 1) as u8, PhantomData);

    fn bit(mode: M) -> u8 {
        let i = M::ALL.iter().position(|m| *m == mode).unwrap_or(0);
        1 << i
    }

    /// The set holding `modes`.
    pub fn of(modes: &[M]) -> Set<M> {
        Set(modes.iter().fold(0, |s, m| s | Self::bit(*m)), PhantomData)
    }

    pub fn contains(self, mode: M) -> bool {
        self.0 & Self::bit(mode) != 0
    }

    /// Both sets together.
    pub fn union(self, other: Set<M>) -> Set<M> {
        Set((self.0 | other.0) & Self::ALL.0, PhantomData)
    }

    /// Parses modes' short names joined by `+` ("sr+ew").
    pub fn parse(text: &str) -> Option<Set<M>> {
        let mut set = Self::NONE;
        for word in text.split('+') {
            let mode = M::ALL.iter().find(|m| m.short() == word)?;
            set = set.union(Self::of(&[*mode]));
        }
        Some(set)
    }
}

impl<M> Clone for Set<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Set<M> {}

impl<M> PartialEq for Set<M> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<M> Eq for Set<M> {}

impl<M> Default for Set<M> {
    fn default() -> Self {
        Set(0, PhantomData)
    }
}

impl<M: Mode> fmt::Display for Set<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for mode in M::ALL.iter().filter(|m| self.contains(**m)) {
            if !first {
                f.write_str("+")?;
            }
            f.write_str(mode.short())?;
            first = false;
        }
        Ok(())
    }
}

impl<M: Mode> fmt::Debug for Set<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Set({self})")
    }
}

impl<M> Serialize for Set<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

impl<'de, M: Mode> Deserialize<'de> for Set<M> {
    /// Bits past the last mode are dropped: a malformed message grants
    /// nothing it does not name.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bits = u8::deserialize(d)?;
        Ok(Set(bits & Self::ALL.0, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use crate::pfn::{PfnMode, PfnModes};
    use crate::segment::{AttachMode, Modes};

    #[test]
    fn sets_travel_as_one_byte_and_drop_unknown_bits() {
        let m = Modes::parse("sw+ew").unwrap();
        let mut buf = [0u8; 4];
        let bytes = postcard::to_slice(&m, &mut buf).unwrap();
        assert_eq!(bytes.len(), 1);
        assert_eq!(postcard::from_bytes::<Modes>(bytes).unwrap(), m);
        let all: PfnModes = postcard::from_bytes(&[0xff]).unwrap();
        assert_eq!(all, PfnModes::ALL);
        assert!(all.contains(PfnMode::Private));
        assert!(!Modes::NONE.contains(AttachMode::SharedRead));
        assert_eq!(Modes::of(&[AttachMode::ExclusiveWrite]).union(m), m);
    }
}
