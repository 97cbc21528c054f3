//! The parts of the zpager kernel that are plain logic: SCLP control-block
//! layouts, the physical memory map, names for interruption codes, the
//! table of address spaces with their generations, and threads' states with
//! the checks `THREAD_FORK` makes on them.
//!
//! They build and are unit-tested on the host. Everything that touches the
//! machine lives in the `zpager-kernel` binary's `arch` module.
// Clients' FP registers are switched lazily on the promise that this code
// never uses them (see kernel/src/thread/sched.rs).
#![deny(clippy::float_arithmetic)]
#![forbid(unsafe_code)]
#![no_std]

pub mod interruption;
pub mod memmap;
pub mod sclp;
pub mod spaces;
pub mod threadstate;
