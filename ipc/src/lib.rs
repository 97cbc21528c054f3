//! The zpager ABI, shared by the kernel, the memory server, client programs
//! and the host tools.
//!
//! Everything two parties must agree on lives here and nowhere else: the boot
//! archive that carries programs and configuration into the guest, the boot
//! configuration keys, and the exit protocol between the guest and its host.
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod bootarchive;
pub mod bootconfig;
pub mod exit;
