//! Everything that touches the machine directly: lowcore, control
//! registers, PSWs, the service call, clocks and timers. Each `unsafe`
//! block says why it is sound.

pub mod entry;

use core::arch::asm;
use zpager_ipc::dat::{self, Ste};

/// Kernel state that only interruption handlers and boot touch.
///
/// The kernel runs on one CPU with every interruption masked while it
/// handles one, and handlers never nest into this state, so a lock would
/// only cost instructions on every trap. [`KernelCell::get`] checks the
/// no-nesting rule instead.
pub struct KernelCell<T> {
    value: core::cell::UnsafeCell<T>,
    in_use: core::sync::atomic::AtomicBool,
}

// SAFETY: access is serialised by the rule above (one CPU, masked
// interruptions, no nesting), which `get` enforces at run time.
unsafe impl<T> Sync for KernelCell<T> {}

/// Exclusive access to a [`KernelCell`]'s value, released on drop.
pub struct KernelRef<'a, T> {
    cell: &'a KernelCell<T>,
}

impl<T> KernelCell<T> {
    pub const fn new(value: T) -> Self {
        KernelCell {
            value: core::cell::UnsafeCell::new(value),
            in_use: core::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Borrows the value; panics if it is already borrowed (a nested
    /// handler would be a kernel bug).
    #[inline]
    pub fn get(&self) -> KernelRef<'_, T> {
        use core::sync::atomic::Ordering;
        assert!(
            !self.in_use.load(Ordering::Relaxed),
            "kernel state borrowed twice"
        );
        self.in_use.store(true, Ordering::Relaxed);
        KernelRef { cell: self }
    }
}

impl<T> core::ops::Deref for KernelRef<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `get` handed out this borrow exclusively.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> core::ops::DerefMut for KernelRef<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: `get` handed out this borrow exclusively.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for KernelRef<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.cell
            .in_use
            .store(false, core::sync::atomic::Ordering::Relaxed);
    }
}

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
    /// Top of the stack for handlers of interruptions from problem state.
    pub const KERNEL_STACK_TOP: usize = 0x298;
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
}

