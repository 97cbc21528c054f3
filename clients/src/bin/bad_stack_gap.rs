//! Takes the whole mapping area, then stores a few pages below its
//! stack, as a function with a large frame and no stack probes would:
//! the store must fault in the unmapped gap below the stack (and the
//! client be killed), not land in the highest mapping.
#![no_std]
#![no_main]

use zpager_ipc::abi::layout;
use zpager_rt::mem;
use zpager_rt::println;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;

fn main() -> u64 {
    let area = layout::HEAP_END - layout::HEAP_BASE;
    let whole = mem::map_anon(area, true);
    // Then pieces of every size: none may land below the stack (they go
    // above 4 GiB, where a large space maps).
    let mut below = 0;
    for piece in [0x10_0000, 0x1_0000, PAGE] {
        match mem::map_anon(piece, true) {
            Ok(addr) if addr < layout::HIGH_BASE => below += piece,
            Ok(addr) => {
                let _ = mem::unmap(addr, piece);
            }
            Err(_) => {}
        }
    }
    println!(
        "the whole area below the gap: {whole:?}; {} KiB more mapped below the stack",
        below / 1024
    );
    let ok = whole == Ok(layout::HEAP_BASE) && below == 0;
    // The highest heap word still works.
    let top = (layout::HEAP_END - 8) as *mut u64;
    // SAFETY: inside the mapping made above (checked by `ok`).
    let top_ok = ok
        && unsafe {
            top.write_volatile(0x5eed);
            top.read_volatile() == 0x5eed
        };
    let stack_bottom = layout::STACK_TOP - layout::STACK_SIZE;
    let target = stack_bottom - 3 * PAGE;
    println!(
        "highest heap word written and read back: {top_ok}; storing {} KiB below the stack at {target:#x}",
        (stack_bottom - target) / 1024
    );
    if !top_ok {
        println!("verdict: FAIL");
        return 1;
    }
    // SAFETY: deliberately below the stack: the kernel must kill us here.
    unsafe { (target as *mut u64).write_volatile(1) };
    println!("survived a store below the stack; verdict: FAIL");
    1
}
