//! Everything that touches the machine directly: lowcore, control
//! registers, PSWs, the service call, clocks and timers. Each `unsafe`
//! block says why it is sound.

mod cell;
pub mod entry;
mod lazyregs;
mod storage;

pub use cell::KernelCell;
pub use lazyregs::{lazy_regs_match, load_lazy_regs_on_exit, save_lazy_regs};
pub use storage::{invalidate_segment, phys, purge_tlb, replace_pte, replace_pte_list};

use core::arch::asm;
use zpager_ipc::dat::Ste;

/// Lowcore offsets (prefix 0, so these are also absolute addresses).
pub mod lowcore {
    /// External-interruption parameter (u32).
    pub const EXT_PARAMS: usize = 0x80;
    /// External-interruption code (u16).
    pub const EXT_CODE: usize = 0x86;
    /// Supervisor-call interruption code (u16).
    pub const SVC_CODE: usize = 0x8a;
    /// Program-interruption ILC byte.
    pub const PGM_ILC: usize = 0x8d;
    /// Program-interruption code (u16).
    pub const PGM_CODE: usize = 0x8e;
    /// Translation-exception identification (u64).
    pub const TEID: usize = 0xa8;
    /// New PSWs, in interruption-class order: restart, external, SVC,
    /// program, machine check, I/O.
    pub const NEW_PSWS: usize = 0x1a0;

    // Kernel-defined words in the software-usable part of the lowcore.
    // The entry code addresses them with base register 0, so they must
    // stay below 4 KiB; entry.rs uses the same numbers.
    /// Scratch copy of the 16 GPRs at interruption entry.
    pub const SAVE_GPRS: usize = 0x200;
    /// The PSW the exit path loads.
    pub const RETURN_PSW: usize = 0x280;
    /// Frame of the thread running in problem state: interruptions from
    /// problem state save into it.
    pub const CURRENT_FRAME: usize = 0x290;
    /// Initial stack pointer for handlers of interruptions from problem
    /// state (the stack's top less a register save area).
    pub const HANDLER_SP: usize = 0x298;
    /// Top of the stack for program checks, machine checks and restarts in
    /// supervisor state, so a broken kernel stack still gets a report.
    pub const EMERGENCY_STACK_TOP: usize = 0x2a0;
    /// Frame whose FPRs (or vector registers), FPC and access registers
    /// the exit path loads (then clears), or 0.
    pub const LAZY_LOAD: usize = 0x2a8;
    /// 1 when the vector registers are enabled and switched (u8).
    pub const VECTOR_REGS: usize = 0x2b0;
}

/// Where a loader that treats the image as Linux leaves the initrd's start
/// and size (u64 each; zero when nothing was written). QEMU does this for
/// an ELF entered at 0x10000; see `link.ld`.
pub mod boot_parameters {
    pub const INITRD_START: usize = 0x10408;
    pub const INITRD_SIZE: usize = 0x10410;
}

/// Reads one of the loader's boot parameters.
pub fn boot_parameter(offset: usize) -> u64 {
    // SAFETY: `offset` lies in the kernel's zero-filled .head page, which
    // only the loader writes, before the kernel starts.
    unsafe { core::ptr::read_volatile(offset as *const u64) }
}

/// The bytes from the boot archive's load address, at most `len` and never
/// past `memory`, the storage size SCLP reported.
pub fn boot_archive_bytes(memory: u64, len: u64) -> &'static [u8] {
    let start = zpager_ipc::bootarchive::LOAD_ADDRESS;
    let len = len.min(memory.saturating_sub(start));
    // SAFETY: start..start+len is storage (clamped to the reported size),
    // lies above the kernel image (the linker script keeps it below 7 MiB),
    // and nothing writes it during the run.
    unsafe { core::slice::from_raw_parts(start as *const u8, len as usize) }
}

