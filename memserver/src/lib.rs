//! The zpager memory server's core: frames, page tables, regions and the
//! fault and request logic, over a small [`Platform`] trait.
//!
//! The modules follow a fault: [`server`] holds the state and the life of
//! a space, `fault` looks up the region, checks rights, walks (and
//! grows) the tables and lets a handler per backing decide what the page
//! maps, and [`apply`] writes it. `request` serves client requests,
//! `teardown` is the one path that clears a range (unmap, a space's
//! death, mremap's source), `remap` and `relocate` grow, shrink and move
//! ranges, [`segment`] keeps shared segments (`attach` attaches and detaches them),
//! `window` nonlinear windows onto them, [`pfn_grant`] the physical ranges
//! the manifest grants, [`load`] builds a space from a program, [`frames`] and
//! [`records`] keep the pool and the anonymous frames' records.
//!
//! On s390x the platform reaches physical memory through the server's
//! direct map and asks the kernel to replace valid page-table entries; on
//! the host it is simulated memory, so everything here is unit- and
//! property-tested with `cargo test`.
// Clients' FP registers are switched lazily on the promise that this code
// never uses them (see kernel/src/thread.rs).
#![deny(clippy::float_arithmetic)]
#![forbid(unsafe_code)]
#![no_std]

// Per-space tables (the spaces, each one's regions) and the record
// directory grow on the heap: std's allocator on the host, the program's
// own heap of pool frames on s390x (memserver/src/heap.rs).
extern crate alloc;

pub mod apply;
mod attach;
pub mod family;
mod fault;
pub mod fork;
pub mod frames;
pub mod load;
pub mod offline;
pub mod pagetable;
pub mod pfn_grant;
pub mod records;
mod relocate;
mod remap;
pub mod request;
pub mod rmap;
pub mod segment;
pub mod server;
mod share;
pub mod space;
mod teardown;
mod top;
mod window;

#[cfg(test)]
extern crate std;

pub use apply::{FaultOutcome, Replace};
pub use load::{LoadError, Loaded};
pub use server::Server;

/// Page (and frame) size.
pub const PAGE_SIZE: u64 = 4096;

/// What the server needs from the machine.
pub trait Platform {
    /// Reads a doubleword of physical memory.
    fn read_u64(&self, phys: u64) -> u64;
    /// Writes a doubleword of physical memory.
    fn write_u64(&mut self, phys: u64, value: u64);
    /// Fills a frame with zeros.
    fn zero_frame(&mut self, pfn: u64);
    /// Copies `len` bytes from physical address `from` to the start of
    /// frame `to` and zeroes the rest of that frame.
    fn copy_to_frame(&mut self, from: u64, to: u64, len: u64);
    /// Borrows physical memory for reading (program images in the archive).
    fn phys_bytes(&self, phys: u64, len: u64) -> &[u8];
    /// Replaces a *valid* page-table entry: invalidate it and purge the
    /// TLB first (IPTE through the kernel), then store `new`.
    fn replace_pte(&mut self, pte_phys: u64, vaddr: u64, new: u64);
    /// Replaces several valid entries, as [`Platform::replace_pte`] does
    /// for each, in as few kernel calls as the platform can.
    fn replace_ptes(&mut self, batch: &[Replace]) {
        for r in batch {
            self.replace_pte(r.pte_phys, r.vaddr, r.new);
        }
    }
    /// Invalidates a *valid* segment-table entry (at `ste_phys`, mapping
    /// the segment of `vaddr`) and purges the TLB entries formed through
    /// it (IDTE through the kernel), so its page table can be freed.
    fn invalidate_segment(&mut self, ste_phys: u64, vaddr: u64);
    /// Changes a *valid* segment-table entry: invalidates it and purges
    /// the TLB entries formed through it (IDTE), then stores `new`.
    fn replace_ste(&mut self, ste_phys: u64, vaddr: u64, new: u64) {
        self.invalidate_segment(ste_phys, vaddr);
        self.write_u64(ste_phys, new);
    }
    /// Switches live space `space` (the core's index) from the tables of
    /// ASCE `old` to those of `new`, which map everything `old` maps, and
    /// purges the translations made through `old` (the kernel's
    /// SPACE_SET_ASCE), so `old`'s tables can be freed.
    fn switch_asce(&mut self, space: usize, old: u64, new: u64);
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
