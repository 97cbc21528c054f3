//! Checks that the registers the kernel switches lazily (f0-f15, the FPC
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

zpager_rt::entry!(main);

const ROUNDS: u64 = 48;
const SPIN: u64 = 200_000;

fn main() -> u64 {
    let seed: u64 = zpager_rt::args()
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("seed=")?.parse().ok())
        .unwrap_or(1);
    let mut values = [0u64; 16];
    for (i, v) in values.iter_mut().enumerate() {
        *v = (seed << 56) | ((i as u64) << 48) | 0x0123_4567_89ab;
    }
    let mut ar_values = [0u32; 16];
    for (i, v) in ar_values.iter_mut().enumerate() {
        *v = ((seed as u32) << 24) | ((i as u32) << 16) | 0xa5a5;
    }
    let mut ars_at_start = [0u32; 16];
    let mut ars = ar_values;
    // Rounding mode 1, 2 or 3 (toward zero, up, down).
    let fpc_in = (seed % 3 + 1) as u32;
    let heap = Mapping::anon(ROUNDS * 4096, true).expect("map_anon");
    let mut regs = values;
    let fpc_out: u64;
    // SAFETY: the block saves a0-a15 into `ars_at_start`, loads f0-f15,
    // the FPC and a0-a15 from `regs`, `fpc` and `ars`, then per round
    // stores to a fresh page of our own mapping (a fault), makes a null
    // system call, an empty IPC call to the memory server and a yield,
    // and spins; then stores f0-f15 and a0-a15 back into `regs` and
    // `ars`, reads the FPC, resets it to 0 and puts the access registers
    // back as they were. Everything else it changes is declared.
    unsafe {
        asm!(
            "ld %f0, 0({regs})", "ld %f1, 8({regs})", "ld %f2, 16({regs})", "ld %f3, 24({regs})",
            "ld %f4, 32({regs})", "ld %f5, 40({regs})", "ld %f6, 48({regs})", "ld %f7, 56({regs})",
            "ld %f8, 64({regs})", "ld %f9, 72({regs})", "ld %f10, 80({regs})", "ld %f11, 88({regs})",
            "ld %f12, 96({regs})", "ld %f13, 104({regs})", "ld %f14, 112({regs})", "ld %f15, 120({regs})",
            "sfpc {fpc}",
            "stam %a0, %a15, 0({start})",
            "lam %a0, %a15, 0({ars})",
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
            "std %f0, 0({regs})", "std %f1, 8({regs})", "std %f2, 16({regs})", "std %f3, 24({regs})",
            "std %f4, 32({regs})", "std %f5, 40({regs})", "std %f6, 48({regs})", "std %f7, 56({regs})",
            "std %f8, 64({regs})", "std %f9, 72({regs})", "std %f10, 80({regs})", "std %f11, 88({regs})",
            "std %f12, 96({regs})", "std %f13, 104({regs})", "std %f14, 112({regs})", "std %f15, 120({regs})",
            "efpc {fpc}",
            "sfpc {spin}",
            "stam %a0, %a15, 0({ars})",
            "lam %a0, %a15, 0({start})",
            regs = in(reg_addr) regs.as_mut_ptr(),
            ars = in(reg_addr) ars.as_mut_ptr(),
            start = in(reg_addr) ars_at_start.as_mut_ptr(),
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
    let wrong = values.iter().zip(&regs).filter(|(a, b)| a != b).count();
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