/// PSW mask bits.
pub mod psw {
    /// External interruptions enabled.
    pub const EXT: u64 = 0x0100_0000_0000_0000;
    /// Wait state.
    pub const WAIT: u64 = 0x0002_0000_0000_0000;
    /// Problem state.
    pub const PROBLEM: u64 = 0x0001_0000_0000_0000;
    /// DAT on.
    pub const DAT: u64 = 0x0400_0000_0000_0000;
    /// What every client thread runs with: problem state, DAT on, primary
    /// space, 64-bit, external interruptions enabled (for preemption).
    pub const USER: u64 = DAT | EXT | PROBLEM | ADDR64;
    /// Address-space control: home space (translation through CR13).
    pub const HOME_SPACE: u64 = 0x0000_c000_0000_0000;
    /// The memory server runs in home-space mode: its space stays in CR13
    /// while CR1 keeps the last client's, so a fault costs no control-
    /// register loads on the way to the server and back.
    pub const SERVER: u64 = USER | HOME_SPACE;
    /// 64-bit addressing (EA and BA).
    pub const ADDR64: u64 = 0x0000_0001_8000_0000;
}

/// Control-register bits the kernel sets.
pub mod cr0 {
    /// Additional floating-point registers usable (f0-f15, not only 0/2/4/6).
    pub const AFP: u64 = 1 << 18;
    /// Clock-comparator subclass mask.
    pub const CLOCK_COMPARATOR: u64 = 0x800;
    /// CPU-timer subclass mask.
    pub const CPU_TIMER: u64 = 0x400;
    /// Service-signal subclass mask.
    pub const SERVICE_SIGNAL: u64 = 0x200;
    /// Vector registers usable (bit 46), set when the facility exists.
    pub const VECTOR: u64 = 1 << 17;
    /// Instruction-execution protection (bit 43): a page-table entry's
    /// 0x100 bit forbids fetching instructions from its page. Set when the
    /// facility exists.
    pub const INSTRUCTION_EXECUTION_PROTECTION: u64 = 1 << 20;
}

/// Facility 129, the vector facility, as STFLE reports it.
pub fn has_vector_facility() -> bool {
    has_facility(129)
}

/// Facility 130, instruction-execution protection, as STFLE reports it.
pub fn has_execution_protection() -> bool {
    has_facility(130)
}

/// Whether STFLE reports facility `bit` (below 192).
fn has_facility(bit: u64) -> bool {
    let mut list = [0u64; 3];
    // SAFETY: STFLE stores at most r0 + 1 = 3 doublewords into `list` and
    // sets r0 and the condition code; both are declared.
    unsafe {
        asm!(
            ".insn s,0xb2b00000,0({list})",
            list = in(reg_addr) list.as_mut_ptr(),
            inout("r0") 2u64 => _,
            options(nostack),
        )
    };
    list[(bit / 64) as usize] & (1 << (63 - bit % 64)) != 0
}

/// A program-status word as stored in the lowcore and in trap frames.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Psw {
    pub mask: u64,
    pub addr: u64,
}

/// TOD-clock units per microsecond.
pub const TOD_PER_US: u64 = 4096;

/// Reads a big-endian u16 from the lowcore.
pub fn lowcore_u16(offset: usize) -> u16 {
    // SAFETY: the lowcore is mapped at absolute 0 for the whole run (DAT is
    // off in the kernel) and `offset` is one of the architected fields.
    unsafe { core::ptr::read_volatile(offset as *const u16) }
}

/// The program-interruption ILC byte.
pub fn lowcore_u8_pgm_ilc() -> u8 {
    // SAFETY: as for `lowcore_u16`.
    unsafe { core::ptr::read_volatile(lowcore::PGM_ILC as *const u8) }
}

/// Reads a u32 from the lowcore.
pub fn lowcore_u32(offset: usize) -> u32 {
    // SAFETY: as for `lowcore_u16`.
    unsafe { core::ptr::read_volatile(offset as *const u32) }
}

/// Reads a u64 from the lowcore.
pub fn lowcore_u64(offset: usize) -> u64 {
    // SAFETY: as for `lowcore_u16`.
    unsafe { core::ptr::read_volatile(offset as *const u64) }
}

fn write_lowcore_u64(offset: usize, value: u64) {
    // SAFETY: the kernel-defined lowcore words are reserved for this use and
    // nothing else aliases them as Rust objects.
    unsafe { core::ptr::write_volatile(offset as *mut u64, value) }
}

fn write_lowcore_u8(offset: usize, value: u8) {
    // SAFETY: as for `write_lowcore_u64`.
    unsafe { core::ptr::write_volatile(offset as *mut u8, value) }
}

/// A segment table whose 512 entries are all invalid: what CR1, CR7 and
/// CR13 designate while they have no real space to hold, so an attached
/// ASCE never points at the lowcore (ASCE 0) or at a freed table.
#[repr(C, align(4096))]
struct EmptySegmentTable([u64; 512]);

