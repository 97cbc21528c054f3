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
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            // Pieces of up to 512 bytes, cut between characters: the
            // kernel checks each write as UTF-8 on its own.
            let mut cut = s.len().min(512);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            let (piece, rest) = s.split_at(cut);
            let page = crate::arch::utcb_page();
            if self.len + piece.len() > page.len() {
                self.flush();
            }
            page[self.len..self.len + piece.len()].copy_from_slice(piece.as_bytes());
            self.len += piece.len();
            s = rest;
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
