//! Passes the kernel a bad system-call argument (a console write longer
//! than the message page); must be killed.
#![no_std]
#![no_main]

use zpager_rt::{println, sys};

zpager_rt::entry!(main);

fn main() -> u64 {
    println!("asking the kernel to print 1 MiB from a 4 KiB message page");
    sys::console_write(1 << 20);
    println!("survived a bad system call; verdict: FAIL");
    1
}
