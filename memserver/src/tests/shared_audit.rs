//! The audits of what clients share by design (docs/architecture.md,
//! I14 and I15): segments and their attachments, windows, granted pfn
//! ranges and kept storage. `fork::audit` runs them after every step of
//! the model tests.

use crate::pagetable::{Entries, Kind};
use crate::pfn_grant::RangeSource;
use crate::segment::Source;
use crate::server::Server;
use crate::sim::SimMemory;
use crate::space::Backing;
use crate::{pagetable as pt, PAGE_SIZE};
use std::collections::BTreeMap;
use std::format;
use std::string::String;
use zpager_ipc::segment::AttachMode;

const MIB: u64 = pt::SEGMENT_SIZE;

/// The segment invariants: every segment's own tables hold only its
/// pages (kind segment, its index, no COW) and as many frames as it
/// counts; each attachment's segment entries point at the segment's own
/// tables, protected unless shared-writable, or (exclusive-writable
/// only) at a private table whose segment entries are read-only and
/// copy-on-write; every region backed by a segment (attachment or
/// window) names a live one, and a segment whose name is gone lives only
/// while such a region does. Windows: `windows::audit_windows`.
pub(super) fn audit_segments(s: &Server<SimMemory>) {
    let p = &s.platform;
    let mut users: BTreeMap<usize, u64> = BTreeMap::new();
    for space in s.spaces.iter().flatten() {
        for r in &space.regions {
            if let Some(segment) = crate::segment::backing_segment(r) {
                *users.entry(segment).or_default() += 1;
                assert!(
                    s.segment(segment).is_some(),
                    "I14: a region at {:#x} is backed by freed segment {segment}",
                    r.start
                );
            }
            let crate::space::Backing::Segment {
                segment,
                first_page,
                mode,
            } = r.backing
            else {
                continue;
            };
            let seg = s
                .segment(segment)
                .expect("I14: a region attaches a freed segment");
            assert!(r.start % MIB == 0 && r.end % MIB == 0 && first_page % 256 == 0);
            for mib in (r.start..r.end).step_by(MIB as usize) {
                let ste = p.ste(space.top.ste_phys(p, mib).expect("attached"));
                assert!(ste.is_valid(), "I14: attached MiB {mib:#x} without a table");
                let own = seg.tables[((first_page + (mib - r.start) / PAGE_SIZE) / 256) as usize];
                let table = ste.table() / PAGE_SIZE;
                if table == own {
                    assert_eq!(
                        ste.is_protected(),
                        mode != AttachMode::SharedWrite,
                        "I14: {mode:?} attachment at {mib:#x} with the wrong protection"
                    );
                    continue;
                }
                assert_eq!(
                    mode,
                    AttachMode::ExclusiveWrite,
                    "I14: {mode:?} attachment at {mib:#x} points at a table not the segment's"
                );
                for j in 0..256 {
                    let page = mib + j * PAGE_SIZE;
                    let (pte, sw) = (p.pte(table, page), p.sw(table, page));
                    if pte.is_valid() && sw.kind() == Kind::Segment {
                        assert!(
                            sw.is_cow() && !pte.is_writable(),
                            "I14: private view of segment page at {page:#x} writable or not COW"
                        );
                        assert_eq!(
                            p.pte(own, page).pfn(),
                            pte.pfn(),
                            "I14: stale segment frame"
                        );
                    }
                }
            }
        }
    }
    for (id, seg) in s.pool.segments.iter().enumerate() {
        let Some(seg) = seg else { continue };
        let regions = users.get(&id).copied().unwrap_or(0);
        assert_eq!(
            s.segment_regions(id) as u64,
            regions,
            "I14: regions backed by segment {}",
            seg.name
        );
        assert!(
            !seg.deleted || regions > 0,
            "I14: deleted segment {} outlives its attachments and windows",
            seg.name
        );
        let mut frames = 0;
        for (mib, &table) in seg.tables.iter().enumerate() {
            assert_eq!(s.pool.records.segment_of_table(p, table), Some(id));
            for j in 0..256u64 {
                let index = mib as u64 * 256 + j;
                let (pte, sw) = (p.pte(table, j * PAGE_SIZE), p.sw(table, j * PAGE_SIZE));
                if !pte.is_valid() {
                    assert_eq!(sw.0, 0, "I6: invalid segment entry with a software entry");
                    continue;
                }
                assert_eq!(
                    (sw.kind(), sw.index(), sw.is_cow()),
                    (Kind::Segment, index, false),
                    "I14: entry {index} of segment {}",
                    seg.name
                );
                assert!(
                    !s.pool.records.is_anon(p, pte.pfn()),
                    "I8: a segment frame with a record"
                );
                frames += 1;
            }
        }
        if seg.source == Source::Empty {
            assert_eq!(
                frames, seg.data_frames,
                "I14: frames of segment {}",
                seg.name
            );
        }
    }
    audit_windows(s);
}