static EMPTY_SEGMENT_TABLE: EmptySegmentTable = EmptySegmentTable([Ste::INVALID.0; 512]);

/// The ASCE of [`EMPTY_SEGMENT_TABLE`] (segment-table type, one page).
pub fn empty_asce() -> u64 {
    core::ptr::addr_of!(EMPTY_SEGMENT_TABLE) as u64
}

/// Loads all sixteen control registers.
fn load_control_registers(values: &[u64; 16]) {
    // SAFETY: the values come from `init_cpu`, which sets every register to
    // a defined state the kernel relies on; LCTLG only reads the array.
    unsafe {
        asm!("lctlg %c0, %c15, 0({0})", in(reg_addr) values.as_ptr(), options(nostack));
    }
}

/// Puts the CPU in the state the kernel expects: every control register
/// set explicitly, FPC zeroed, new PSWs pointing at the entry stubs and the
/// handler stacks recorded in the lowcore.
pub fn init_cpu() {
    let mut crs = [0u64; 16];
    crs[0] = cr0::AFP | cr0::CPU_TIMER | cr0::CLOCK_COMPARATOR | cr0::SERVICE_SIGNAL;
    // Clients may use the vector registers where the machine has them;
    // the lazy register switch then covers all 32 (f0-f15 are their left
    // halves).
    let vector = has_vector_facility();
    if vector {
        crs[0] |= cr0::VECTOR;
    }
    write_lowcore_u8(lowcore::VECTOR_REGS, u8::from(vector));
    // Pages the memory server marks non-executable refuse instruction
    // fetches where the machine can enforce it.
    if has_execution_protection() {
        crs[0] |= cr0::INSTRUCTION_EXECUTION_PROTECTION;
    }
    // Primary, secondary and home spaces: empty until the loader and the
    // scheduler put real ones in.
    crs[1] = empty_asce();
    crs[7] = empty_asce();
    crs[13] = empty_asce();
    // CR14: channel-report-pending and recovery machine-check subclasses,
    // the architected reset value; machine checks stay masked in the PSW.
    crs[14] = 0xc200_0000;
    load_control_registers(&crs);
    // SAFETY: the FPC is a plain register; zero means no traps, round to nearest.
    unsafe { asm!("lfpc 0({0})", in(reg_addr) &0u32, options(nostack)) };

    let stubs = entry::stub_addresses();
    for (class, stub) in stubs.into_iter().enumerate() {
        let slot = lowcore::NEW_PSWS + class * 16;
        // Handlers run in supervisor state, DAT off, every interruption masked.
        write_lowcore_u64(slot, psw::ADDR64);
        write_lowcore_u64(slot + 8, stub);
    }
    write_lowcore_u64(lowcore::HANDLER_SP, entry::handler_stack_pointer());
    write_lowcore_u64(lowcore::EMERGENCY_STACK_TOP, entry::emergency_stack_top());
    write_lowcore_u64(lowcore::LAZY_LOAD, 0);
}

/// Issues SERVICE CALL and returns its condition code (0 accepted,
/// 2 busy, 3 not operational).
///
/// # Safety
/// `sccb` must be a page-aligned SCCB below 2 GiB that stays untouched by
/// Rust code until the service signal reports completion.
pub unsafe fn service_call(command: u32, sccb: u64) -> u32 {
    let cc: u32;
    // SAFETY: per the caller's contract; SERVC itself only reads the two
    // registers and hands the SCCB to the SCLP.
    unsafe {
        asm!(
            ".insn rre,0xb2200000,{cmd},{sccb}",
            "ipm {cc}",
            "srl {cc},28",
            cmd = in(reg) u64::from(command),
            sccb = in(reg) sccb,
            cc = out(reg) cc,
            options(nostack),
        );
    }
    cc
}

/// Waits, enabled for external interruptions, until one has been handled;
/// returns with interruptions masked again.
pub fn wait_for_interrupt() {
    let wait_psw = Psw {
        mask: psw::ADDR64 | psw::EXT | psw::WAIT,
        addr: 0,
    };
    // SAFETY: the wait PSW resumes at label 2 with the kernel's own state;
    // the external handler clears the wait bit in the old PSW, so execution
    // continues at 2 with external interruptions enabled, and STNSM masks
    // them again. The PSW lives on this frame until LPSWE has read it.
    unsafe {
        asm!(
            "larl {tmp}, 2f",
            "stg {tmp}, 8({psw})",
            "lpswe 0({psw})",
            "2:",
            "stnsm 0({scratch}), 0xfc",
            psw = in(reg_addr) &wait_psw,
            scratch = in(reg_addr) &mut 0u8,
            tmp = out(reg) _,
        );
    }
}

