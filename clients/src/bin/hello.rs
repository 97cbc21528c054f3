//! The smallest client: prints a greeting and checks it can read its own
//! name and arguments.
#![no_std]
#![no_main]

use zpager_rt::println;

zpager_rt::entry!(main);

fn main() -> u64 {
    println!("hello from zpager (args: {:?})", zpager_rt::args());
    let ok = zpager_rt::name() == "hello";
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    if ok {
        0
    } else {
        1
    }
}
