//! Takes frames until the memory server stops it: maps a large anonymous
//! range and writes one byte per page. Its frame limit (`frames=N` in the
//! manifest, or an equal share of the pool) must get it killed before it
//! can take frames the other clients were promised.
#![no_std]
#![no_main]

use zpager_rt::mem::Mapping;
use zpager_rt::println;

zpager_rt::entry!(main);

/// Larger than any share of the default 128 MiB.
const PAGES: u64 = 48 * 1024;

fn main() -> u64 {
    let heap = match Mapping::anon(PAGES * 4096, true) {
        Ok(m) => m,
        Err(e) => {
            println!("map_anon of {PAGES} pages failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    println!("writing {PAGES} pages until the memory server refuses a frame");
    for page in 0..PAGES {
        heap.write_u8(page * 4096, 1);
    }
    println!("wrote all {PAGES} pages without reaching a frame limit; verdict: FAIL");
    1
}
