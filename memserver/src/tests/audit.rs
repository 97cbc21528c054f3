//! The memory server's invariants (docs/architecture.md, "Invariants"),
//! checked from outside after every step of the model tests: a walk of
//! every live space's tables, the free list, the records and the
//! simulated TLB. Each failure names the invariant it breaks. (The
//! simulator checks the invariants about *when* things happen, I5, I7,
//! I9 and I10, on every store; this checks the state they leave.)

use crate::frames::FrameAllocator;
use crate::pagetable::{self as pt, Kind};
use crate::server::Server;
use crate::sim::{walk, SimMemory};
use crate::{Platform, PAGE_SIZE};
use proptest::prelude::*;
use std::collections::HashMap;
use std::vec;
use std::vec::Vec;

/// A live space as the test knows it.
pub struct Live {
    pub id: usize,
    /// Its message page, if it runs a program.
    pub utcb: Option<u64>,
    pub limit: u64,
}

/// What a pool frame is for (I4: exactly one of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Free,
    Records,
    Zero,
    Segments(usize),
    Table(usize),
    Anon(usize),
    Message(usize),
    /// In a range taken offline (I12).
    Offline,
    /// In storage kept for pfn grants (I15): out of the pool for good.
    Kept,
}

pub struct Roles<'a> {
    frames: &'a FrameAllocator,
    untouched: Vec<(u64, u64)>,
    of: Vec<Option<Role>>,
}

impl Roles<'_> {
    fn untouched(&self, pfn: u64) -> bool {
        self.untouched.iter().any(|r| (r.0..r.1).contains(&pfn))
    }

    fn claim(&mut self, pfn: u64, role: Role) -> Result<(), TestCaseError> {
        prop_assert!(
            role != Role::Offline || !self.untouched(pfn),
            "I12: offline frame {:#x} is still among the frames to hand out",
            pfn
        );
        prop_assert!(
            self.frames.owns(pfn) && !self.untouched(pfn),
            "I4: frame {:#x} ({:?}) is not a handed-out pool frame",
            pfn,
            role
        );
        let slot = &mut self.of[pfn as usize];
        prop_assert!(
            !(role == Role::Offline || *slot == Some(Role::Offline)) || slot.is_none(),
            "I12: frame {:#x} is offline and also {:?}",
            pfn,
            slot.filter(|&r| r != Role::Offline).unwrap_or(role)
        );
        prop_assert!(
            slot.is_none(),
            "I4: frame {:#x} is both {:?} and {:?}",
            pfn,
            slot.unwrap(),
            role
        );
        *slot = Some(role);
        Ok(())
    }

    fn get(&self, pfn: u64) -> Option<Role> {
        self.of.get(pfn as usize).copied().flatten()
    }
}

