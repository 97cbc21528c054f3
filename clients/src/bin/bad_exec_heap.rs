//! Copies a tiny function into anonymous memory and calls it. Heap, stack
//! and data are mapped non-executable, so where the machine has
//! instruction-execution protection (STFLE bit 130; QEMU's default CPU
//! does) the call must get this client killed.
#![no_std]
#![no_main]

use zpager_rt::mem::Mapping;
use zpager_rt::{println, sys};

zpager_rt::entry!(main);

/// `lghi %r2, 42; br %r14`: returns 42.
const RETURN_42: [u8; 6] = [0xa7, 0x29, 0x00, 0x2a, 0x07, 0xfe];

fn main() -> u64 {
    let iep = sys::has_facility(130);
    println!("instruction-execution protection: {iep}");
    let heap = match Mapping::anon(4096, true) {
        Ok(m) => m,
        Err(e) => {
            println!("map_anon failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    for (i, &b) in RETURN_42.iter().enumerate() {
        heap.write_u8(i as u64, b);
    }
    println!("calling code written to the heap at {:#x}", heap.addr());
    // SAFETY: deliberately executes data: the kernel must kill us here
    // (without the facility it returns 42 and the check below fails).
    let f: extern "C" fn() -> u64 = unsafe { core::mem::transmute(heap.addr() as usize) };
    let got = f();
    println!("survived: the heap code returned {got}; verdict: FAIL");
    1
}
