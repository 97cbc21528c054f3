//! Builds the memory server's address space and starts it.
//!
//! This is the one time the kernel writes page tables: the server's own.
//! Its text is mapped straight from the boot archive, its data copied, and
//! all storage above the kernel appears at [`layout::DIRECT_MAP`] so the
//! server can reach every frame it owns. The frames for all this come from
//! the top of storage; the rest is handed to the server as free.

use crate::arch::phys;
use crate::println;
use crate::thread::Kernel;
use zpager_ipc::abi::{layout, utcb};
use zpager_ipc::bootarchive::{Archive, EntryKind, LOAD_ADDRESS};
use zpager_ipc::dat::{self, asce, Pte, Rtte, Ste};
use zpager_ipc::elf::Program;
use zpager_ipc::manifest::MEMSERVER_ENTRY;
use zpager_ipc::protocol::{encode_boot_info, ServerBootInfo};
use zpager_kernel::memmap::PhysMap;

const PAGE: u64 = dat::PAGE_SIZE;
/// Full segment and region tables: 2048 entries, 16 KiB (table length
/// 3). A segment table maps 2 GiB, a region-third table 4 TiB.
const CRST_FRAMES: u64 = 4;

/// Hands out frames from the top of storage down.
struct TopDown {
    next: u64,
    floor: u64,
    /// Second half of the last frame split into two page tables.
    spare_half: Option<u64>,
}

impl TopDown {
    fn frames(&mut self, count: u64) -> Result<u64, &'static str> {
        let bytes = count * PAGE;
        if self.next < self.floor + bytes {
            return Err("not enough memory for the memory server");
        }
        self.next -= bytes;
        phys::zero(self.next, bytes);
        Ok(self.next)
    }

    /// A 2 KiB page table with every entry invalid.
    fn page_table(&mut self) -> Result<u64, &'static str> {
        let table = match self.spare_half.take() {
            Some(half) => half,
            None => {
                let frame = self.frames(1)?;
                self.spare_half = Some(frame + 2048);
                frame
            }
        };
        for i in 0..256 {
            phys::write_u64(table + i * 8, Pte::INVALID.0);
        }
        Ok(table)
    }
}

struct Builder {
    frames: TopDown,
    /// The server's top table: a region-third table.
    region_table: u64,
}

impl Builder {
    /// A full table of `invalid` entries.
    fn crst(&mut self, invalid: u64) -> Result<u64, &'static str> {
        let table = self.frames.frames(CRST_FRAMES)?;
        for i in 0..dat::CRST_ENTRIES {
            phys::write_u64(table + i * 8, invalid);
        }
        Ok(table)
    }

    /// The segment table mapping `vaddr`'s 2 GiB, made if missing.
    fn segment_table(&mut self, vaddr: u64) -> Result<u64, &'static str> {
        let rtte_addr = self.region_table + dat::region_third_index(vaddr) * 8;
        let mut rtte = Rtte(phys::read_u64(rtte_addr));
        if !rtte.is_valid() {
            rtte = Rtte::new(self.crst(Ste::INVALID.0)?);
            phys::write_u64(rtte_addr, rtte.0);
        }
        Ok(rtte.table())
    }

    /// Maps `vaddr` to `paddr`; only `executable` pages allow instruction
    /// fetches (where the machine enforces that).
    fn map(
        &mut self,
        vaddr: u64,
        paddr: u64,
        writable: bool,
        executable: bool,
    ) -> Result<(), &'static str> {
        let ste_addr = self.segment_table(vaddr)? + dat::segment_index(vaddr) * 8;
        let mut ste = Ste(phys::read_u64(ste_addr));
        if !ste.is_valid() {
            ste = Ste::new(self.frames.page_table()?, false);
            phys::write_u64(ste_addr, ste.0);
        }
        let pte_addr = ste.table() + dat::page_index(vaddr) * 8;
        let pte = Pte::new(paddr / PAGE, writable).executable_if(executable);
        phys::write_u64(pte_addr, pte.0);
        Ok(())
    }
}

/// What the boot summary reports about the server's start.
pub struct Started {
    pub frames_used: u64,
    pub free_frames: u64,
}

