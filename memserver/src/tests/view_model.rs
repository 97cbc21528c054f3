//! The segment model's windows and pfn views (`super::segment_model`):
//! each space's pieces of windows and views of the granted ranges (a
//! piece per region the server holds, cut as unmap and protect cut
//! regions), the object page each window page set shows, the bytes of
//! the kept range and of private views' copies; what `WindowCreate`,
//! `WindowSet`, `MapPfn`, `Unmap` and `Protect` must answer, and what
//! every page reads.

use super::segment_model::World;
use crate::pagetable::SEGMENT_SIZE as MIB;
use crate::PAGE_SIZE;
use std::vec::Vec;
use zpager_ipc::abi::layout;
use zpager_ipc::pfn::PfnMode;
use zpager_ipc::protocol::MemError;
use zpager_ipc::segment::AttachMode;

/// The ranges' names, and one that names none.
pub const RANGES: [&str; 3] = ["file", "kept", "nosuch"];
/// The pages of the file range (in the archive, at frame
/// [`FILE_PFN`]) and of the kept range.
pub const RANGE_PAGES: [u64; 2] = [6, 24];
pub const FILE_PFN: u64 = 32;
const FILE: usize = 0;
const KEPT: usize = 1;

/// The byte at offset `o` of the file range.
pub fn file_byte(o: u64) -> u8 {
    (o % 241) as u8 + 3
}

/// What a piece is a piece of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backs {
    /// A window onto segment `seg` (its key in [`World::segs`]).
    Window { seg: usize, may_write: bool },
    /// A view of range `range` (an index into [`RANGES`]).
    Pfn { range: usize, mode: PfnMode },
}

/// A region of a window or a pfn view.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    pub start: u64,
    pub end: u64,
    pub writable: bool,
    /// The window page, or the range's page, at `start`.
    pub first: u64,
    pub backs: Backs,
}

impl Piece {
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    pub fn is_window(&self) -> bool {
        matches!(self.backs, Backs::Window { .. })
    }

    /// Window page, or range page, of `addr`.
    fn page(&self, addr: u64) -> u64 {
        self.first + (addr - self.start) / PAGE_SIZE
    }

    fn slice(&self, start: u64, end: u64) -> Piece {
        let first = self.page(start);
        Piece {
            start,
            end,
            first,
            ..*self
        }
    }
}

impl World {
    fn pieces(&self, slot: usize) -> &[Piece] {
        &self.spaces[slot].as_ref().expect("live").pieces
    }

    /// The `pick`th piece of a window (`window`) or of a view in space
    /// `slot`.
    pub fn piece(&self, slot: usize, pick: usize, window: bool) -> Option<Piece> {
        let of = || self.pieces(slot).iter().filter(|p| p.is_window() == window);
        of().nth(pick % of().count().max(1)).copied()
    }

    fn piece_at(&self, slot: usize, addr: u64) -> Option<&Piece> {
        self.pieces(slot)
            .iter()
            .find(|p| (p.start..p.end).contains(&addr))
    }

    /// Where a new mapping of `pages` pages goes, as `MapAnon` places it.
    fn place(&self, slot: usize, pages: u64) -> Result<u64, MemError> {
        let len = pages * PAGE_SIZE;
        let (heap, high) = (layout::HEAP_BASE, layout::HIGH_BASE);
        self.fit(slot, len, heap, layout::HEAP_END, PAGE_SIZE)
            .or_else(|| self.fit(slot, len, high, layout::LARGE_SPACE_END, PAGE_SIZE))
            .ok_or(MemError::NoAddressSpace)
    }

    fn add_piece(&mut self, slot: usize, piece: Piece) {
        let pieces = &mut self.spaces[slot].as_mut().expect("live").pieces;
        pieces.push(piece);
        pieces.sort_by_key(|p| p.start);
    }

    /// What `WindowCreate` of `pages` pages onto segment `name` must
    /// answer.
    pub fn expect_window(
        &self,
        slot: usize,
        name: usize,
        pages: u64,
        writable: bool,
    ) -> Result<u64, MemError> {
        let key = self.named(name).ok_or(MemError::NoSuchSegment)?;
        let seg = &self.segs[&key];
        let mode = if writable {
            AttachMode::SharedWrite
        } else {
            AttachMode::SharedRead
        };
        if !self.allows(slot, seg, Some(mode)) {
            return Err(MemError::NotGranted);
        }
        if pages == 0 || pages > seg.mibs * MIB / PAGE_SIZE {
            return Err(MemError::BadRange);
        }
        self.place(slot, pages)
    }