/// Facility 129, the vector facility, as STFLE reports it.
pub fn has_vector_facility() -> bool {
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
    list[2] & (1 << (63 - (129 - 128))) != 0
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
    write_lowcore_u64(lowcore::KERNEL_STACK_TOP, entry::kernel_stack_top());
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

/// Stores the registers the scheduler switches lazily into `frame`: the
/// FPC, a0-a15, and v0-v31 where the vector facility is enabled, f0-f15
/// (the left halves of v0-v15) where it is not.
pub fn save_lazy_regs(frame: &mut entry::TrapFrame) {
    if vector_regs() {
        // SAFETY: VSTM v0-v15 and v16-v31 (encoded as bytes, base r1)
        // store 512 bytes into the frame's vector area; STFPC and STAM
        // store the FPC and the access registers. Registers are only read.
        unsafe {
            asm!(
                ".byte 0xe7, 0x0f, 0x10, 0x00, 0x00, 0x3e", // vstm %v0,%v15,0(%r1)
                ".byte 0xe7, 0x0f, 0x11, 0x00, 0x0c, 0x3e", // vstm %v16,%v31,256(%r1)
                "stfpc 0({c})",
                "stam %a0, %a15, 0({a})",
                in("r1") frame.vrs.as_mut_ptr(),
                c = in(reg_addr) &mut frame.fpc,
                a = in(reg_addr) frame.ars.as_mut_ptr(),
                options(nostack),
            );
        }
        return;
    }
    // SAFETY: stores sixteen doublewords, a word and sixteen words into
    // the frame; reads registers only.
    unsafe {
        asm!(
            "std %f0, 0({r})", "std %f1, 8({r})", "std %f2, 16({r})", "std %f3, 24({r})",
            "std %f4, 32({r})", "std %f5, 40({r})", "std %f6, 48({r})", "std %f7, 56({r})",
            "std %f8, 64({r})", "std %f9, 72({r})", "std %f10, 80({r})", "std %f11, 88({r})",
            "std %f12, 96({r})", "std %f13, 104({r})", "std %f14, 112({r})", "std %f15, 120({r})",
            "stfpc 0({c})",
            "stam %a0, %a15, 0({a})",
            r = in(reg_addr) frame.fprs.as_mut_ptr(),
            c = in(reg_addr) &mut frame.fpc,
            a = in(reg_addr) frame.ars.as_mut_ptr(),
            options(nostack),
        );
    }
}

/// Has the exit path load `frame`'s lazily switched registers before it
/// resumes the thread. The load happens in the exit code, after the last
/// Rust instruction, so no compiled code ever sees the registers change
/// under it.
pub fn load_lazy_regs_on_exit(frame: &entry::TrapFrame) {
    write_lowcore_u64(lowcore::LAZY_LOAD, frame as *const entry::TrapFrame as u64);
}

/// Whether the lazily switched registers still hold what `frame` saved.
pub fn lazy_regs_match(frame: &entry::TrapFrame) -> bool {
    let mut now = entry::TrapFrame::EMPTY;
    save_lazy_regs(&mut now);
    now.fprs == frame.fprs && now.vrs == frame.vrs && now.fpc == frame.fpc && now.ars == frame.ars
}

/// Records the frame the entry code saves the running thread into.
pub fn set_current_frame(frame: *mut entry::TrapFrame) {
    write_lowcore_u64(lowcore::CURRENT_FRAME, frame as u64);
}

/// Invalidates the page-table entry for `vaddr` in the table at
/// `table_origin` and purges it from the TLB (IPTE).
fn ipte(table_origin: u64, vaddr: u64) {
    // SAFETY: the caller checked that the table lies in storage the memory
    // server owns; IPTE sets the entry's invalid bit and purges TLBs.
    unsafe {
        asm!(
            ".insn rre,0xb2210000,{table},{vaddr}",
            table = in(reg) table_origin,
            vaddr = in(reg) vaddr,
            options(nostack),
        )
    };
}

/// Purges the whole TLB of this CPU (PTLB), used when a space goes away.
pub fn purge_tlb() {
    // SAFETY: PTLB only drops cached translations.
    unsafe { asm!(".insn s,0xb20d0000,0", options(nostack)) };
}

/// Physical memory outside the kernel: the only storage the kernel reads
/// or writes on anyone's behalf.
pub mod phys {
    use core::sync::atomic::{AtomicU64, Ordering};

    static LOW: AtomicU64 = AtomicU64::new(u64::MAX);
    static HIGH: AtomicU64 = AtomicU64::new(0);

    /// Sets the bounds: `low` is the end of the kernel image, `high` the
    /// storage size.
    pub fn set_bounds(low: u64, high: u64) {
        LOW.store(low, Ordering::Relaxed);
        HIGH.store(high, Ordering::Relaxed);
    }

    /// Whether `addr..addr+len` is storage outside the kernel.
    pub fn valid(addr: u64, len: u64) -> bool {
        addr >= LOW.load(Ordering::Relaxed)
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= HIGH.load(Ordering::Relaxed))
    }

    /// Copies `len` bytes between physical addresses.
    pub fn copy(from: u64, to: u64, len: u64) {
        assert!(
            valid(from, len) && valid(to, len),
            "physical copy outside storage"
        );
        // SAFETY: both ranges are storage outside the kernel image (checked
        // above); no Rust object lives there.
        unsafe { core::ptr::copy(from as *const u8, to as *mut u8, len as usize) };
    }

    /// Borrows physical bytes.
    pub fn bytes(addr: u64, len: u64) -> &'static [u8] {
        assert!(valid(addr, len), "physical read outside storage");
        // SAFETY: storage outside the kernel (checked); the caller reads it
        // before anything can change it (single CPU, interruptions masked).
        unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) }
    }

    /// Writes bytes.
    pub fn write(addr: u64, data: &[u8]) {
        assert!(
            valid(addr, data.len() as u64),
            "physical write outside storage"
        );
        // SAFETY: as for `copy`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
    }

    /// Reads a doubleword.
    pub fn read_u64(addr: u64) -> u64 {
        assert!(
            valid(addr, 8) && addr.is_multiple_of(8),
            "physical read outside storage"
        );
        // SAFETY: aligned storage outside the kernel (checked).
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }

    /// Writes a doubleword.
    pub fn write_u64(addr: u64, value: u64) {
        assert!(
            valid(addr, 8) && addr.is_multiple_of(8),
            "physical write outside storage"
        );
        // SAFETY: aligned storage outside the kernel (checked).
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
    }

    /// Zeroes bytes.
    pub fn zero(addr: u64, len: u64) {
        assert!(valid(addr, len), "physical write outside storage");
        // SAFETY: as for `copy`.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, len as usize) };
    }
}

