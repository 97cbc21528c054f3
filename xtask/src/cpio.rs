//! A writer of `newc` cpio archives, the format Linux unpacks as its
//! initramfs. Output depends only on the entries given: every time stamp
//! is zero, owners are root, inode numbers count up in entry order.

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A character device node (major, minor).
    CharDevice(u32, u32),
}

/// One archive entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path without a leading slash (`dev/console`).
    pub path: String,
    /// Permission bits (`0o755`).
    pub permissions: u32,
    pub kind: Kind,
}

impl Entry {
    pub fn directory(path: &str) -> Self {
        Entry {
            path: path.into(),
            permissions: 0o755,
            kind: Kind::Directory,
        }
    }

    pub fn file(path: &str, permissions: u32, bytes: Vec<u8>) -> Self {
        Entry {
            path: path.into(),
            permissions,
            kind: Kind::File(bytes),
        }
    }

    pub fn char_device(path: &str, permissions: u32, major: u32, minor: u32) -> Self {
        Entry {
            path: path.into(),
            permissions,
            kind: Kind::CharDevice(major, minor),
        }
    }
}

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";

fn pad_to_4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// One header, name and data; `ino` distinguishes entries.
fn push_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
    let name_size = name.len() + 1;
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        u32::try_from(data.len()).expect("cpio entries are under 4 GiB"),
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        u32::try_from(name_size).expect("short names"),
        0, // check (unused by newc)
    ];
    out.extend_from_slice(MAGIC.as_bytes());
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad_to_4(out);
    out.extend_from_slice(data);
    pad_to_4(out);
}

/// The archive of `entries`, in the order given, with its trailer.
pub fn write(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ino, entry) in (1..).zip(entries) {
        let (type_bits, rdev, data): (u32, _, &[u8]) = match &entry.kind {
            Kind::Directory => (0o040000, (0, 0), &[]),
            Kind::File(bytes) => (0o100000, (0, 0), bytes),
            Kind::CharDevice(major, minor) => (0o020000, (*major, *minor), &[]),
        };
        let mode = type_bits | (entry.permissions & 0o7777);
        push_entry(&mut out, ino, &entry.path, mode, rdev, data);
    }
    push_entry(&mut out, 0, TRAILER, 0, (0, 0), &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::directory("dev"),
            Entry::char_device("dev/console", 0o600, 5, 1),
            Entry::file("init", 0o755, b"hello".to_vec()),
        ]
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        assert_eq!(write(&sample()), write(&sample()));
    }

    #[test]
    fn headers_names_and_data_are_laid_out_as_newc() {
        let archive = write(&sample());
        assert!(archive.len().is_multiple_of(4));
        // The first header: a directory, inode 1, root-owned, mtime 0.
        let header = std::str::from_utf8(&archive[..110]).unwrap();
        assert_eq!(&header[..6], "070701");
        let field = |h: &str, i: usize| u32::from_str_radix(&h[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(header, 0), 1);
        assert_eq!(field(header, 1), 0o040755);
        assert_eq!(field(header, 5), 0);
        assert_eq!(field(header, 11), 4); // "dev\0"
        assert_eq!(&archive[110..114], b"dev\0");
        // The device node carries its major and minor.
        let second = std::str::from_utf8(&archive[116..226]).unwrap();
        assert_eq!(field(second, 1), 0o020600);
        assert_eq!((field(second, 9), field(second, 10)), (5, 1));
        // The file's data follows its name, padded to 4 bytes.
        let at = archive.windows(5).position(|w| w == b"hello").unwrap();
        assert!(at.is_multiple_of(4));
        assert_eq!(&archive[at - 6..at], b"init\0\0");
        // The trailer ends it.
        let tail = String::from_utf8_lossy(&archive[archive.len() - 16..]).into_owned();
        assert!(tail.contains("TRAILER!!!"), "{tail:?}");
    }
}
