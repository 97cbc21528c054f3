//! Stores to an address nothing may be mapped at; must be killed.
#![no_std]
#![no_main]

use zpager_rt::println;

zpager_rt::entry!(main);

fn main() -> u64 {
    println!("storing to 0xdead0000");
    // SAFETY: deliberately wild: the kernel must kill us here.
    unsafe { (0xdead_0000 as *mut u64).write_volatile(1) };
    println!("survived a wild store; verdict: FAIL");
    1
}
