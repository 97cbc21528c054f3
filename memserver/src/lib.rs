//! The zpager memory server: it will own every frame and every page table
//! and answer client page faults (see `DESIGN.md`).
//!
//! Nothing is implemented yet: the boot platform comes first. This crate
//! holds no code until the memory-server issue fills it, so nothing here
//! can be mistaken for a working server.
#![no_std]
