//! The zpager client runtime and the small client programs that run on it.
//!
//! Nothing is implemented yet: clients need user mode and the memory
//! server, which arrive with the next issue. This crate holds no code until
//! then, so nothing here can be mistaken for a working runtime.
#![no_std]
