//! Checks that the registers the kernel switches lazily (f0-f15, or all
//! 32 vector registers where the machine has the vector facility, the FPC
//! and the access registers a0-a15) survive page faults, system calls,
//! IPC to the memory server, yields and preemption, and that a new
//! client starts with access registers that are zero rather than some
//! other client's.
//! Args: `seed=N` (default 1) so two copies hold different values.
#![no_std]
#![no_main]

use core::arch::asm;
use zpager_rt::mem::Mapping;
use zpager_rt::println;

zpager_rt::entry!(main, args = "seed=");

const ROUNDS: u64 = 48;
const SPIN: u64 = 200_000;

/// Everything the register block reads and writes, at fixed offsets from
/// one base register (the block needs every other register it can get).
#[repr(C)]
struct Area {
    /// Offset 0: v0-v31 to load, and what they held afterwards.
    vecs: [[u64; 2]; 32],
    /// Offset 512: the caller's v0-v31, put back at the end.
    vec_save: [[u64; 2]; 32],
    /// Offset 1024: f0-f15 without the vector facility.
    regs: [u64; 16],
    /// Offset 1152: a0-a15 to load, and what they held afterwards.
    ars: [u32; 16],
    /// Offset 1216: a0-a15 as the program started.
    ars_at_start: [u32; 16],
}

const _: () = assert!(core::mem::offset_of!(Area, vec_save) == 512);
const _: () = assert!(core::mem::offset_of!(Area, regs) == 1024);
const _: () = assert!(core::mem::offset_of!(Area, ars) == 1152);
const _: () = assert!(core::mem::offset_of!(Area, ars_at_start) == 1216);