/// Loads the memory server from the archive, builds its space, and makes
/// it thread 0. `low` is the first byte above the kernel; `map` gains the
/// frames the server's space takes, and what stays free in it is handed
/// to the server.
pub fn start_memory_server(
    kernel: &mut Kernel,
    archive: &Archive<'_>,
    map: &mut PhysMap,
    low: u64,
) -> Result<Started, &'static str> {
    let entry = archive
        .find(MEMSERVER_ENTRY)
        .filter(|e| e.kind == EntryKind::Program)
        .ok_or("the boot archive holds no memserver program")?;
    let program =
        Program::parse(entry.data).map_err(|_| "memserver is not a valid s390x ELF executable")?;
    let image = LOAD_ADDRESS + entry.offset as u64;
    let archive_end = (LOAD_ADDRESS + archive.len() as u64).div_ceil(PAGE) * PAGE;
    let memory = map.memory_bytes().min(layout::DIRECT_MAP_SIZE);
    if memory < map.memory_bytes() {
        println!(
            "boot: the memory server gets the first {} MiB; the {} MiB above stay unused (its direct map covers 4 TiB - 2 GiB)",
            memory >> 20,
            (map.memory_bytes() - memory) >> 20
        );
        map.reserve(memory, map.memory_bytes(), "beyond the direct map")
            .map_err(|_| "cannot reserve storage beyond the direct map")?;
    }
    let mut b = Builder {
        frames: TopDown {
            next: memory,
            floor: archive_end,
            spare_half: None,
        },
        region_table: 0,
    };
    b.region_table = b.crst(Rtte::INVALID.0)?;
    // The image, stack and heap share the first segment table, which the
    // server extends itself as its heap grows.
    let low_segment_table = b.segment_table(0)?;

    for seg in program.segments() {
        let first = seg.vaddr & !(PAGE - 1);
        let end = (seg.vaddr + seg.mem_size).div_ceil(PAGE) * PAGE;
        if first < layout::IMAGE_BASE || end > layout::HEAP_BASE {
            return Err("memserver segments lie outside the image area");
        }
        let pages = (end - first) / PAGE;
        if seg.writable {
            let frames = b.frames.frames(pages)?;
            phys::copy(
                image + seg.offset,
                frames + (seg.vaddr - first),
                seg.file_size,
            );
            for i in 0..pages {
                b.map(first + i * PAGE, frames + i * PAGE, true, seg.executable)?;
            }
        } else {
            if seg.file_size != seg.mem_size {
                return Err("memserver has a read-only segment longer than its file bytes");
            }
            let base = (image + seg.offset) & !(PAGE - 1);
            for i in 0..pages {
                b.map(first + i * PAGE, base + i * PAGE, false, seg.executable)?;
            }
        }
    }

    let stack_pages = layout::STACK_SIZE / PAGE;
    let stack = b.frames.frames(stack_pages)?;
    for i in 0..stack_pages {
        b.map(
            layout::STACK_TOP - layout::STACK_SIZE + i * PAGE,
            stack + i * PAGE,
            true,
            false,
        )?;
    }
    let utcb_frame = b.frames.frames(1)?;
    b.map(layout::UTCB, utcb_frame, true, false)?;

    // The direct map: every frame above the kernel; the archive read-only.
    let mut p = low.div_ceil(PAGE) * PAGE;
    while p < memory {
        let in_archive = (LOAD_ADDRESS..archive_end).contains(&p);
        b.map(layout::DIRECT_MAP + p, p, !in_archive, false)?;
        p += PAGE;
    }

    let carved = b.frames.next;
    map.reserve(carved, memory, "memory server")
        .map_err(|_| "cannot reserve the memory server's frames")?;
    let info = ServerBootInfo {
        memory_bytes: memory,
        archive: (LOAD_ADDRESS, archive.len() as u64),
        segment_table: low_segment_table,
        free_ranges: 0,
    };
    // Every free range goes to the server (a map holds at most
    // MAX_RESERVED + 1 of them, far fewer than fit).
    let free = map.free_ranges().map(|r| (r.start, r.end));
    let free_frames = free.clone().map(|(start, end)| end - start).sum();

    let mut page = [0u8; utcb::SIZE];
    utcb::write_startup(&mut page, MEMSERVER_ENTRY, "").ok_or("startup block")?;
    let encoded = encode_boot_info(&info, free, &mut page[utcb::BOOT_INFO + 2..])
        .ok_or("boot information does not fit the message page")?;
    page[utcb::BOOT_INFO..utcb::BOOT_INFO + 2].copy_from_slice(&(encoded as u16).to_be_bytes());
    phys::write(utcb_frame, &page);

    kernel.set_server_space(asce::new(b.region_table, asce::REGION_THIRD, CRST_FRAMES));
    if !kernel.create_server_thread(
        program.entry,
        layout::STACK_TOP,
        utcb_frame,
        MEMSERVER_ENTRY.as_bytes(),
    ) {
        return Err("cannot create the memory server as thread 0");
    }
    Ok(Started {
        frames_used: (memory - carved) / PAGE,
        free_frames,
    })
}