    pub fn add_window(&mut self, slot: usize, name: usize, pages: u64, writable: bool, at: u64) {
        let seg = self.named(name).expect("named");
        let backs = Backs::Window {
            seg,
            may_write: writable,
        };
        let piece = Piece {
            start: at,
            end: at + pages * PAGE_SIZE,
            writable,
            first: 0,
            backs,
        };
        self.add_piece(slot, piece);
    }

    /// What `WindowSet` of `count` pages from `start` to the object's
    /// pages from `object` on must answer: every page in pieces of one
    /// window whose pages follow on, and in the object.
    pub fn expect_set(
        &self,
        slot: usize,
        start: u64,
        count: u64,
        object: u64,
    ) -> Result<(), MemError> {
        let first = self.piece_at(slot, start).ok_or(MemError::BadRange)?;
        let Backs::Window { seg, .. } = first.backs else {
            return Err(MemError::BadRange);
        };
        let page0 = first.page(start);
        for i in 0..count {
            let addr = start + i * PAGE_SIZE;
            let p = self.piece_at(slot, addr).ok_or(MemError::BadRange)?;
            let same = matches!(p.backs, Backs::Window { seg: s, .. } if s == seg);
            if !same || p.page(addr) != page0 + i {
                return Err(MemError::BadRange);
            }
        }
        let pages = self.segs[&seg].mibs * MIB / PAGE_SIZE;
        if count == 0 || object + count > pages {
            return Err(MemError::BadRange);
        }
        Ok(())
    }

    pub fn set(&mut self, slot: usize, start: u64, count: u64, object: u64) {
        let shown = &mut self.spaces[slot].as_mut().expect("live").shown;
        shown.extend((0..count).map(|i| (start + i * PAGE_SIZE, object + i)));
    }

    /// The segment and object page window page `addr` of space `slot`
    /// shows.
    fn object_page(&self, slot: usize, addr: u64) -> (usize, u64) {
        let p = self.piece_at(slot, addr).expect("a window");
        let Backs::Window { seg, .. } = p.backs else {
            panic!("{addr:#x} is no window")
        };
        let shown = self.spaces[slot].as_ref().expect("live").shown.get(&addr);
        (seg, shown.copied().unwrap_or(p.page(addr)))
    }

    /// The byte at the start of window page `addr`: its object page's.
    pub fn window_read(&self, slot: usize, addr: u64) -> u8 {
        let (seg, index) = self.object_page(slot, addr);
        self.segs[&seg].data.get(&index).copied().unwrap_or(0)
    }

    /// A store at the start of window page `addr`: whether the window is
    /// writable there (if not, the space dies).
    pub fn window_write(&mut self, slot: usize, addr: u64, value: u8) -> bool {
        if !self.piece_at(slot, addr).expect("a window").writable {
            return false;
        }
        let (seg, index) = self.object_page(slot, addr);
        let seg = self.segs.get_mut(&seg).expect("held");
        seg.data.insert(index, value);
        true
    }

    /// What `MapPfn` of range `range` in `mode` must answer.
    pub fn expect_map_pfn(
        &self,
        slot: usize,
        range: usize,
        mode: PfnMode,
    ) -> Result<u64, MemError> {
        let pages = *RANGE_PAGES.get(range).ok_or(MemError::NoSuchRange)?;
        let family = self.spaces[slot].as_ref().expect("live").family;
        let program = self.families[&family].0;
        let modes = self.pfn_grants[program][range];
        if !modes.contains(mode) || (range == FILE && mode == PfnMode::ReadWrite) {
            return Err(MemError::NotGranted);
        }
        self.place(slot, pages)
    }

    pub fn add_view(&mut self, slot: usize, range: usize, mode: PfnMode, at: u64) {
        let piece = Piece {
            start: at,
            end: at + RANGE_PAGES[range] * PAGE_SIZE,
            writable: mode.writable(),
            first: 0,
            backs: Backs::Pfn { range, mode },
        };
        self.add_piece(slot, piece);
    }

