//! Programs from the archive, and what goes through the kernel.

use super::audit::{audit, Live};
use super::{create, file_byte, kill, map, put_elf, server, ARCHIVE, FRAMES};
use crate::pagetable::{self as pt, Entries, Kind};
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::space::{Backing, Region};
use crate::PAGE_SIZE;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, Request, Response};

#[test]
fn program_text_is_pfn_mapped_and_data_is_private_cow() {
    let mut s = server();
    let len = put_elf(&mut s.platform);
    let archive_before = s.platform.bytes[ARCHIVE as usize..(ARCHIVE + len) as usize].to_vec();
    let asce = create(&mut s, 4);
    let loaded = s.load_program(4, ARCHIVE, len).unwrap();
    assert_eq!(loaded.entry, 0x10_0000);
    // Text: straight from the archive, no records.
    assert_eq!(
        access(&mut s, 4, asce, 0x10_0005, None),
        Ok(file_byte(0x1005))
    );
    assert_eq!(
        access(&mut s, 4, asce, 0x10_1fff, None),
        Ok(file_byte(0x2fff))
    );
    assert_eq!(s.frames_with_records(), 0);
    let st = s.stats(4);
    assert_eq!(st.pfn_faults, 1, "fault-around mapped the second text page");
    assert_eq!(st.fault_around, 1);
    assert_eq!(
        access(&mut s, 4, asce, 0x10_0000, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    // Data: shared until written, then copied; the archive never changes.
    assert_eq!(
        access(&mut s, 4, asce, 0x10_2010, None),
        Ok(file_byte(0x3010))
    );
    assert_eq!(s.frames_with_records(), 0);
    assert_eq!(access(&mut s, 4, asce, 0x10_2010, Some(0x55)), Ok(0x55));
    assert_eq!(
        access(&mut s, 4, asce, 0x10_2011, None),
        Ok(file_byte(0x3011))
    );
    assert_eq!(s.frames_with_records(), 1);
    // The page where the file ends: file bytes, then zeros.
    assert_eq!(
        access(&mut s, 4, asce, 0x10_37ff, None),
        Ok(file_byte(0x47ff))
    );
    assert_eq!(access(&mut s, 4, asce, 0x10_3800, None), Ok(0));
    // bss beyond: demand zero.
    assert_eq!(access(&mut s, 4, asce, 0x10_4abc, None), Ok(0));
    assert_eq!(
        &s.platform.bytes[ARCHIVE as usize..(ARCHIVE + len) as usize],
        &archive_before[..]
    );
    // Stack and message page exist.
    assert_eq!(
        access(&mut s, 4, asce, layout::STACK_TOP - 8, Some(3)),
        Ok(3)
    );
    assert_eq!(access(&mut s, 4, asce, layout::UTCB + 100, Some(4)), Ok(4));
    assert_eq!(
        s.platform.bytes[(loaded.utcb_pfn * PAGE_SIZE + 100) as usize],
        4
    );
    // Only program text may run: data, bss, stack and message page are
    // mapped non-executable (instruction-execution protection).
    let entry = |s: &Server<SimMemory>, vaddr: u64| {
        let ste = s.platform.ste(pt::ste_phys(s.seg_pfn(4).unwrap(), vaddr));
        s.platform.pte(ste.table() / PAGE_SIZE, vaddr)
    };
    assert!(entry(&s, 0x10_0000).is_executable());
    assert!(entry(&s, 0x10_1000).is_executable(), "fault-around text");
    for data in [
        0x10_2000,
        0x10_3000,
        0x10_4000,
        layout::STACK_TOP - 8,
        layout::UTCB,
    ] {
        let pte = entry(&s, data);
        assert!(pte.is_valid() && !pte.is_executable(), "{data:#x}");
    }
    let live = Live {
        id: 4,
        utcb: Some(loaded.utcb_pfn),
        limit: u64::MAX,
    };
    audit(&s, &[live]).unwrap();
    let fresh = Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)])
        .unwrap()
        .frames_in_use();
    kill(&mut s, 4);
    assert_eq!(s.frames_in_use(), fresh);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn protect_and_unmap_go_through_the_kernel_for_valid_entries() {
    let mut s = server();
    let asce = create(&mut s, 5);
    let a = map(&mut s, 5, 3, true);
    for i in 0..3 {
        access(&mut s, 5, asce, a + i * PAGE_SIZE, Some(i as u8 + 1)).unwrap();
    }
    let replaced = s.platform.replaced;
    assert_eq!(
        s.request(
            5,
            Request::Protect {
                addr: a + PAGE_SIZE,
                len: PAGE_SIZE,
                writable: false
            }
        ),
        Response::Done
    );
    assert_eq!(s.platform.replaced, replaced + 1);
    assert_eq!(
        access(&mut s, 5, asce, a + PAGE_SIZE, Some(9)),
        Err(KillReason::WriteToReadOnly)
    );
    assert_eq!(access(&mut s, 5, asce, a + PAGE_SIZE, None), Ok(2));
    assert_eq!(
        s.request(
            5,
            Request::Unmap {
                addr: a,
                len: PAGE_SIZE
            }
        ),
        Response::Done
    );
    assert_eq!(access(&mut s, 5, asce, a, None), Err(KillReason::Unmapped));
    assert_eq!(access(&mut s, 5, asce, a + 2 * PAGE_SIZE, None), Ok(3));
    assert_eq!(s.frames_with_records(), 2);
    // Image, stack and message page cannot be changed by the client.
    s.add_region(
        5,
        Region {
            start: 0x10_0000,
            end: 0x10_1000,
            writable: false,
            backing: Backing::Anon,
            fixed: true,
        },
    )
    .unwrap();
    assert_eq!(
        s.request(
            5,
            Request::Unmap {
                addr: 0x10_0000,
                len: PAGE_SIZE
            }
        ),
        Response::Error(MemError::NotChangeable)
    );
    assert_eq!(
        crate::pagetable::SwEntry(Kind::ArchiveCow as u64).kind(),
        Kind::ArchiveCow
    );
}