/// Checks every invariant; `live` must list every space the server has.
pub fn audit(s: &Server<SimMemory>, live: &[Live]) -> Result<(), TestCaseError> {
    let p = &s.platform;
    let (frames, records) = s.frames_and_records();
    let (untouched, stack) = frames.free_frames(p);
    prop_assert!(
        stack.len() as u64 <= frames.free(),
        "I4: the free stack is longer than the free count (a frame freed twice?)"
    );
    let mut roles = Roles {
        frames,
        untouched,
        of: vec![None; p.bytes.len() / PAGE_SIZE as usize],
    };
    for &pfn in &stack {
        roles.claim(pfn, Role::Free)?;
    }
    for pfn in records.record_frames() {
        roles.claim(pfn, Role::Records)?;
    }
    roles.claim(s.zero_pfn(), Role::Zero)?;
    for &(lo, hi) in s.offline_ranges() {
        for pfn in lo..hi {
            roles.claim(pfn, Role::Offline)?;
        }
    }
    for range in s.pfn_ranges.iter() {
        if range.source == crate::pfn_grant::RangeSource::Kept {
            for pfn in range.first_pfn..range.first_pfn + range.pages {
                roles.claim(pfn, Role::Kept)?;
            }
        }
    }
    // Anonymous frame -> the entries mapping it.
    let mut anon: HashMap<u64, u16> = HashMap::new();
    for sp in live {
        audit_space(s, sp, &mut roles, &mut anon)?;
    }
    for (&pfn, &n) in &anon {
        let rec = records.get(p, pfn);
        prop_assert_eq!(
            rec.map_count,
            n,
            "I1: frame {:#x}'s map count is {}, {} entries map it",
            pfn,
            rec.map_count,
            n
        );
    }
    prop_assert_eq!(
        s.frames_with_records(),
        anon.len() as u64,
        "I8: records for {} frames, {} anonymous frames mapped",
        s.frames_with_records(),
        anon.len()
    );
    let used = roles
        .of
        .iter()
        .filter(|r| r.is_some_and(|r| !matches!(r, Role::Free | Role::Offline | Role::Kept)))
        .count() as u64;
    prop_assert_eq!(
        s.frames_in_use(),
        used,
        "I4: {} frames in use, {} accounted for (a leak?)",
        s.frames_in_use(),
        used
    );
    let never: u64 = roles.untouched.iter().map(|r| r.1 - r.0).sum();
    prop_assert_eq!(
        frames.free(),
        never + stack.len() as u64,
        "I4: the free count disagrees with the free list"
    );
    audit_tlb(p, Some(&roles))
}

/// Walks one space: every table and entry (I1, I2, I3, I4, I6).
fn audit_space(
    s: &Server<SimMemory>,
    sp: &Live,
    roles: &mut Roles,
    anon: &mut HashMap<u64, u16>,
) -> Result<(), TestCaseError> {
    let p = &s.platform;
    let (frames, records) = s.frames_and_records();
    let id = sp.id;
    let seg = s.seg_pfn(id);
    prop_assert!(seg.is_some(), "space {} is gone", id);
    let seg = seg.unwrap_or_default();
    roles.claim(seg, Role::Segments(id))?;
    if let Some(u) = sp.utcb {
        roles.claim(u, Role::Message(id))?;
    }
    let (mut tables, mut anons) = (0, 0);
    for i in 0..pt::SEGMENT_ENTRIES {
        let ste = p.read_u64(pt::ste_phys(seg, i * pt::SEGMENT_SIZE));
        if ste & pt::Ste::INVALID_BIT != 0 {
            continue;
        }
        let table = ste / PAGE_SIZE;
        roles.claim(table, Role::Table(id))?;
        tables += 1;
        for j in 0..256 {
            let vaddr = i * pt::SEGMENT_SIZE + j * PAGE_SIZE;
            let pte = p.read_u64(pt::pte_phys(table, vaddr));
            let sw = p.read_u64(pt::sw_phys(table, vaddr));
            if pte & pt::Pte::INVALID_BIT != 0 {
                prop_assert_eq!(
                    sw,
                    0,
                    "I6: invalid entry for {:#x} with software entry",
                    vaddr
                );
                continue;
            }
            let pfn = pt::Pte(pte).pfn();
            let ro = pte & pt::Pte::PROTECT_BIT != 0;
            let at = |what: &str| std::format!("space {id} at {vaddr:#x}: {what}");
            match pt::SwEntry(sw).kind() {
                Kind::None => prop_assert!(false, "I6: {}", at("valid entry without a kind")),
                Kind::Anon => {
                    anons += 1;
                    let n = anon.entry(pfn).or_default();
                    if *n == 0 {
                        roles.claim(pfn, Role::Anon(id))?;
                    }
                    *n += 1;
                    let rec = records.get(p, pfn);
                    prop_assert!(
                        rec.map_count >= 1
                            && (usize::from(rec.family), u64::from(rec.page))
                                == (
                                    s.space_ref(id).map_or(usize::MAX, |sp| sp.family),
                                    vaddr / PAGE_SIZE
                                ),
                        "I1: {}: record {:?}",
                        at("anonymous frame"),
                        rec
                    );
                }
                Kind::Zero => prop_assert!(
                    pfn == s.zero_pfn() && ro,
                    "I2: {}",
                    at("zero-page entry not the read-only zero page")
                ),
                Kind::ArchiveCow => prop_assert!(
                    ro && !frames.owns(pfn),
                    "I2: {}",
                    at("archive copy-on-write entry writable or not in the archive")
                ),
                Kind::Pfn => {
                    if let Err(e) = super::shared_audit::check_pfn_entry(s, id, vaddr) {
                        prop_assert!(false, "{}", at(&e));
                    }
                    prop_assert!(
                        !frames.owns(pfn) || Some(pfn) == sp.utcb || s.is_kept(pfn),
                        "I2: {}",
                        at("pfn entry maps a pool frame that is not its message page")
                    );
                }
                // Spaces with segments or windows are audited by
                // `fork::audit`.
                Kind::Segment | Kind::Window => {
                    prop_assert!(false, "{}", at("a segment in the plain audit"))
                }
            }
        }
    }
    let st = s.stats(id);
    let held = 1 + tables + anons + u64::from(sp.utcb.is_some());
    prop_assert_eq!(
        (st.family_frames, st.family_anon_frames),
        (held, anons),
        "I3: space {} counts (frames, anonymous) {:?}, holds {:?}",
        id,
        (st.family_frames, st.family_anon_frames),
        (held, anons)
    );
    prop_assert!(
        held <= sp.limit,
        "I3: space {} holds {} frames over its limit",
        id,
        held
    );
    Ok(())
}

