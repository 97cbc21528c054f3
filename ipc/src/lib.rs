//! The zpager ABI, shared by the kernel, the memory server, client programs
//! and the host tools.
//!
//! Everything two parties must agree on lives here and nowhere else: the
//! system-call ABI and the fixed memory layout ([`abi`]), the messages and
//! privileged calls between the kernel and the memory server ([`kmsg`],
//! [`kcall`], with generational ids from [`ids`] and kill reasons from
//! [`kill`]), the memory-server protocol ([`protocol`], shared segments' names and modes in [`segment`], pfn grants' views in [`pfn`]), the boot archive that carries programs and
//! configuration into the guest ([`bootarchive`], [`bootconfig`],
//! [`manifest`]), and the exit protocol between the guest and its host
//! ([`exit`]).
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod abi;
pub mod args;
pub mod bench;
pub mod bootarchive;
pub mod bootconfig;
pub mod dat;
pub mod elf;
pub mod exit;
#[cfg(all(target_arch = "s390x", not(test)))]
pub mod freestanding;
pub mod ids;
pub mod kcall;
pub mod kill;
pub mod kmsg;
pub mod manifest;
pub mod modes;
pub mod pfn;
pub mod protocol;
pub mod segment;