fn main() -> u64 {
    let seed: u64 = zpager_rt::arg("seed").unwrap_or(1);
    let mut values = [0u64; 16];
    for (i, v) in values.iter_mut().enumerate() {
        *v = (seed << 56) | ((i as u64) << 48) | 0x0123_4567_89ab;
    }
    let mut ar_values = [0u32; 16];
    for (i, v) in ar_values.iter_mut().enumerate() {
        *v = ((seed as u32) << 24) | ((i as u32) << 16) | 0xa5a5;
    }
    let ars_at_start = [0u32; 16];
    let ars = ar_values;
    // With the vector facility, all 32 vector registers: the left halves
    // of v0-v15 are f0-f15, so they carry `values`.
    let vector = zpager_rt::sys::has_facility(129);
    let mut vec_values = [[0u64; 2]; 32];
    for (i, v) in vec_values.iter_mut().enumerate() {
        let i = i as u64;
        *v = [
            values
                .get(i as usize)
                .copied()
                .unwrap_or((seed << 56) | i << 40 | 0x7777),
            (seed << 56) | (i << 40) | 0x5555_0000 | i,
        ];
    }
    let vecs = vec_values;
    // Rounding mode 1, 2 or 3 (toward zero, up, down).
    let fpc_in = (seed % 3 + 1) as u32;
    let heap = Mapping::anon(ROUNDS * 4096, true).expect("map_anon");
    let mut area = Area {
        vecs,
        vec_save: [[0; 2]; 32],
        regs: values,
        ars,
        ars_at_start,
    };
    let fpc_out: u64;
    // SAFETY: everything the block reads and writes in memory is in
    // `area`, addressed from r8 at the offsets `Area` fixes. It saves
    // a0-a15 (and, with the vector facility, v0-v31), loads f0-f15 (or
    // v0-v31), the FPC and a0-a15, then per round stores to a fresh page
    // of our own mapping (a fault), makes a null system call, an empty
    // IPC call to the memory server and a yield, and spins; then stores
    // f0-f15 (or v0-v31) and a0-a15 back, reads the FPC, resets it to 0
    // and puts the access and vector registers back as they were. The
    // vector instructions are bytes, since the target has no vector
    // feature. Everything else it changes is declared.
    unsafe {
        asm!(
            "ltgr {vector}, {vector}",
            "jz 10f",
            ".byte 0xe7, 0x0f, 0x82, 0x00, 0x00, 0x3e", // vstm %v0,%v15,512(%r8)
            ".byte 0xe7, 0x0f, 0x83, 0x00, 0x0c, 0x3e", // vstm %v16,%v31,768(%r8)
            ".byte 0xe7, 0x0f, 0x80, 0x00, 0x00, 0x36", // vlm %v0,%v15,0(%r8)
            ".byte 0xe7, 0x0f, 0x81, 0x00, 0x0c, 0x36", // vlm %v16,%v31,256(%r8)
            "j 11f",
            "10:",
            "ld %f0, 1024(%r8)", "ld %f1, 1032(%r8)", "ld %f2, 1040(%r8)", "ld %f3, 1048(%r8)",
            "ld %f4, 1056(%r8)", "ld %f5, 1064(%r8)", "ld %f6, 1072(%r8)", "ld %f7, 1080(%r8)",
            "ld %f8, 1088(%r8)", "ld %f9, 1096(%r8)", "ld %f10, 1104(%r8)", "ld %f11, 1112(%r8)",
            "ld %f12, 1120(%r8)", "ld %f13, 1128(%r8)", "ld %f14, 1136(%r8)", "ld %f15, 1144(%r8)",
            "11:",
            "sfpc {fpc}",
            "stam %a0, %a15, 1216(%r8)",
            "lam %a0, %a15, 1152(%r8)",
            "2:",
            "mvi 0({page}), 1",
            "aghi {page}, 4096",
            "svc 5",
            "lghi %r1, 0", "lghi %r2, 4", "lghi %r3, 0", "lghi %r4, 0",
            "lghi %r5, 0", "lghi %r6, 0", "lghi %r7, 0",
            "svc 3",
            "svc 0",
            "llilf {spin}, {spins}",
            "3: brctg {spin}, 3b",
            "brctg {rounds}, 2b",
            "ltgr {vector}, {vector}",
            "jz 12f",
            ".byte 0xe7, 0x0f, 0x80, 0x00, 0x00, 0x3e", // vstm %v0,%v15,0(%r8)
            ".byte 0xe7, 0x0f, 0x81, 0x00, 0x0c, 0x3e", // vstm %v16,%v31,256(%r8)
            ".byte 0xe7, 0x0f, 0x82, 0x00, 0x00, 0x36", // vlm %v0,%v15,512(%r8)
            ".byte 0xe7, 0x0f, 0x83, 0x00, 0x0c, 0x36", // vlm %v16,%v31,768(%r8)
            "j 13f",
            "12:",
            "std %f0, 1024(%r8)", "std %f1, 1032(%r8)", "std %f2, 1040(%r8)", "std %f3, 1048(%r8)",
            "std %f4, 1056(%r8)", "std %f5, 1064(%r8)", "std %f6, 1072(%r8)", "std %f7, 1080(%r8)",
            "std %f8, 1088(%r8)", "std %f9, 1096(%r8)", "std %f10, 1104(%r8)", "std %f11, 1112(%r8)",
            "std %f12, 1120(%r8)", "std %f13, 1128(%r8)", "std %f14, 1136(%r8)", "std %f15, 1144(%r8)",
            "13:",
            "efpc {fpc}",
            "sfpc {spin}",
            "stam %a0, %a15, 1152(%r8)",
            "lam %a0, %a15, 1216(%r8)",
            in("r8") &mut area as *mut Area,
            vector = in(reg) u64::from(vector),
            fpc = inout(reg) u64::from(fpc_in) => fpc_out,
            page = inout(reg_addr) heap.addr() => _,
            rounds = inout(reg) ROUNDS => _,
            spins = const SPIN,
            spin = out(reg) _,
            out("r1") _, out("r2") _, out("r3") _, out("r4") _, out("r5") _, out("r6") _, out("r7") _,
            out("f0") _, out("f1") _, out("f2") _, out("f3") _, out("f4") _, out("f5") _, out("f6") _, out("f7") _,
            out("f8") _, out("f9") _, out("f10") _, out("f11") _, out("f12") _, out("f13") _, out("f14") _, out("f15") _,
        );
    }
    let Area {
        vecs,
        mut regs,
        ars,
        ars_at_start,
        ..
    } = area;
    if vector {
        // The FPRs live in the left halves of v0-v15.
        for (r, v) in regs.iter_mut().zip(&vecs) {
            *r = v[0];
        }
    }
    let wrong = values.iter().zip(&regs).filter(|(a, b)| a != b).count();
    if vector {
        let wrong_vecs = vec_values.iter().zip(&vecs).filter(|(a, b)| a != b).count();
        println!("vector facility: {wrong_vecs} of 32 vector registers changed");
        if wrong_vecs != 0 {
            println!("verdict: FAIL");
            return 1;
        }
    } else {
        println!("no vector facility: checking f0-f15 only");
    }
    let fpc_ok = fpc_out as u32 == fpc_in;
    let wrong_ars = ar_values.iter().zip(&ars).filter(|(a, b)| a != b).count();
    let dirty_at_start = ars_at_start.iter().filter(|&&a| a != 0).count();
    println!(
        "{ROUNDS} rounds of faults, system calls, IPC, yields and spinning: {wrong} of 16 FPRs changed, FPC {}, {wrong_ars} of 16 access registers changed",
        if fpc_ok { "kept" } else { "changed" }
    );
    println!("{dirty_at_start} of 16 access registers nonzero at start");
    let ok = wrong == 0 && fpc_ok && wrong_ars == 0 && dirty_at_start == 0;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}