/// The window invariants (docs/architecture.md, I14): each window names a
/// live segment and is no longer than it, writable only if made
/// writable, and never writable onto a file; each valid entry in a
/// window is kind window (never COW) and maps the segment's current
/// frame for the object page its index names, with the window's rights
/// and no record; an invalid one has no software entry; and no entry
/// outside a window is kind window.
pub(super) fn audit_windows(s: &Server<SimMemory>) {
    let p = &s.platform;
    for space in s.spaces.iter().flatten() {
        for r in &space.regions {
            let Backing::Window {
                segment,
                first_page,
                may_write,
            } = r.backing
            else {
                continue;
            };
            let seg = s
                .segment(segment)
                .expect("I14: a window onto a freed segment");
            let pages = (r.end - r.start) / PAGE_SIZE;
            assert!(
                first_page + pages <= seg.pages,
                "I14: a window past its object"
            );
            assert!(
                !r.writable || may_write,
                "I14: a read-only window made writable"
            );
            assert!(
                !may_write || !seg.executable(),
                "I14: a writable window onto a file"
            );
            for page in (r.start..r.end).step_by(PAGE_SIZE as usize) {
                let Some(ste_phys) = space.top.ste_phys(p, page) else {
                    continue;
                };
                let ste = p.ste(ste_phys);
                if !ste.is_valid() {
                    continue;
                }
                let table = ste.table() / PAGE_SIZE;
                let (pte, sw) = (p.pte(table, page), p.sw(table, page));
                if !pte.is_valid() {
                    assert_eq!(sw.0, 0, "I6: invalid window entry at {page:#x} with a kind");
                    continue;
                }
                assert!(
                    sw.kind() == Kind::Window && !sw.is_cow() && sw.index() < seg.pages,
                    "I14: window page {page:#x} maps {sw:?}"
                );
                let own = seg.tables[(sw.index() / 256) as usize];
                let frame = p.pte(own, sw.index() * PAGE_SIZE);
                assert!(
                    frame.is_valid() && frame.pfn() == pte.pfn(),
                    "I14: window page {page:#x} maps frame {:#x}, object page {} is {frame:?}",
                    pte.pfn(),
                    sw.index()
                );
                assert_eq!(
                    (pte.is_writable(), pte.is_executable()),
                    (r.writable, seg.executable()),
                    "I14: the rights of window page {page:#x}"
                );
                assert!(
                    !s.pool.records.is_anon(p, pte.pfn()),
                    "I8: a window's frame with a record"
                );
            }
        }
        for (base, ste_phys) in super::fork::valid_segment_entries(p, space.top) {
            let ste = p.ste(ste_phys);
            let table = ste.table() / PAGE_SIZE;
            if s.pool.records.segment_of_table(p, table).is_some() {
                continue;
            }
            for j in 0..256 {
                let page = base + j * PAGE_SIZE;
                if p.pte(table, page).is_valid() && p.sw(table, page).kind() == Kind::Window {
                    assert!(
                        space
                            .find(page)
                            .is_some_and(|r| matches!(r.backing, Backing::Window { .. })),
                        "I14: a window entry at {page:#x} outside any window"
                    );
                }
            }
        }
    }
}

