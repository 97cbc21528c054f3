//! Executes a privileged instruction (PURGE TLB) in problem state; must be
//! killed.
#![no_std]
#![no_main]

use zpager_rt::println;

zpager_rt::entry!(main);

fn main() -> u64 {
    println!("executing PTLB in problem state");
    // SAFETY: deliberately privileged: the kernel must kill us here.
    unsafe { core::arch::asm!(".insn s,0xb20d0000,0") };
    println!("survived a privileged instruction; verdict: FAIL");
    1
}