/// Stops the machine with a disabled wait at `addr`. QEMU treats address
/// 0xfff as a clean shutdown and anything else as a guest panic.
pub fn disabled_wait(addr: u64) -> ! {
    let stop = Psw {
        mask: psw::ADDR64 | psw::WAIT,
        addr,
    };
    // SAFETY: a disabled wait never returns; nothing is resumed.
    unsafe {
        asm!("lpswe 0({0})", in(reg_addr) &stop, options(noreturn, nostack));
    }
}

/// Stores the TOD clock (STCKF: fast, not unique).
pub fn tod() -> u64 {
    let mut value = 0u64;
    // SAFETY: STCKF writes exactly the doubleword given.
    unsafe { asm!("stckf 0({0})", in(reg_addr) &mut value, options(nostack)) };
    value
}

/// Sets the CPU timer (TOD units; an interruption is pending while it is negative).
pub fn set_cpu_timer(value: u64) {
    // SAFETY: SPT reads the doubleword; the CPU timer only affects when the
    // timer interruption becomes pending.
    unsafe { asm!("spt 0({0})", in(reg_addr) &value, options(nostack)) };
}

/// Sets the clock comparator (TOD value; an interruption is pending while
/// the TOD clock is past it). `u64::MAX` never fires.
pub fn set_clock_comparator(value: u64) {
    // SAFETY: SCKC reads the doubleword; it only affects interruption timing.
    unsafe { asm!("sckc 0({0})", in(reg_addr) &value, options(nostack)) };
}

/// Loads a doubleword from an absolute address, which may not exist; used
/// only by the program-check self-test.
pub fn load_absolute(addr: u64) -> u64 {
    // SAFETY: with DAT off this is a real-storage access. An address beyond
    // storage takes an addressing exception, which the kernel reports and
    // stops on; the read has no other effect.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// The precompiled `core` for this target is built with unwinding and
/// refers to the personality routine even though the kernel aborts on
/// panic; nothing ever calls it.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

/// Sets the home ASCE (CR13): the memory server's space, for good.
pub fn load_home_asce(asce: u64) {
    // SAFETY: the kernel runs with DAT off and no client can enter
    // home-space mode (SACF to it is privileged), so CR13 only affects the
    // memory server.
    unsafe { asm!("lctlg %c13, %c13, 0({0})", in(reg_addr) &asce, options(nostack)) };
}

/// Sets the primary ASCE (CR1) for the thread about to run, and the
/// secondary ASCE (CR7) to the same space. TLB entries are tagged by the
/// ASCE they came from, so no purge is needed.
///
/// CR7 matters because a client can switch itself to secondary-space mode
/// with SACF: the architecture refuses that in problem state while CR0's
/// secondary-space control is off, but QEMU does not check, and a stale or
/// zero CR7 would let the client translate through tables it does not
/// own (a zero ASCE is a segment table in the lowcore).
pub fn load_primary_asce(asce: u64) {
    // SAFETY: the kernel runs with DAT off, so CR1 and CR7 only affect
    // problem state, whose space the caller is switching to on purpose.
    unsafe {
        asm!(
            "lctlg %c1, %c1, 0({0})",
            "lctlg %c7, %c7, 0({0})",
            in(reg_addr) &asce,
            options(nostack)
        )
    };
}

/// Whether clients have the vector registers (and so they are switched
/// lazily): the flag `init_cpu` leaves in the lowcore for the exit path.
pub fn vector_regs() -> bool {
    // SAFETY: as for `lowcore_u16`; `init_cpu` wrote the byte before any
    // caller runs.
    unsafe { core::ptr::read_volatile(lowcore::VECTOR_REGS as *const u8) != 0 }
}

/// Records the frame the entry code saves the running thread into.
pub fn set_current_frame(frame: *mut entry::TrapFrame) {
    write_lowcore_u64(lowcore::CURRENT_FRAME, frame as u64);
}
