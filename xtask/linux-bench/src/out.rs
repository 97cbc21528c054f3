//! Console lines, written whole with one `write` each so a child's line
//! never interleaves with its parent's.

use crate::sys;
use core::fmt::{self, Write};

struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints `args` and a newline on standard output (the console).
pub fn line(args: fmt::Arguments<'_>) {
    let mut line = Line {
        buf: [0; 256],
        len: 0,
    };
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    let _ = sys::write(1, &line.buf[..=line.len]);
}

/// A timed run: TOD units, operations, faults taken inside the timing.
pub struct Timed {
    pub tod: u64,
    pub ops: u64,
    pub faults: u64,
}

/// Prints a scenario's line in the zpager client's format.
pub fn report(name: &str, t: &Timed) {
    // As the zpager client: 4096 TOD units per microsecond, 1000
    // instructions per microsecond under -icount shift=0, truncated to
    // tenths.
    let insns_x10 = t.tod * 10_000 / 4096 / t.ops;
    line(format_args!(
        "BENCH {name} insns_per_op={}.{} ops={} faults={}",
        insns_x10 / 10,
        insns_x10 % 10,
        t.ops,
        t.faults
    ));
}