    /// The byte at `offset` of pfn view page `addr`: a private view's
    /// copy if it wrote the page, else the range's page as it is now
    /// (only offset 0 is ever written).
    pub fn pfn_read(&self, slot: usize, addr: u64, offset: u64) -> u8 {
        let p = self.piece_at(slot, addr).expect("a view");
        let Backs::Pfn { range, .. } = p.backs else {
            panic!("{addr:#x} is no view")
        };
        let page = p.page(addr);
        let copy = self.spaces[slot].as_ref().expect("live").copies.get(&addr);
        match (offset, range) {
            (0, _) if copy.is_some() => *copy.expect("some"),
            (_, FILE) => file_byte(page * PAGE_SIZE + offset),
            (0, _) => self.kept.get(&page).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// A store at the start of pfn view page `addr`: whether the view is
    /// writable there (if not, the space dies).
    pub fn pfn_write(&mut self, slot: usize, addr: u64, value: u8) -> bool {
        let p = *self.piece_at(slot, addr).expect("a view");
        match p.backs {
            _ if !p.writable => return false,
            Backs::Pfn {
                mode: PfnMode::Private,
                ..
            } => {
                let space = self.spaces[slot].as_mut().expect("live");
                space.copies.insert(addr, value);
            }
            Backs::Pfn { range: KEPT, .. } => {
                self.kept.insert(p.page(addr), value);
            }
            other => panic!("a store into {other:?}"),
        }
        true
    }

    /// What `Unmap` (`protect` none) or `Protect` of `a..b` in space
    /// `slot` must answer: every page mapped by something a client may
    /// change (`NotMapped`, `NotChangeable` at the first that is not),
    /// and no view or window made writable past what it was made with;
    /// if so, whether anonymous pages lie there.
    pub fn expect_cut(
        &self,
        slot: usize,
        a: u64,
        b: u64,
        protect: Option<bool>,
    ) -> Result<bool, MemError> {
        let space = self.spaces[slot].as_ref().expect("live");
        let mut anon = false;
        for addr in (a..b).step_by(PAGE_SIZE as usize) {
            if space.anon.contains_key(&addr) {
                anon = true;
            } else if self.piece_at(slot, addr).is_none() {
                let attached = space.atts.iter().any(|att| {
                    (att.start..att.start + self.segs[&att.seg].mibs * MIB).contains(&addr)
                });
                return Err(if attached {
                    MemError::NotChangeable
                } else {
                    MemError::NotMapped
                });
            }
        }
        if protect == Some(true) {
            let within = || (space.pieces.iter()).filter(|p| p.start < b && a < p.end);
            let ro_view = |p: &Piece| {
                let ro = PfnMode::ReadOnly;
                matches!(p.backs, Backs::Pfn { mode, .. } if mode == ro)
            };
            if within().any(ro_view) {
                return Err(MemError::NotGranted);
            }
            let ro_window = |p: &Piece| {
                let ro = false;
                matches!(p.backs, Backs::Window { may_write, .. } if may_write == ro)
            };
            if within().any(ro_window) {
                return Err(MemError::NotPermitted);
            }
        }
        Ok(anon)
    }

    /// `Unmap` (`protect` none) or `Protect` of `a..b` in space `slot`:
    /// pieces cut as the server cuts regions (never merged again).
    pub fn cut(&mut self, slot: usize, a: u64, b: u64, protect: Option<bool>) {
        let space = self.spaces[slot].as_mut().expect("live");
        let mut out = Vec::new();
        for p in space.pieces.drain(..) {
            if p.end <= a || b <= p.start {
                out.push(p);
                continue;
            }
            let mid = |w: bool| Piece {
                writable: w,
                ..p.slice(p.start.max(a), p.end.min(b))
            };
            let parts = [
                (p.start < a).then(|| p.slice(p.start, a)),
                protect.map(mid),
                (b < p.end).then(|| p.slice(b, p.end)),
            ];
            out.extend(parts.into_iter().flatten());
        }
        space.pieces = out;
        if protect.is_none() {
            space.anon.retain(|&k, _| !(a..b).contains(&k));
            space.shown.retain(|&k, _| !(a..b).contains(&k));
            space.copies.retain(|&k, _| !(a..b).contains(&k));
            self.collect();
        }
    }
}
