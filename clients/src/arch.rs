//! Program entry, the panic handler and the startup block.

use core::arch::global_asm;
use zpager_ipc::abi::{layout, utcb};

global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    brasl   %r14, zpager_rt_start
    j       .
"#
);

/// Name and arguments, copied out of the message page before it is used
/// for messages.
struct Startup {
    name: [u8; utcb::MAX_NAME],
    name_len: usize,
    args: [u8; utcb::MAX_ARGS],
    args_len: usize,
}

static mut STARTUP: Startup = Startup {
    name: [0; utcb::MAX_NAME],
    name_len: 0,
    args: [0; utcb::MAX_ARGS],
    args_len: 0,
};

fn startup() -> &'static Startup {
    // SAFETY: written once in zpager_rt_start before main runs; the program
    // is single-threaded and only reads it afterwards.
    unsafe { &*core::ptr::addr_of!(STARTUP) }
}

/// This program's name, as the manifest gave it.
pub fn name() -> &'static str {
    let s = startup();
    core::str::from_utf8(&s.name[..s.name_len]).unwrap_or("?")
}

/// The argument string from the manifest.
pub fn args() -> &'static str {
    let s = startup();
    core::str::from_utf8(&s.args[..s.args_len]).unwrap_or("")
}

/// The value of argument `key=value`, parsed; `None` when it is missing
/// or does not parse.
pub fn arg<T: core::str::FromStr>(key: &str) -> Option<T> {
    arg_text(key)?.parse().ok()
}

/// The value of argument `key=value` as written.
pub fn arg_text(key: &str) -> Option<&'static str> {
    zpager_ipc::args::value(args(), key)
}

/// Whether the bare word `word` is among the arguments.
pub fn flag(word: &str) -> bool {
    zpager_ipc::args::flag(args(), word)
}

/// The message page.
pub(crate) fn utcb_page() -> &'static mut [u8; utcb::SIZE] {
    // SAFETY: the memory server maps the message page at layout::UTCB in
    // every space. The program is single-threaded and each user of the
    // page (console, memory calls) is done with it before the next starts.
    unsafe { &mut *(layout::UTCB as *mut [u8; utcb::SIZE]) }
}

extern "Rust" {
    fn zpager_main() -> u64;
    fn zpager_accepted_args() -> &'static str;
}

#[no_mangle]
extern "C" fn zpager_rt_start() -> ! {
    let (name, args) = utcb::read_startup(utcb_page());
    // SAFETY: nothing else runs yet; see `startup`.
    let s = unsafe { &mut *core::ptr::addr_of_mut!(STARTUP) };
    s.name[..name.len()].copy_from_slice(name.as_bytes());
    s.name_len = name.len();
    s.args[..args.len()].copy_from_slice(args.as_bytes());
    s.args_len = args.len();
    // SAFETY: entry! defines both functions in the program.
    let accepted = unsafe { zpager_accepted_args() };
    // The copy: printing reuses the message page `args` points into.
    if let Some(word) = zpager_ipc::args::first_unknown(self::args(), accepted) {
        crate::println!(
            "unknown argument {word:?}; this program takes: {}",
            if accepted.is_empty() {
                "no arguments"
            } else {
                accepted
            }
        );
        crate::sys::exit(zpager_ipc::args::BAD_ARGUMENT_STATUS);
    }
    // SAFETY: as above.
    let status = unsafe { zpager_main() };
    crate::sys::exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::println!("panic: {}", info);
    crate::sys::exit(101)
}

/// The precompiled `core` refers to this even with panic=abort.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
