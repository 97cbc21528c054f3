//! The SCLP console: `print!`/`println!` through the ASCII (VT220) event.
//!
//! Each request is started with SERVICE CALL and completed only when the
//! service-signal external interruption names our SCCB; the kernel waits
//! for it in an enabled wait instead of trusting QEMU's synchronous answer.

use crate::arch;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use zpager_kernel::sclp::{self, SclpError, SCCB_SIZE};

/// The SCCB page: aligned, below 2 GiB (the kernel image is).
#[repr(C, align(4096))]
struct Sccb([u8; SCCB_SIZE]);

/// Text staged until the next flush; newlines become CR LF because QEMU's
/// `-serial stdio` puts the terminal in raw mode.
const LINE_CAPACITY: usize = 1024;

/// Who is writing the console's current line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writer {
    Kernel,
    Thread(usize),
}

pub struct Console {
    sccb: Sccb,
    line: [u8; LINE_CAPACITY],
    len: usize,
    ready: bool,
    writer: Writer,
    /// Whether the last byte written was not a newline.
    mid_line: bool,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    sccb: Sccb([0; SCCB_SIZE]),
    line: [0; LINE_CAPACITY],
    len: 0,
    ready: false,
    writer: Writer::Kernel,
    mid_line: false,
});

/// Set while a request is outstanding; cleared by the service signal.
static REQUEST_PENDING: AtomicBool = AtomicBool::new(false);
static SCCB_ADDRESS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// How many busy answers to tolerate before giving up on a request.
const BUSY_RETRIES: u32 = 100;

/// Called by the external-interruption handler for code 0x2401.
pub fn service_signal(parameter: u32) {
    // The low three bits carry event-pending flags, not address bits.
    if u64::from(parameter & !7) == SCCB_ADDRESS.load(Ordering::Relaxed) {
        REQUEST_PENDING.store(false, Ordering::Release);
    }
}

impl Console {
    /// Runs one SCLP command on the SCCB and waits for its completion.
    fn request(&mut self, command: u32) -> Result<(), SclpError> {
        let addr = self.sccb.0.as_ptr() as u64;
        SCCB_ADDRESS.store(addr, Ordering::Relaxed);
        for _ in 0..BUSY_RETRIES {
            REQUEST_PENDING.store(true, Ordering::Release);
            // SAFETY: the SCCB is a page-aligned static below 2 GiB, and the
            // console lock keeps Rust away from it until the wait below ends.
            match unsafe { arch::service_call(command, addr) } {
                0 => {
                    while REQUEST_PENDING.load(Ordering::Acquire) {
                        arch::wait_for_interrupt();
                    }
                    return Ok(());
                }
                // Busy: an earlier request is still in progress; let it finish.
                2 => arch::wait_for_interrupt(),
                _ => {
                    REQUEST_PENDING.store(false, Ordering::Release);
                    return Err(SclpError::NotOperational);
                }
            }
        }
        REQUEST_PENDING.store(false, Ordering::Release);
        Err(SclpError::Busy)
    }

    fn init(&mut self) -> Result<(), SclpError> {
        sclp::encode_write_event_mask(&mut self.sccb.0);
        self.request(sclp::CMD_WRITE_EVENT_MASK)?;
        sclp::decode_write_event_mask(&self.sccb.0)?;
        self.ready = true;
        Ok(())
    }

    fn storage_size(&mut self) -> Result<u64, SclpError> {
        let mut last = Err(SclpError::NoStorageSize);
        for command in [sclp::CMD_READ_SCP_INFO_FORCED, sclp::CMD_READ_SCP_INFO] {
            sclp::encode_read_scp_info(&mut self.sccb.0);
            self.request(command)?;
            last = sclp::decode_storage_size(&self.sccb.0);
            if last.is_ok() {
                break;
            }
        }
        last
    }

