//! Raw system calls (see `zpager_ipc::abi` for the conventions).

use core::arch::asm;
use zpager_ipc::abi::syscall;

/// Gives up the rest of the time slice.
pub fn yield_now() {
    // SAFETY: YIELD reads and writes no registers or memory of ours.
    unsafe { asm!("svc {n}", n = const syscall::YIELD) };
}

/// Ends the program with `status`.
pub fn exit(status: u64) -> ! {
    // SAFETY: EXIT does not return.
    unsafe { asm!("svc {n}", n = const syscall::EXIT, in("r2") status, options(noreturn)) };
}

/// Does nothing in the kernel and comes back.
pub fn null() {
    // SAFETY: NULL only sets r2.
    unsafe { asm!("svc {n}", n = const syscall::NULL, out("r2") _) };
}

/// Prints the first `len` bytes of the message page; the kernel starts
/// each line with the program's name. A `len` beyond the page gets the
/// program killed.
pub fn console_write(len: usize) {
    // SAFETY: the kernel reads the message page and sets r2.
    unsafe { asm!("svc {n}", n = const syscall::CONSOLE_WRITE, inout("r2") len as u64 => _) };
}

/// Sends MR0-MR5 to `endpoint` and returns the reply's MR0-MR5.
pub fn call(endpoint: u64, msg: [u64; 6]) -> [u64; 6] {
    let mut m = msg;
    // SAFETY: CALL reads r1-r7 and returns the reply in r2-r7; the message
    // page may change, which the caller expects.
    unsafe {
        asm!(
            "svc {n}",
            n = const syscall::CALL,
            in("r1") endpoint,
            inout("r2") m[0],
            inout("r3") m[1],
            inout("r4") m[2],
            inout("r5") m[3],
            inout("r6") m[4],
            inout("r7") m[5],
        );
    }
    m
}

/// Makes system call `N` with up to five arguments; returns r2 (an
/// [`zpager_ipc::abi::Error`] code) and r3. For the memory server's
/// privileged calls.
pub fn raw<const N: u8>(args: [u64; 5]) -> (u64, u64) {
    let (r2, r3): (u64, u64);
    // SAFETY: these system calls read r2-r6 and the message page, and set
    // r2 and r3.
    unsafe {
        asm!(
            "svc {n}",
            n = const N,
            inout("r2") args[0] => r2,
            inout("r3") args[1] => r3,
            in("r4") args[2],
            in("r5") args[3],
            in("r6") args[4],
        );
    }
    (r2, r3)
}

/// Replies to `badge` (unless it is `NO_REPLY`) with MR0-MR5 and waits for
/// the next message: returns the sender's badge and its MR0-MR5. Memory
/// server only.
pub fn reply_recv(badge: u64, reply: [u64; 6]) -> (u64, [u64; 6]) {
    let mut m = reply;
    let mut b = badge;
    // SAFETY: as for `call`.
    unsafe {
        asm!(
            "svc {n}",
            n = const syscall::REPLY_RECV,
            inout("r1") b,
            inout("r2") m[0],
            inout("r3") m[1],
            inout("r4") m[2],
            inout("r5") m[3],
            inout("r6") m[4],
            inout("r7") m[5],
        );
    }
    (b, m)
}

/// The message page, for building raw messages (see [`call`]).
pub fn message_page() -> &'static mut [u8; zpager_ipc::abi::utcb::SIZE] {
    crate::arch::utcb_page()
}

/// Waits for the next message: returns the sender's badge and its
/// MR0-MR5. Memory server only.
pub fn recv() -> (u64, [u64; 6]) {
    let mut m = [0u64; 6];
    let b: u64;
    // SAFETY: RECV sets r1-r7 to the received message.
    unsafe {
        asm!(
            "svc {n}",
            n = const syscall::RECV,
            out("r1") b,
            out("r2") m[0],
            out("r3") m[1],
            out("r4") m[2],
            out("r5") m[3],
            out("r6") m[4],
            out("r7") m[5],
        );
    }
    (b, m)
}

/// Replies to `badge` with MR0-MR5 without waiting. Memory server only;
/// a badge with no caller waiting stops the system.
pub fn reply(badge: u64, msg: [u64; 6]) {
    // SAFETY: REPLY reads r1-r7 and sets r2.
    unsafe {
        asm!(
            "svc {n}",
            n = const syscall::REPLY,
            in("r1") badge,
            inout("r2") msg[0] => _,
            in("r3") msg[1],
            in("r4") msg[2],
            in("r5") msg[3],
            in("r6") msg[4],
            in("r7") msg[5],
        );
    }
}

/// Whether the machine has facility `bit` (STFLE numbering, below 192;
/// 129 is the vector facility, whose registers the kernel then keeps per
/// client).
pub fn has_facility(bit: usize) -> bool {
    let mut list = [0u64; 3];
    // SAFETY: STFLE stores at most r0 + 1 = 3 doublewords into `list`;
    // r0 and the condition code are declared. Problem state may use it.
    unsafe {
        asm!(
            ".insn s,0xb2b00000,0({list})",
            list = in(reg_addr) list.as_mut_ptr(),
            inout("r0") 2u64 => _,
        )
    };
    list.get(bit / 64)
        .is_some_and(|word| word & (1 << (63 - bit % 64)) != 0)
}

/// The TOD clock (STCKF). Under `-icount shift=0`, 4096 units are one
/// microsecond and one microsecond is 1000 guest instructions.
pub fn tod() -> u64 {
    let mut t = 0u64;
    // SAFETY: STCKF stores one doubleword, here into `t`.
    unsafe { asm!("stckf 0({0})", in(reg_addr) &mut t, options(nostack)) };
    t
}

/// Returns right after a timer tick (or anything else that took the CPU
/// away), so a timed run that follows starts a whole 10 ms slice before
/// the next tick: it never pays for one, and its figure repeats exactly
/// under `-icount` whatever ran before it. A tick shows as a jump of the
/// clock between two reads in a tight loop (under `-icount shift=0` a
/// turn of the loop takes a few instructions, the kernel's tick
/// hundreds). Gives up after 30 ms, so a machine without ticks never
/// hangs here.
pub fn after_tick() {
    const JUMP: u64 = 200 * 4096 / 1000;
    const GIVE_UP: u64 = 30_000 * 4096;
    let start = tod();
    let mut last = start;
    loop {
        let now = tod();
        if now - last > JUMP || now - start > GIVE_UP {
            return;
        }
        last = now;
    }
}
