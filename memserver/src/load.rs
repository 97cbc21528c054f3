//! Setting up a client's space from a program in the boot archive.

use crate::server::Server;
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::layout;
use zpager_ipc::elf::{ElfError, Program};

/// Why a program could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    Elf(ElfError),
    /// A segment lies outside the image area or overlaps another.
    BadLayout,
    OutOfMemory,
    NoSuchSpace,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Elf(e) => write!(f, "{e}"),
            LoadError::BadLayout => write!(f, "segments outside the image area or overlapping"),
            LoadError::OutOfMemory => write!(f, "out of memory"),
            LoadError::NoSuchSpace => write!(f, "no such space"),
        }
    }
}

/// A client ready to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub entry: u64,
    pub utcb_pfn: u64,
}

impl<P: Platform> Server<P> {
    /// Sets up a program from an ELF image at physical `image..image+len`
    /// (page-aligned, in the archive): text as pfn mappings, data as private
    /// copy-on-write, bss and stack anonymous, plus the message page.
    pub fn load_program(&mut self, id: usize, image: u64, len: u64) -> Result<Loaded, LoadError> {
        if self.space(id).is_none() {
            return Err(LoadError::NoSuchSpace);
        }
        let program =
            Program::parse(self.platform.phys_bytes(image, len)).map_err(LoadError::Elf)?;
        let entry = program.entry;
        let mut regions: heapless::Vec<Region, 8> = heapless::Vec::new();
        for seg in program.segments() {
            let start = seg.vaddr & !(PAGE_SIZE - 1);
            let end = seg
                .vaddr
                .checked_add(seg.mem_size)
                .filter(|&e| e <= layout::HEAP_BASE)
                .ok_or(LoadError::BadLayout)?
                .div_ceil(PAGE_SIZE)
                * PAGE_SIZE;
            if start < layout::IMAGE_BASE || end > layout::HEAP_BASE {
                return Err(LoadError::BadLayout);
            }
            let first_pfn = (image + seg.offset) / PAGE_SIZE;
            // Data is never executable, so a segment both writable and
            // executable cannot be what it asks to be.
            if seg.writable && seg.executable {
                return Err(LoadError::BadLayout);
            }
            let backing = if seg.writable {
                Backing::FileCow {
                    first_pfn,
                    file_end: seg.vaddr + seg.file_size,
                }
            } else if seg.file_size == seg.mem_size {
                Backing::Pfn {
                    first_pfn,
                    executable: seg.executable,
                }
            } else {
                // Read-only memory beyond the file would need zeroing.
                return Err(LoadError::BadLayout);
            };
            let region = Region {
                start,
                end,
                writable: seg.writable,
                backing,
                fixed: true,
            };
            regions.push(region).map_err(|_| LoadError::BadLayout)?;
        }
        for region in regions {
            self.add_region(id, region)
                .map_err(|_| LoadError::BadLayout)?;
        }
        let stack = Region {
            start: layout::STACK_TOP - layout::STACK_SIZE,
            end: layout::STACK_TOP,
            writable: true,
            backing: Backing::Anon,
            fixed: true,
        };
        self.add_region(id, stack)
            .map_err(|_| LoadError::BadLayout)?;
        let utcb_pfn = self
            .pool
            .frames
            .alloc(&self.platform)
            .ok_or(LoadError::OutOfMemory)?;
        self.platform.zero_frame(utcb_pfn);
        let utcb = Region {
            start: layout::UTCB,
            end: layout::UTCB + PAGE_SIZE,
            writable: true,
            backing: Backing::Owned { pfn: utcb_pfn },
            fixed: true,
        };
        if self.add_region(id, utcb).is_err() {
            self.pool.frames.release(&mut self.platform, utcb_pfn);
            return Err(LoadError::BadLayout);
        }
        if let Some(family) = self.family_of(id) {
            family.frames += 1;
        }
        Ok(Loaded { entry, utcb_pfn })
    }
}