/// Replaces the valid page-table entry at `pte_phys` (mapping `vaddr`)
/// with `new`: IPTE first, as the architecture requires, then the store.
/// Returns false if the entry is not in storage the server owns.
pub fn replace_pte(pte_phys: u64, vaddr: u64, new: u64) -> bool {
    if !pte_replace_valid(pte_phys, vaddr) {
        return false;
    }
    ipte_then_store(pte_phys, vaddr, new);
    true
}

/// [`replace_pte`] for `count` entries listed at physical `list` in the
/// `PTE_REPLACE_BATCH` layout: (entry, virtual address, new entry) triples
/// of u64s. Every entry is checked before any changes, so a bad list
/// changes nothing; the error is the index of the first bad entry.
pub fn replace_pte_list(list: u64, count: u64) -> Result<(), u64> {
    const SIZE: u64 = zpager_ipc::abi::pte_batch::ENTRY_SIZE as u64;
    let entry = |i: u64| {
        let at = list + i * SIZE;
        (phys::read_u64(at), phys::read_u64(at + 8))
    };
    if let Some(bad) = (0..count).find(|&i| {
        let (pte, vaddr) = entry(i);
        !pte_replace_valid(pte, vaddr)
    }) {
        return Err(bad);
    }
    for i in 0..count {
        let (pte, vaddr) = entry(i);
        ipte_then_store(pte, vaddr, phys::read_u64(list + i * SIZE + 16));
    }
    Ok(())
}

/// IPTE on a checked entry, then the store of its new value.
fn ipte_then_store(pte_phys: u64, vaddr: u64, new: u64) {
    ipte(pte_phys & Ste::ORIGIN_MASK, vaddr);
    phys::write_u64(pte_phys, new);
}

/// Whether `pte_phys` is an entry in server storage whose place in its
/// page table matches `vaddr`'s page index: IPTE finds the entry from the
/// table origin and that index, so they must name the entry we store into.
/// Page tables fill the lower half of their frame (the upper half holds
/// the server's software entries), so the entry must lie there too.
pub fn pte_replace_valid(pte_phys: u64, vaddr: u64) -> bool {
    phys::valid(pte_phys, 8)
        && pte_phys.is_multiple_of(8)
        && pte_phys & dat::SOFTWARE_HALF == 0
        && (pte_phys & !Ste::ORIGIN_MASK) >> 3 == dat::page_index(vaddr)
}

/// Invalidates the valid segment-table entry at `ste_phys`, which maps the
/// segment holding `vaddr` (below 2 GiB), and clears the TLB entries
/// formed through it (IDTE). Returns false when the address is not an
/// entry for that segment in storage the memory server owns.
pub fn invalidate_segment(ste_phys: u64, vaddr: u64) -> bool {
    if vaddr >= 1 << 31 {
        return false;
    }
    // IDTE finds the entry from the table origin (4 KiB aligned) and the
    // segment index of `vaddr`.
    let origin = ste_phys.wrapping_sub((vaddr >> 20) * 8);
    if !ste_phys.is_multiple_of(8) || !origin.is_multiple_of(4096) || !phys::valid(ste_phys, 8) {
        return false;
    }
    // SAFETY: IDTE with a segment-table designation (type 0) sets the
    // invalid bit of the one entry for `vaddr`'s segment (the "additional
    // entries" field is 0) and purges TLB entries formed from it; the
    // entry lies in server-owned storage checked above.
    unsafe {
        asm!(
            ".insn rrf,0xb98e0000,{origin},{index},0,0",
            origin = in(reg) origin,
            index = in(reg) vaddr & !0xf_ffff,
            options(nostack),
        )
    };
    true
}