    fn flush(&mut self) {
        if self.len == 0 || !self.ready {
            self.len = 0;
            return;
        }
        let mut sent = 0;
        while sent < self.len {
            let (line, sccb) = (&self.line[sent..self.len], &mut self.sccb.0);
            sent += sclp::encode_write_event_data(sccb, line);
            // A console that stops answering cannot report its own failure.
            if self.request(sclp::CMD_WRITE_EVENT_DATA).is_err() {
                break;
            }
        }
        self.len = 0;
    }

    /// Gives the console to `writer`, ending another writer's unfinished
    /// line first so every line has a single author.
    fn begin(&mut self, writer: Writer) {
        if self.mid_line && self.writer != writer {
            let _ = fmt::Write::write_str(self, "\n");
        }
        self.writer = writer;
    }

    fn push(&mut self, byte: u8) {
        if self.len == LINE_CAPACITY {
            self.flush();
        }
        self.line[self.len] = byte;
        self.len += 1;
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.push(b'\r');
            }
            self.push(b);
            self.mid_line = b != b'\n';
        }
        Ok(())
    }
}

/// Enables the ASCII console. Until this succeeds, output is dropped.
pub fn init() -> Result<(), SclpError> {
    CONSOLE.lock().init()
}

/// Storage size in bytes, from SCP info.
pub fn storage_size() -> Result<u64, SclpError> {
    CONSOLE.lock().storage_size()
}

/// Prints formatted text; used by the macros.
pub fn print_fmt(args: fmt::Arguments<'_>) {
    use fmt::Write;
    let mut console = CONSOLE.lock();
    console.begin(Writer::Kernel);
    let _ = console.write_fmt(args);
    console.flush();
}

/// Prints what thread `thread` (called `name`) asked to write, starting
/// each of its lines with `name: `. The prefix comes from the kernel, so
/// no program can write a line that looks like another's or the
/// kernel's. Text that is not UTF-8 and control characters other than
/// newline and tab (a carriage return or an escape sequence could hide
/// the prefix on a terminal) are replaced by U+FFFD.
pub fn print_from_thread(thread: usize, name: &str, text: &[u8]) {
    use fmt::Write;
    let mut console = CONSOLE.lock();
    console.begin(Writer::Thread(thread));
    for piece in text.split_inclusive(|&b| b == b'\n') {
        if !console.mid_line {
            let _ = write!(console, "{name}: ");
        }
        for chunk in piece.utf8_chunks() {
            let mut text = chunk.valid();
            while let Some(at) = text.find(|c: char| c.is_control() && c != '\n' && c != '\t') {
                let _ = console.write_str(&text[..at]);
                let _ = console.write_str("\u{fffd}");
                let skip = text[at..].chars().next().map_or(1, char::len_utf8);
                text = &text[at + skip..];
            }
            let _ = console.write_str(text);
            if !chunk.invalid().is_empty() {
                let _ = console.write_str("\u{fffd}");
            }
        }
    }
    console.flush();
}

/// Ends thread `thread`'s unfinished line, if the console holds one: the
/// thread has ended, and a new thread in its slot must start a line of
/// its own.
pub fn end_line_of(thread: usize) {
    let mut console = CONSOLE.lock();
    if console.mid_line && console.writer == Writer::Thread(thread) {
        console.begin(Writer::Kernel);
        console.flush();
    }
}

/// Takes the console for a report on the way down, even if the code that
/// failed held it: the kernel is single-CPU and stops after the report.
pub fn print_fatal(args: fmt::Arguments<'_>) {
    if CONSOLE.is_locked() {
        // SAFETY: the holder was interrupted on this CPU and will never run
        // again; its half-written line is simply dropped.
        unsafe { CONSOLE.force_unlock() };
        CONSOLE.lock().len = 0;
    }
    print_fmt(args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))));
}

/// `println!` for fatal paths: see [`print_fatal`].
#[macro_export]
macro_rules! fatal_println {
    ($($arg:tt)*) => ($crate::console::print_fatal(format_args!("{}\n", format_args!($($arg)*))));
}
