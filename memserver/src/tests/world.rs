//! One run of the model test: the server on the simulated machine and
//! the model side by side, stepped by [`Op`]s, with every invariant
//! audited after each step.

use super::audit::{audit, Live};
use super::model::{ModelSpace, Op};
use super::{create, file_byte, kill, put_elf, ARCHIVE};
use crate::server::Server;
use crate::sim::{access, SimMemory, POISON};
use crate::PAGE_SIZE;
use core::ops::Range;
use proptest::prelude::*;
use std::vec::Vec;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, Request, Response};

pub const SPACES: usize = 3;
/// The program `put_elf` makes: text, the data's file part, then bss.
const TEXT: Range<u64> = 0x10_0000..0x10_2000;
const DATA_FILE: Range<u64> = 0x10_2000..0x10_3800;
const IMAGE_END: u64 = 0x10_5000;

pub struct World {
    s: Server<SimMemory>,
    asce: [u64; SPACES],
    model: [ModelSpace; SPACES],
    limits: [u64; SPACES],
    utcb: [Option<u64>; SPACES],
    /// The program's length in the archive, when every space runs it.
    program: Option<u64>,
    baseline: u64,
}

impl World {
    /// Storage of `frames` frames, three spaces with these frame limits,
    /// each running the test program or empty.
    pub fn new(frames: u64, program: bool, limits: [u64; SPACES]) -> World {
        let mut s = Server::new(SimMemory::new(frames), &[(48, frames)]).unwrap();
        let program = program.then(|| put_elf(&mut s.platform));
        let baseline = s.frames_in_use();
        let mut w = World {
            s,
            asce: [0; SPACES],
            model: Default::default(),
            limits,
            utcb: [None; SPACES],
            program,
            baseline,
        };
        for i in 0..SPACES {
            w.start(i);
        }
        w
    }

    fn start(&mut self, i: usize) {
        self.asce[i] = create(&mut self.s, i);
        self.s.set_frame_limit(i, self.limits[i]);
        self.utcb[i] = self
            .program
            .map(|len| self.s.load_program(i, ARCHIVE, len).unwrap().utcb_pfn);
        self.model[i] = ModelSpace::default();
    }

    fn restart(&mut self, i: usize) {
        kill(&mut self.s, i);
        self.start(i);
    }

    /// Whether `addr` of space `i` is writable (`None`: not mapped).
    fn rights(&self, i: usize, addr: u64) -> Option<bool> {
        let stack = layout::STACK_TOP - layout::STACK_SIZE..layout::STACK_TOP;
        let utcb = layout::UTCB..layout::UTCB + PAGE_SIZE;
        if self.program.is_some() {
            if (TEXT.start..IMAGE_END).contains(&addr) {
                return Some(addr >= TEXT.end);
            }
            if stack.contains(&addr) || utcb.contains(&addr) {
                return Some(true);
            }
        }
        self.model[i].region_of(addr).map(|r| r.2)
    }

    /// What space `i` should read at mapped `addr`.
    fn byte(&self, i: usize, addr: u64) -> u8 {
        if let Some(&v) = self.model[i].bytes.get(&addr) {
            return v;
        }
        if self.program.is_some() {
            if TEXT.contains(&addr) {
                return file_byte(addr - TEXT.start + 0x1000);
            }
            if DATA_FILE.contains(&addr) {
                return file_byte(addr - DATA_FILE.start + 0x3000);
            }
        }
        0
    }

