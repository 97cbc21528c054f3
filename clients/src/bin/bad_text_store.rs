//! Stores into its own program text, which is mapped read-only straight
//! from the boot archive; must be killed, and the archive stays intact.
#![no_std]
#![no_main]

use zpager_rt::println;

zpager_rt::entry!(main);

fn main() -> u64 {
    let text = main as *const () as *mut u8;
    println!("storing into my own text at {text:p}");
    // SAFETY: deliberately writes read-only text: the kernel must kill us.
    unsafe { text.write_volatile(0) };
    println!("survived a store to text; verdict: FAIL");
    1
}