/// I2, I13 and I15 for the valid pfn entry at `vaddr` of space `id`: a
/// pfn entry maps what its region names and nothing else. The message
/// page and program text as before (text read-only and the only thing
/// executable); a granted range's page is the range's frame there, never
/// executable; read-only and COW in a private view, never COW elsewhere,
/// and writable only in an `rw` view of kept storage.
pub(super) fn check_pfn_entry(s: &Server<SimMemory>, id: usize, vaddr: u64) -> Result<(), String> {
    let p = &s.platform;
    let space = s.space_ref(id).ok_or("no such space")?;
    let ste = p.ste(space.top.ste_phys(p, vaddr).ok_or("no segment table")?);
    let table = ste.table() / PAGE_SIZE;
    let (pte, sw) = (p.pte(table, vaddr), p.sw(table, vaddr));
    let region = space
        .find(vaddr)
        .ok_or("I2: a pfn entry outside every region")?;
    let index = (vaddr - region.start) / PAGE_SIZE;
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(String::from(what)) };
    match region.backing {
        Backing::Owned { pfn } => check(
            pte.pfn() == pfn && !pte.is_executable() && !sw.is_cow(),
            "I2: the message page's entry maps another frame, or is executable or COW",
        ),
        Backing::Pfn {
            first_pfn,
            executable,
        } => {
            let (frames, _) = s.frames_and_records();
            check(
                pte.pfn() == first_pfn + index && !frames.owns(pte.pfn()),
                "I2: a program text entry maps a frame not its archive page",
            )?;
            check(!pte.is_writable(), "I2: writable archive entry")?;
            check(
                pte.is_executable() == executable && !sw.is_cow(),
                "I13: program entry executable where the program is not (or COW)",
            )
        }
        Backing::PfnRange {
            first_pfn,
            writable,
            private,
        } => {
            check(
                pte.pfn() == first_pfn + index,
                &format!(
                    "I15: maps frame {:#x}, its view's page is frame {:#x}",
                    pte.pfn(),
                    first_pfn + index
                ),
            )?;
            check(
                s.pfn_ranges.iter().any(|r| r.contains(pte.pfn())),
                "I15: a pfn view maps a frame of no granted range",
            )?;
            check(!pte.is_executable(), "I13: executable pfn range entry")?;
            if private {
                check(
                    !pte.is_writable() && sw.is_cow(),
                    "I15: a private view's entry writable or not COW",
                )
            } else {
                check(!sw.is_cow(), "I15: a shared view's entry COW")?;
                check(
                    !pte.is_writable() || (writable && region.writable && s.is_kept(pte.pfn())),
                    "I2: a writable pfn entry that is not an rw view of kept storage",
                )
            }
        }
        other => Err(format!("I2: a pfn entry in a {other:?} region")),
    }
}

/// I15: kept storage is out of the pool for good and holds nothing else:
/// none of it is free (on the stack or untouched), has a record, is a
/// segment, region or page table, or is mapped by anything but a pfn
/// entry; ranges do not overlap; the file ranges lie outside the pool.
pub(super) fn audit_kept(s: &Server<SimMemory>) {
    if s.pfn_ranges.is_empty() {
        // Nothing is kept or granted: every check below is empty (and
        // the walk of every segment entry would slow the model tests).
        return;
    }
    let p = &s.platform;
    let (frames, records) = s.frames_and_records();
    let (untouched, stack) = frames.free_frames(p);
    for (i, r) in s.pfn_ranges.iter().enumerate() {
        for other in &s.pfn_ranges[i + 1..] {
            assert!(
                r.first_pfn + r.pages <= other.first_pfn
                    || other.first_pfn + other.pages <= r.first_pfn,
                "I15: ranges {} and {} overlap",
                r.name,
                other.name
            );
        }
        for pfn in r.first_pfn..r.first_pfn + r.pages {
            match r.source {
                RangeSource::Archive => assert!(!frames.owns(pfn), "I15: file range in the pool"),
                RangeSource::Kept => {
                    assert!(
                        !stack.contains(&pfn)
                            && !untouched.iter().any(|u| (u.0..u.1).contains(&pfn)),
                        "I15: kept frame {pfn:#x} can be handed out"
                    );
                    assert!(
                        !records.is_anon(p, pfn),
                        "I15: kept frame {pfn:#x} has a record"
                    );
                }
            }
        }
    }
    for space in s.spaces.iter().flatten() {
        for pfn in space.top.table_frames(p) {
            assert!(!s.is_kept(pfn), "I15: a segment table in kept storage");
        }
        for (base, ste_phys) in super::fork::valid_segment_entries(p, space.top) {
            let ste = p.ste(ste_phys);
            let table = ste.table() / PAGE_SIZE;
            assert!(!s.is_kept(table), "I15: a page table in kept storage");
            for j in 0..256 {
                let vaddr = base + j * PAGE_SIZE;
                let pte = p.pte(table, vaddr);
                if pte.is_valid() && s.is_kept(pte.pfn()) {
                    assert_eq!(
                        p.sw(table, vaddr).kind(),
                        Kind::Pfn,
                        "I15: kept frame {:#x} mapped by a non-pfn entry",
                        pte.pfn()
                    );
                }
            }
        }
    }
}
