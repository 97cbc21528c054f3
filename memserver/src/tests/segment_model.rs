//! A plain reference model of shared segments beside anonymous memory:
//! every space's anonymous pages (the fork model's [`Model`]) and its
//! attachments, every segment as one byte per page that every SR and SW
//! attacher sees, and each EW attachment's written pages (its own, and
//! copied to fork children like anonymous memory), its windows and
//! views of granted pfn ranges (`super::view_model`). The segment model
//! test (`super::segment_replay`) steps it beside the server.

use super::remap_model::Model;
use super::segment_ops::{Pick, SegPage};
use super::view_model::{Backs, Piece};
use crate::PAGE_SIZE;
use std::collections::BTreeMap;
use std::vec::Vec;
use zpager_ipc::pfn::PfnModes;
use zpager_ipc::protocol::MemError;
use zpager_ipc::segment::{AttachMode, Modes};

/// Segment names the test draws from.
pub const NAMES: usize = 4;
/// Program names the test draws from (the first three run at the start).
pub const PROGRAMS: usize = 4;

/// A segment as its attachers see it.
#[derive(Clone, Debug)]
pub struct Seg {
    pub name: usize,
    pub mibs: u64,
    /// The creating family while it lives.
    pub creator: Option<u64>,
    /// Attachable by name (not deleted, its creator alive).
    pub named: bool,
    /// Grants by program.
    pub grants: BTreeMap<usize, Modes>,
    /// The byte at the start of each page written (absent: zero).
    pub data: BTreeMap<u64, u8>,
}

/// One attachment of a space.
#[derive(Clone, Debug)]
pub struct Att {
    pub start: u64,
    /// The segment's key in [`World::segs`].
    pub seg: usize,
    pub mode: AttachMode,
    /// An EW attachment's written pages, by segment page.
    pub private: BTreeMap<u64, u8>,
}

#[derive(Clone, Debug)]
pub struct Space {
    pub family: u64,
    pub anon: Model,
    pub atts: Vec<Att>,
    /// Windows and pfn views, a piece per region, by address.
    pub pieces: Vec<Piece>,
    /// The object page each window page set shows, by address.
    pub shown: BTreeMap<u64, u64>,
    /// The byte each private view's page written holds, by address.
    pub copies: BTreeMap<u64, u8>,
}

/// Every space, family and segment.
#[derive(Debug, Default)]
pub struct World {
    pub spaces: Vec<Option<Space>>,
    /// Live families: their program and live spaces.
    pub families: BTreeMap<u64, (usize, u64)>,
    next_family: u64,
    /// Segments the server holds (named, or still attached), by key.
    pub segs: BTreeMap<usize, Seg>,
    next_seg: usize,
    /// The byte at the start of each page of the kept pfn range written.
    pub kept: BTreeMap<u64, u8>,
    /// What each program may map of the file and the kept range.
    pub pfn_grants: Vec<[PfnModes; 2]>,
}

impl World {
    pub fn new(slots: usize) -> World {
        World {
            spaces: std::vec![None; slots],
            ..World::default()
        }
    }

    /// A new root space in `slot`, first of a family running `program`.
    pub fn start(&mut self, slot: usize, program: usize) {
        let family = self.next_family;
        self.next_family += 1;
        self.families.insert(family, (program, 1));
        self.spaces[slot] = Some(Space {
            family,
            anon: Model::new(),
            atts: Vec::new(),
            pieces: Vec::new(),
            shown: BTreeMap::new(),
            copies: BTreeMap::new(),
        });
    }

    pub fn fork(&mut self, parent: usize, child: usize) {
        let copy = self.spaces[parent].clone().expect("live");
        self.families.get_mut(&copy.family).expect("live").1 += 1;
        self.spaces[child] = Some(copy);
    }

    /// Space `slot` dies: its attachments go, and with the last space of
    /// its family the names of the segments the family made.
    pub fn kill(&mut self, slot: usize) {
        let Some(space) = self.spaces[slot].take() else {
            return;
        };
        let f = self.families.get_mut(&space.family).expect("live");
        f.1 -= 1;
        if f.1 == 0 {
            self.families.remove(&space.family);
            for seg in self.segs.values_mut() {
                if seg.creator == Some(space.family) {
                    seg.creator = None;
                    seg.named = false;
                }
            }
        }
        self.collect();
    }

