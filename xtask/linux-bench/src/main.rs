//! The `bench` client's scenarios on Linux: a static program that runs as
//! `/init` in an initramfs under `-icount shift=0`, prints one
//! `BENCH <name> insns_per_op=<x.y> ops=<n> faults=<n>` line per
//! scenario, the same way the zpager client does, and powers off.
//!
//! Kernel command line words that name scenarios choose them (after
//! `--`, the kernel hands them to init as arguments); default all.
#![cfg_attr(target_arch = "s390x", no_std, no_main)]

#[cfg(target_arch = "s390x")]
mod out;
#[cfg(target_arch = "s390x")]
mod scenarios;
#[cfg(target_arch = "s390x")]
mod sys;

#[cfg(not(target_arch = "s390x"))]
fn main() {
    eprintln!("linux-bench is an s390x Linux program; cargo xtask bench --vs-linux runs it");
}

#[cfg(target_arch = "s390x")]
mod entry {
    use crate::{out, scenarios, sys};

    // Linux starts init with the stack pointer on argc, then argv; pass
    // it on and give main the ABI's 160-byte register save area.
    core::arch::global_asm!(
        r#"
        .globl _start
    _start:
        lgr     %r2, %r15
        aghi    %r15, -160
        xc      0(8,%r15), 0(%r15)
        brasl   %r14, linux_bench_main
        j       .
    "#
    );

    /// Argument `index` of the initial stack at `sp`.
    fn arg(sp: *const u64, index: u64) -> Option<&'static [u8]> {
        // SAFETY: the kernel lays out argc and argc argv pointers at `sp`,
        // each pointing to a NUL-terminated string that lives forever.
        unsafe {
            if index >= *sp {
                return None;
            }
            let ptr = *sp.add(1 + index as usize) as *const core::ffi::c_char;
            Some(core::ffi::CStr::from_ptr(ptr).to_bytes())
        }
    }

    #[no_mangle]
    extern "C" fn linux_bench_main(sp: *const u64) -> ! {
        scenarios::setup();
        let chosen = |name: &str| {
            (1..)
                .map_while(|i| arg(sp, i))
                .any(|a| a == name.as_bytes())
        };
        let any_chosen = scenarios::all().any(&chosen);
        for name in scenarios::all() {
            if !any_chosen || chosen(name) {
                scenarios::run(name);
            }
        }
        out::line(format_args!("linux-bench: done"));
        sys::power_off()
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        out::line(format_args!("linux-bench: FAILED: {info}"));
        sys::power_off()
    }

    /// The precompiled `core` refers to this even with panic=abort.
    #[no_mangle]
    extern "C" fn rust_eh_personality() {}
}
