//! Server tests against simulated memory (`crate::sim`, with its TLB and
//! bug detectors): unit cases, the simulator's own checks, and property
//! tests checked against a plain model of every client's memory, with the
//! invariants audited after every step.

mod audit;
mod capacity;
mod fork;
mod fork_ops;
mod fork_replay;
mod large;
mod model;
mod offline;
mod offline_steps;
mod pfn_grants;
mod program;
mod props;
mod remap;
mod remap_fork;
mod remap_model;
mod segment_model;
mod segment_ops;
mod segment_places;
mod segment_replay;
mod segments;
mod shared_audit;
mod sim;
mod units;
mod view_model;
mod view_ops;
mod view_steps;
mod windows;
mod world;

use crate::server::Server;
use crate::sim::SimMemory;
use crate::PAGE_SIZE;
use std::vec::Vec;
use zpager_ipc::protocol::{Request, Response};

const FRAMES: u64 = 1024;
/// The simulated archive lives in frames 16..48; the pool is 48..FRAMES.
const ARCHIVE: u64 = 16 * PAGE_SIZE;

fn server() -> Server<SimMemory> {
    Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap()
}

/// Creates space `id`; the simulator checks its tables from now on.
fn create(s: &mut Server<SimMemory>, id: usize) -> u64 {
    let asce = s.create_space(id).unwrap();
    s.platform.add_space(asce);
    asce
}

/// Ends space `id` as the program does: the kernel drops it (purging its
/// TLB entries), then the server frees what it held.
fn kill(s: &mut Server<SimMemory>, id: usize) {
    if let Some(asce) = s.asce(id) {
        s.platform.purge(asce);
    }
    s.destroy_space(id);
}

fn map(s: &mut Server<SimMemory>, id: usize, pages: u64, writable: bool) -> u64 {
    match s.request(
        id,
        Request::MapAnon {
            len: pages * PAGE_SIZE,
            writable,
        },
    ) {
        Response::Mapped { addr } => addr,
        other => panic!("map failed: {other:?}"),
    }
}

/// A tiny ELF: text (2 pages, r-x) and data (1.5 pages of file, 3 pages in
/// memory, rw-), laid out as the archive would hold it.
fn put_elf(m: &mut SimMemory) -> u64 {
    let mut elf = std::vec![0u8; 6 * 4096];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 2;
    elf[16..18].copy_from_slice(&2u16.to_be_bytes());
    elf[18..20].copy_from_slice(&22u16.to_be_bytes());
    elf[24..32].copy_from_slice(&0x10_0000u64.to_be_bytes());
    elf[32..40].copy_from_slice(&64u64.to_be_bytes());
    elf[54..56].copy_from_slice(&56u16.to_be_bytes());
    elf[56..58].copy_from_slice(&2u16.to_be_bytes());
    let ph = |elf: &mut Vec<u8>, i: usize, flags: u32, off: u64, va: u64, fsz: u64, msz: u64| {
        let at = 64 + i * 56;
        elf[at..at + 4].copy_from_slice(&1u32.to_be_bytes());
        elf[at + 4..at + 8].copy_from_slice(&flags.to_be_bytes());
        elf[at + 8..at + 16].copy_from_slice(&off.to_be_bytes());
        elf[at + 16..at + 24].copy_from_slice(&va.to_be_bytes());
        elf[at + 32..at + 40].copy_from_slice(&fsz.to_be_bytes());
        elf[at + 40..at + 48].copy_from_slice(&msz.to_be_bytes());
    };
    ph(&mut elf, 0, 5, 0x1000, 0x10_0000, 0x2000, 0x2000);
    ph(&mut elf, 1, 6, 0x3000, 0x10_2000, 0x1800, 0x3000);
    for (i, b) in elf[0x1000..0x4800].iter_mut().enumerate() {
        *b = file_byte(0x1000 + i as u64);
    }
    elf[0x4800..].fill(0xEE); // beyond the data's file size: must read as zero
    m.load(ARCHIVE, &elf);
    elf.len() as u64
}

/// The byte at offset `off` of the ELF's text and data.
fn file_byte(off: u64) -> u8 {
    ((off - 0x1000) % 251) as u8 + 1
}