    /// The segment each region of every space is backed by: one per
    /// attachment and per piece of a window.
    fn backing(&self) -> impl Iterator<Item = usize> + '_ {
        self.spaces.iter().flatten().flat_map(|s| {
            let wins = s.pieces.iter().filter_map(|p| match p.backs {
                Backs::Window { seg, .. } => Some(seg),
                Backs::Pfn { .. } => None,
            });
            s.atts.iter().map(|a| a.seg).chain(wins)
        })
    }

    /// Drops the segments with neither a name nor a region backed by
    /// them.
    pub fn collect(&mut self) {
        let held: Vec<usize> = self.backing().collect();
        self.segs.retain(|k, s| s.named || held.contains(k));
    }

    /// How many regions (attachments and pieces of windows) segment
    /// `key` backs in every space.
    pub fn attachments(&self, key: usize) -> u64 {
        self.backing().filter(|&seg| seg == key).count() as u64
    }

    /// The segment named `name`, if any.
    pub fn named(&self, name: usize) -> Option<usize> {
        self.segs
            .iter()
            .find(|(_, s)| s.named && s.name == name)
            .map(|(&k, _)| k)
    }

    /// The segment name `pick` stands for (see [`Pick`]): among the
    /// named segments, those space `slot` may attach in `mode` if it is
    /// given, else those its family made.
    pub fn choose(&self, slot: usize, pick: Pick, mode: Option<AttachMode>) -> usize {
        let names: Vec<usize> = (self.segs.values())
            .filter(|seg| seg.named && self.allows(slot, seg, mode))
            .map(|seg| seg.name)
            .collect();
        match names.len() {
            n if pick.known && n > 0 => names[pick.index % n],
            _ => pick.index % NAMES,
        }
    }

    /// Whether space `slot` may attach `seg` in `mode` (its family made
    /// it, or its program holds a grant), or with no mode, whether its
    /// family made it.
    pub fn allows(&self, slot: usize, seg: &Seg, mode: Option<AttachMode>) -> bool {
        let family = self.spaces[slot].as_ref().expect("live").family;
        let program = self.families[&family].0;
        let grant = seg.grants.get(&program).copied().unwrap_or(Modes::NONE);
        seg.creator == Some(family) || mode.is_some_and(|m| grant.contains(m))
    }

    /// `SegmentCreate` of `mibs` MiB by space `slot`.
    pub fn create(&mut self, slot: usize, name: usize, mibs: u64) -> Result<(), MemError> {
        if self.named(name).is_some() {
            return Err(MemError::SegmentExists);
        }
        if self.segs.len() >= crate::segment::MAX_SEGMENTS {
            return Err(MemError::TooManySegments);
        }
        let family = self.spaces[slot].as_ref().expect("live").family;
        let seg = Seg {
            name,
            mibs,
            creator: Some(family),
            named: true,
            grants: BTreeMap::new(),
            data: BTreeMap::new(),
        };
        self.segs.insert(self.next_seg, seg);
        self.next_seg += 1;
        Ok(())
    }

    /// The segment named `name` if space `slot`'s family made it (what
    /// grant and delete check).
    pub fn created_by(&self, slot: usize, name: usize) -> Result<usize, MemError> {
        let family = self.spaces[slot].as_ref().expect("live").family;
        let key = self.named(name).ok_or(MemError::NoSuchSegment)?;
        if self.segs[&key].creator != Some(family) {
            return Err(MemError::NotPermitted);
        }
        Ok(key)
    }

    /// `SegmentGrant` of `modes` to `program` by space `slot`.
    pub fn grant(
        &mut self,
        slot: usize,
        name: usize,
        program: usize,
        modes: Modes,
    ) -> Result<(), MemError> {
        let key = self.created_by(slot, name)?;
        let grants = &mut self.segs.get_mut(&key).expect("named").grants;
        let had = grants.get(&program).copied().unwrap_or(Modes::NONE);
        grants.insert(program, had.union(modes));
        Ok(())
    }

    /// `SegmentDelete` by space `slot`.
    pub fn delete(&mut self, slot: usize, name: usize) -> Result<(), MemError> {
        let key = self.created_by(slot, name)?;
        self.segs.get_mut(&key).expect("named").named = false;
        self.collect();
        Ok(())
    }

    /// Where `at` is in space `slot`: the attachment, the segment page
    /// and its address.
    pub fn seg_page(&self, slot: usize, at: SegPage) -> Option<(usize, u64, u64)> {
        let atts = &self.spaces[slot].as_ref()?.atts;
        let att = at.pick % atts.len().max(1);
        let a = atts.get(att)?;
        let index = at.mib % self.segs[&a.seg].mibs * 256 + at.page;
        Some((att, index, a.start + index * PAGE_SIZE))
    }

    /// The byte at segment page `index` through attachment `att` of space
    /// `slot`.
    pub fn seg_read(&self, slot: usize, att: usize, index: u64) -> u8 {
        let a = &self.spaces[slot].as_ref().expect("live").atts[att];
        let shared = self.segs[&a.seg].data.get(&index);
        a.private.get(&index).or(shared).copied().unwrap_or(0)
    }

    /// A store of `value` at segment page `index` through attachment
    /// `att`: whether it is allowed (SR: no, the space dies).
    pub fn seg_write(&mut self, slot: usize, att: usize, index: u64, value: u8) -> bool {
        let a = &mut self.spaces[slot].as_mut().expect("live").atts[att];
        match a.mode {
            AttachMode::SharedRead => return false,
            AttachMode::ExclusiveWrite => {
                a.private.insert(index, value);
            }
            AttachMode::SharedWrite => {
                let seg = a.seg;
                self.segs
                    .get_mut(&seg)
                    .expect("attached")
                    .data
                    .insert(index, value);
            }
        }
        true
    }
}
