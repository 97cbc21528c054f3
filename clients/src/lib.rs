//! `zpager_rt`: the runtime every zpager client program (and the memory
//! server) is built on.
//!
//! It provides the program entry (`_start`), a panic handler, console
//! output ([`print!`], [`println!`]), exit with a status, the raw system
//! calls (`sys`) and typed wrappers for the memory server's protocol
//! (`mem`, `segment`, `window`, `pfn`, `process`). A program supplies
//! `fn main() -> u64` and names it with [`entry!`]; its return value is
//! the exit status.
//!
//! Read this documentation with
//! `cargo doc -p zpager-clients --target s390x-unknown-linux-gnu --open`
//! (the modules exist only for the s390x target).
//!
//! ```text
//! #![no_std]
//! #![no_main]
//! zpager_rt::entry!(main);
//!
//! fn main() -> u64 {
//!     zpager_rt::println!("hello from {}", zpager_rt::name());
//!     0
//! }
//! ```
//!
//! See `docs/clients.md` for building and running a new client.
#![no_std]

#[cfg(target_arch = "s390x")]
mod arch;
#[cfg(target_arch = "s390x")]
pub mod mem;
#[cfg(target_arch = "s390x")]
pub mod pfn;
#[cfg(target_arch = "s390x")]
pub mod process;
#[cfg(target_arch = "s390x")]
pub mod segment;
#[cfg(target_arch = "s390x")]
pub mod sys;
#[cfg(target_arch = "s390x")]
pub mod window;
#[cfg(target_arch = "s390x")]
pub use arch::{arg, arg_text, args, flag, name};
#[cfg(target_arch = "s390x")]
pub mod console;

/// Names the program's `main`, which returns the exit status, and the
/// arguments it accepts: `entry!(main)` takes none, `entry!(main, args =
/// "pages= verbose")` takes `pages=<value>` and the flag `verbose` (see
/// `zpager_ipc::args` for the format). The runtime refuses any other
/// argument before `main` runs, and xtask before it boots.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, args = "");
    };
    ($main:path, args = $accepted:literal) => {
        #[no_mangle]
        extern "Rust" fn zpager_main() -> u64 {
            $main()
        }

        #[no_mangle]
        extern "Rust" fn zpager_accepted_args() -> &'static str {
            $accepted
        }

        /// The declaration again, where xtask reads it from the ELF file,
        /// NUL-terminated so that "no arguments" still has a section.
        #[used]
        #[link_section = ".zpager_args"]
        static ZPAGER_ACCEPTED_ARGS: [u8; $accepted.len() + 1] = {
            let text = $accepted.as_bytes();
            let mut bytes = [0u8; $accepted.len() + 1];
            let mut i = 0;
            while i < text.len() {
                bytes[i] = text[i];
                i += 1;
            }
            bytes
        };
    };
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print(format_args!($($arg)*)));
}

/// Prints a line to the console (the kernel prefixes it with the
/// program's name).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => ($crate::console::print_line(format_args!($($arg)*)));
}
