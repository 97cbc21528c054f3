//! Switches itself to another address-space mode with SACF and loads from
//! the lowcore's address. Args: `space=secondary` (default) or
//! `space=home`.
//!
//! Secondary: the architecture refuses SACF in problem state while CR0's
//! secondary-space control is off, but QEMU runs it, so the kernel keeps
//! CR7 at the client's own space; the load is then a non-primary access
//! and the client is killed. Home: SACF to home space is privileged (and
//! home space holds the memory server's own space), so the SACF itself
//! must get the client killed.
#![no_std]
#![no_main]

use core::arch::asm;
use zpager_rt::println;

zpager_rt::entry!(main, args = "space=");

/// SACF operands: secondary-space and home-space mode.
const SECONDARY: u16 = 0x100;
const HOME: u16 = 0x300;

/// Switches to the mode `SACF_MODE` selects, loads two doublewords at
/// 0x1d0 and switches back to primary space.
fn read_through<const SACF_MODE: u16>() -> (u64, u64) {
    let (word0, word1): (u64, u64);
    // SAFETY: deliberately hostile: SACF to the other mode, two loads,
    // SACF 0 (back to primary). If the loads succeed they read whatever
    // that space maps at 0x1d0; nothing is written.
    unsafe {
        asm!(
            "lghi {a}, 0x1d0",
            ".insn s,0xb2790000,{mode}",
            "lg {m}, 0({a})",
            "lg {p}, 8({a})",
            ".insn s,0xb2790000,0",
            mode = const SACF_MODE,
            a = out(reg_addr) _,
            m = out(reg) word0,
            p = out(reg) word1,
        );
    }
    (word0, word1)
}

fn main() -> u64 {
    let home = zpager_rt::arg_text("space") == Some("home");
    let space = if home { "home" } else { "secondary" };
    println!("switching to {space}-space mode and reading address 0x1d0");
    let (word0, word1) = if home {
        read_through::<HOME>()
    } else {
        read_through::<SECONDARY>()
    };
    println!("read {word0:#018x} {word1:#018x} through the {space} space; verdict: FAIL");
    1
}
