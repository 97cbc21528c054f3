//! Console output through the message page. The kernel starts every line
//! a program writes with the program's name (`hello: ...`), so programs
//! print plain text.

use core::fmt::{self, Write};

/// Formats into the message page and hands full pages to the kernel.
struct PageWriter {
    len: usize,
}

impl PageWriter {
    fn flush(&mut self) {
        if self.len > 0 {
            crate::sys::console_write(self.len);
            self.len = 0;
        }
    }
}

impl Write for PageWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(512) {
            let page = crate::arch::utcb_page();
            if self.len + chunk.len() > page.len() {
                self.flush();
            }
            page[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

/// Prints formatted text.
pub fn print(args: fmt::Arguments<'_>) {
    let mut w = PageWriter { len: 0 };
    let _ = w.write_fmt(args);
    w.flush();
}

/// Prints text and a newline, in one console write when it fits.
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut w = PageWriter { len: 0 };
    let _ = writeln!(w, "{args}");
    w.flush();
}