/// Every cached translation and segment entry matches memory (I7) and,
/// given the frames' roles, reaches only client frames (I5).
pub fn audit_tlb(p: &SimMemory, roles: Option<&Roles>) -> Result<(), TestCaseError> {
    let live: Vec<u64> = p.live_spaces().collect();
    for ((seg, page), e) in p.tlb.entries() {
        prop_assert!(
            live.contains(&seg),
            "I7: a translation of dead space {:#x}",
            seg
        );
        let asce = p.live_asce(seg).unwrap_or(seg);
        let now = walk(p, asce, page).map(|(pte_phys, pte, sp)| {
            (
                pte_phys,
                pt::Pte(pte).pfn(),
                pte & pt::Pte::PROTECT_BIT != 0 || sp,
            )
        });
        prop_assert_eq!(
            now,
            Some((e.pte_phys, e.pfn, e.protect)),
            "I7: the TLB maps {:#x} of space {:#x} as {:?}, its tables as {:?}",
            page,
            seg,
            e,
            now
        );
        let Some(roles) = roles else { continue };
        let role = roles.get(e.pfn);
        prop_assert!(
            !roles.untouched(e.pfn)
                && !matches!(
                    role,
                    Some(
                        Role::Free
                            | Role::Records
                            | Role::Segments(_)
                            | Role::Table(_)
                            | Role::Offline
                    )
                ),
            "I5: the TLB maps {:#x} of space {:#x} to frame {:#x}, {:?}",
            page,
            seg,
            e.pfn,
            role
        );
    }
    for (ste_phys, c) in p.tlb.segments() {
        let ste = p.read_u64(ste_phys);
        prop_assert!(
            ste & pt::Ste::INVALID_BIT == 0
                && ste & !0x7ff == c.origin
                && (ste & 0x200 != 0) == c.protect,
            "I7: cached segment entry at {:#x} is {:?}, memory has {:#x}",
            ste_phys,
            c,
            ste
        );
    }
    Ok(())
}

/// For unit tests: audits spaces without programs or limits.
pub fn audit_plain(s: &Server<SimMemory>, ids: &[usize]) {
    let live: Vec<Live> = ids
        .iter()
        .map(|&id| Live {
            id,
            utcb: None,
            limit: u64::MAX,
        })
        .collect();
    if let Err(e) = audit(s, &live) {
        panic!("{e}");
    }
}