    pub fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Map {
                space,
                pages,
                writable,
            } => self.map(space, pages, writable)?,
            Op::Unmap { .. } | Op::Protect { .. } => self.unmap_or_protect(op)?,
            Op::Read {
                space,
                region,
                page,
                offset,
            } => {
                if let Some(addr) = self.model[space].pick(region, page, offset) {
                    self.access(space, addr, None)?;
                }
            }
            Op::Write {
                space,
                region,
                page,
                offset,
                value,
            } => {
                if let Some(addr) = self.model[space].pick(region, page, offset) {
                    self.access(space, addr, Some(value))?;
                }
            }
            Op::Wild { space, addr, write } => self.access(space, addr, write.then_some(7))?,
            Op::Kill { space } => self.restart(space),
        }
        self.audit()
    }

    /// One access by client `i`, checked against the model. A client
    /// with a frame limit may be killed at it, and starts again.
    fn access(&mut self, i: usize, addr: u64, write: Option<u8>) -> Result<(), TestCaseError> {
        let got = access(&mut self.s, i, self.asce[i], addr, write);
        if got == Err(KillReason::FrameLimit) && self.limits[i] != u64::MAX {
            prop_assert!(
                self.s.stats(i).family_frames >= self.limits[i],
                "killed below its limit"
            );
            self.restart(i);
            return Ok(());
        }
        match (self.rights(i, addr), write) {
            (None, _) => prop_assert_eq!(got, Err(KillReason::Unmapped), "at {:#x}", addr),
            (Some(false), Some(_)) => prop_assert_eq!(got, Err(KillReason::WriteToReadOnly)),
            (Some(true), Some(v)) => {
                prop_assert_eq!(got, Ok(v), "space {} wrote {:#x}", i, addr);
                self.model[i].bytes.insert(addr, v);
            }
            (Some(_), None) => {
                let want = self.byte(i, addr);
                let hint = if got == Ok(POISON) {
                    " (the simulator's poison: a frame handed out unzeroed?)"
                } else {
                    " (a stale translation, or a frame shared by mistake?)"
                };
                prop_assert_eq!(got, Ok(want), "space {} read {:#x}{}", i, addr, hint);
            }
        }
        Ok(())
    }

    /// A `MapAnon`: the new range must be unused in the model. A full
    /// region table, or a heap with no room, is an answer it accepts.
    fn map(&mut self, i: usize, pages: u64, writable: bool) -> Result<(), TestCaseError> {
        let len = pages * PAGE_SIZE;
        let m = &mut self.model[i];
        match self.s.request(i, Request::MapAnon { len, writable }) {
            Response::Mapped { addr } => {
                prop_assert!(m.region_of(addr).is_none());
                m.regions.push((addr, addr + len, writable));
                m.regions.sort();
            }
            Response::Error(MemError::TooManyRegions | MemError::NoAddressSpace) => {}
            other => prop_assert!(false, "map: {:?}", other),
        }
        Ok(())
    }

    /// An `Unmap` or `Protect`: the server must accept exactly the ranges
    /// the model's mappings cover.
    fn unmap_or_protect(&mut self, op: Op) -> Result<(), TestCaseError> {
        let (space, region, first, pages, protect) = match op {
            Op::Unmap {
                space,
                region,
                first,
                pages,
            } => (space, region, first, pages, None),
            Op::Protect {
                space,
                region,
                first,
                pages,
                writable,
            } => (space, region, first, pages, Some(writable)),
            _ => return Ok(()),
        };
        let m = &mut self.model[space];
        let Some(a) = m.pick(region, first, 0) else {
            return Ok(());
        };
        let (len, b) = (pages * PAGE_SIZE, a + pages * PAGE_SIZE);
        let req = match protect {
            Some(writable) => Request::Protect {
                addr: a,
                len,
                writable,
            },
            None => Request::Unmap { addr: a, len },
        };
        match (m.covers(a, b), self.s.request(space, req)) {
            (true, Response::Done) => {
                m.carve(a, b, protect);
                if protect.is_none() {
                    let gone: Vec<u64> = m.bytes.range(a..b).map(|(k, _)| *k).collect();
                    for k in gone {
                        m.bytes.remove(&k);
                    }
                }
            }
            (_, Response::Error(MemError::TooManyRegions)) => {}
            (false, Response::Error(MemError::NotMapped)) => {}
            (covered, got) => prop_assert!(
                false,
                "unmap/protect {:#x}..{:#x}: model covers {}, server {:?}",
                a,
                b,
                covered,
                got
            ),
        }
        Ok(())
    }

    pub fn audit(&self) -> Result<(), TestCaseError> {
        let live: Vec<Live> = (0..SPACES)
            .map(|id| Live {
                id,
                utcb: self.utcb[id],
                limit: self.limits[id],
            })
            .collect();
        audit(&self.s, &live)
    }

    /// Ends every space: all frames come back, no translation is left.
    pub fn finish(mut self) -> Result<(), TestCaseError> {
        for i in 0..SPACES {
            kill(&mut self.s, i);
        }
        audit(&self.s, &[])?;
        prop_assert_eq!(self.s.frames_in_use(), self.baseline);
        prop_assert_eq!(self.s.frames_with_records(), 0);
        prop_assert_eq!(self.s.platform.tlb.entries().count(), 0);
        Ok(())
    }
}
