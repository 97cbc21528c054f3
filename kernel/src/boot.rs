//! Boot: from `_start` to the chosen self-test.

use crate::exit::stop;
use crate::{arch, console, loader, println, timer, trap};
use zpager_ipc::bootarchive::{self, Archive, CONFIG_ENTRY};
use zpager_ipc::bootconfig::{BootConfig, SelfTest};
use zpager_ipc::exit::ExitStatus;
use zpager_kernel::memmap::{PhysMap, FRAME_SIZE};

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Ticks the boot self-check waits for.
const SELF_CHECK_TICKS: u64 = 3;

#[no_mangle]
extern "C" fn kmain() -> ! {
    arch::init_cpu();
    if console::init().is_err() {
        // Nothing can be printed; the status still reaches the host.
        stop(ExitStatus::UnexpectedInterrupt);
    }
    println!("zpager {}: s390x microkernel", env!("CARGO_PKG_VERSION"));
    if arch::vector_regs() {
        println!("cpu: vector facility: clients get v0-v31, switched lazily");
    } else {
        println!("cpu: no vector facility: clients get f0-f15");
    }

    let memory = match console::storage_size() {
        Ok(bytes) => bytes,
        Err(e) => {
            println!("boot: cannot read SCP info: {e}");
            stop(ExitStatus::UnexpectedInterrupt);
        }
    };
    let archive = load_archive(memory);
    let config = read_config(&archive);
    let mut map = memory_map(memory, &archive);

    timer::start();
    match timer::self_check(SELF_CHECK_TICKS) {
        Ok(check) => println!(
            "timer: {} ticks of {} us in {} us: ok",
            check.ticks,
            timer::TICK_US,
            check.elapsed_us
        ),
        Err(timer::TimerFault::MissingTicks { ticks, elapsed_us }) => {
            println!("timer: only {ticks} of {SELF_CHECK_TICKS} ticks in {elapsed_us} us: FAILED");
            stop(ExitStatus::TestFailed);
        }
        Err(timer::TimerFault::TooFast { ticks, elapsed_us }) => {
            println!("timer: {ticks} ticks in only {elapsed_us} us: FAILED");
            stop(ExitStatus::TestFailed);
        }
    }

    if config.selftest != SelfTest::None {
        run_selftest(config.selftest, memory);
    }
    start_threads(&archive, &mut map)
}

/// Hands the machine to the memory server, which starts the clients.
fn start_threads(archive: &Archive<'static>, map: &mut PhysMap) -> ! {
    let low = core::ptr::addr_of!(__kernel_end) as u64;
    arch::phys::set_bounds(low, map.memory_bytes());
    let mut kernel = trap::KERNEL.get();
    match loader::start_memory_server(&mut kernel, archive, map, low) {
        Ok(started) => println!(
            "boot: memory server loaded ({} frames for its space and direct map); it owns {} free frames",
            started.frames_used, started.free_frames
        ),
        Err(e) => {
            println!("boot: cannot start the memory server: {e}");
            stop(ExitStatus::BadBootArchive);
        }
    }
    let frame = kernel.schedule(None);
    drop(kernel);
    arch::entry::enter(frame)
}

/// Finds and validates the boot archive QEMU placed at 8 MiB. When the
/// loader also reported the file's size, only that many bytes are read, so
/// a truncated file is caught by its declared length.
fn load_archive(memory: u64) -> Archive<'static> {
    let start = bootarchive::LOAD_ADDRESS;
    let Some(mut available) = memory.checked_sub(start) else {
        println!("boot archive: rejected: memory ends below {start:#x}, where QEMU loads it");
        stop(ExitStatus::BadBootArchive);
    };
    let loaded_at = arch::boot_parameter(arch::boot_parameters::INITRD_START);
    let loaded_size = arch::boot_parameter(arch::boot_parameters::INITRD_SIZE);
    if loaded_at == start && loaded_size != 0 {
        available = available.min(loaded_size);
    } else if loaded_at != 0 && loaded_at != start {
        println!("boot archive: rejected: the loader put it at {loaded_at:#x}, not {start:#x}");
        stop(ExitStatus::BadBootArchive);
    }
    match Archive::parse(arch::boot_archive_bytes(memory, available)) {
        Ok(archive) => {
            println!(
                "boot archive: {} bytes, {} entries",
                archive.len(),
                archive.entries().count()
            );
            archive
        }
        Err(e) => {
            println!("boot archive: rejected: {e}");
            stop(ExitStatus::BadBootArchive);
        }
    }
}

fn read_config(archive: &Archive<'_>) -> BootConfig {
    let Some(entry) = archive.find(CONFIG_ENTRY) else {
        return BootConfig::default();
    };
    match BootConfig::parse(entry.data) {
        Ok(config) => config,
        Err(e) => {
            println!("boot archive: rejected: config: {e}");
            stop(ExitStatus::BadBootArchive);
        }
    }
}

/// The physical memory map with the kernel and the archive reserved,
/// printed as one summary line.
fn memory_map(memory: u64, archive: &Archive<'_>) -> PhysMap {
    let kstart = core::ptr::addr_of!(__kernel_start) as u64;
    let kend = core::ptr::addr_of!(__kernel_end) as u64;
    let archive_start = bootarchive::LOAD_ADDRESS;
    let archive_end = archive_start + archive.len() as u64;
    let mut map = PhysMap::new(memory);
    // The lowcore and everything below the kernel image belong to the kernel.
    let reservations = [
        (0, kend, "kernel"),
        (archive_start, archive_end, "boot archive"),
    ];
    for (start, end, owner) in reservations {
        if let Err(e) = map.reserve(start, end, owner) {
            println!("memory: cannot reserve {owner}: {e}");
            stop(ExitStatus::BadBootArchive);
        }
    }
    println!(
        "memory: {} MiB, kernel {:#x}-{:#x}, boot archive {:#x}-{:#x}, frames: {} total, {} reserved, {} free",
        memory >> 20,
        kstart,
        kend,
        archive_start,
        archive_end.div_ceil(FRAME_SIZE) * FRAME_SIZE,
        map.total_frames(),
        map.reserved_frames(),
        map.free_frames()
    );
    map
}

fn run_selftest(test: SelfTest, memory: u64) -> ! {
    match test {
        SelfTest::None => unreachable!("a normal boot starts the memory server"),
        SelfTest::Panic => {
            println!("selftest panic: panicking on purpose");
            panic!("deliberate panic (selftest=panic)");
        }
        SelfTest::ProgramCheck => {
            let beyond = memory + (1 << 20);
            println!("selftest program-check: loading from {beyond:#x}, beyond storage");
            let value = arch::load_absolute(beyond);
            println!("selftest program-check: load returned {value:#x}: FAILED (no exception)");
            stop(ExitStatus::TestFailed);
        }
        SelfTest::Hang => {
            println!("selftest hang: waiting forever with the timer ticking");
            loop {
                arch::wait_for_interrupt();
            }
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(loc) => crate::fatal_println!(
            "KERNEL PANIC at {}:{}:{}: {}",
            loc.file(),
            loc.line(),
            loc.column(),
            info.message()
        ),
        None => crate::fatal_println!("KERNEL PANIC: {}", info.message()),
    }
    stop(ExitStatus::KernelPanic)
}
