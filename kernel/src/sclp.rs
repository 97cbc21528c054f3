//! SCLP (service-call logical processor) control blocks.
//!
//! A request is an SCCB (service-call control block) in one page: an 8-byte
//! header (u16 length, u8 function code, 3 control bytes, u16 response
//! code) and a command-specific body. These functions lay out and decode
//! SCCBs in a byte buffer, big-endian, so they are testable on any host.

use core::fmt;

/// Size of the SCCB buffer the kernel uses (one page).
pub const SCCB_SIZE: usize = 4096;
/// Read SCP info.
pub const CMD_READ_SCP_INFO: u32 = 0x0002_0001;
/// Read SCP info, forced form; accepted where the plain one is not.
pub const CMD_READ_SCP_INFO_FORCED: u32 = 0x0012_0001;
/// Write event mask.
pub const CMD_WRITE_EVENT_MASK: u32 = 0x0078_0005;
/// Write event data.
pub const CMD_WRITE_EVENT_DATA: u32 = 0x0076_0005;
/// Response code for normal completion.
pub const RESPONSE_NORMAL: u16 = 0x0020;
/// Response code for normal completion of a read command.
pub const RESPONSE_NORMAL_READ: u16 = 0x0010;
/// Response code for "command not supported" style rejections that mean
/// "try the other read-info command".
pub const RESPONSE_INVALID_COMMAND: u16 = 0x01f0;
/// Event type of the ASCII (VT220) console.
pub const EVENT_TYPE_ASCII: u8 = 0x1a;
/// Event-mask bit for the ASCII console (event type 0x1a).
pub const EVENT_MASK_ASCII: u32 = 0x0000_0040;
/// External interruption code of the service signal.
pub const EXT_SERVICE_SIGNAL: u16 = 0x2401;
/// Bytes of console text one write-event-data SCCB carries.
pub const MAX_TEXT: usize = SCCB_SIZE - WRITE_DATA_TEXT_OFFSET;

const HEADER_LEN: usize = 8;
const WRITE_DATA_TEXT_OFFSET: usize = HEADER_LEN + 6;

/// An SCLP request that did not complete normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SclpError {
    /// The response code was not normal completion.
    Response(u16),
    /// The console event is not accepted by the SCLP.
    ConsoleNotAccepted { sclp_receive_mask: u32 },
    /// Read SCP info gave no storage size.
    NoStorageSize,
    /// SERVICE CALL answered condition code 3.
    NotOperational,
    /// SERVICE CALL stayed busy.
    Busy,
}

impl fmt::Display for SclpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SclpError::Response(code) => write!(f, "SCLP response code {code:#06x}"),
            SclpError::ConsoleNotAccepted { sclp_receive_mask } => write!(
                f,
                "SCLP does not accept ASCII console events (receive mask {sclp_receive_mask:#010x})"
            ),
            SclpError::NoStorageSize => write!(f, "SCP info reports no storage"),
            SclpError::NotOperational => write!(f, "SCLP not operational"),
            SclpError::Busy => write!(f, "SCLP stayed busy"),
        }
    }
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn get_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Clears `buf` and writes a header of `len` bytes.
fn start(buf: &mut [u8; SCCB_SIZE], len: usize) {
    buf.fill(0);
    put_u16(buf, 0, len as u16);
}

/// The response code of a completed SCCB.
pub fn response_code(buf: &[u8; SCCB_SIZE]) -> u16 {
    get_u16(buf, 6)
}

/// Fails unless the SCCB completed normally.
pub fn check_response(buf: &[u8; SCCB_SIZE]) -> Result<(), SclpError> {
    match response_code(buf) {
        RESPONSE_NORMAL => Ok(()),
        code => Err(SclpError::Response(code)),
    }
}

/// Lays out a write-event-mask request: the kernel will send ASCII console
/// events and receive none.
pub fn encode_write_event_mask(buf: &mut [u8; SCCB_SIZE]) {
    const LEN: usize = HEADER_LEN + 4 + 4 * 4;
    start(buf, LEN);
    put_u16(buf, 10, 4); // mask length
    put_u32(buf, 12, 0); // events we receive
    put_u32(buf, 16, EVENT_MASK_ASCII); // events we send
}

/// Checks a completed write-event-mask reply: the SCLP must accept ASCII
/// console events from us.
pub fn decode_write_event_mask(buf: &[u8; SCCB_SIZE]) -> Result<(), SclpError> {
    check_response(buf)?;
    let sclp_receive_mask = get_u32(buf, 20);
    if sclp_receive_mask & EVENT_MASK_ASCII == 0 {
        return Err(SclpError::ConsoleNotAccepted { sclp_receive_mask });
    }
    Ok(())
}

/// Lays out a write-event-data request carrying `text` (at most
/// [`MAX_TEXT`] bytes; the rest is dropped) and returns the bytes taken.
pub fn encode_write_event_data(buf: &mut [u8; SCCB_SIZE], text: &[u8]) -> usize {
    let n = text.len().min(MAX_TEXT);
    start(buf, WRITE_DATA_TEXT_OFFSET + n);
    put_u16(buf, HEADER_LEN, (6 + n) as u16); // event buffer length
    buf[HEADER_LEN + 2] = EVENT_TYPE_ASCII;
    buf[WRITE_DATA_TEXT_OFFSET..WRITE_DATA_TEXT_OFFSET + n].copy_from_slice(&text[..n]);
    n
}

/// Lays out a read-SCP-info request over the whole page.
pub fn encode_read_scp_info(buf: &mut [u8; SCCB_SIZE]) {
    start(buf, SCCB_SIZE);
}

/// Storage size in bytes from a completed read-SCP-info reply: the number
/// of storage increments times the increment size in MiB, using the wide
/// fields when the narrow size is zero.
pub fn decode_storage_size(buf: &[u8; SCCB_SIZE]) -> Result<u64, SclpError> {
    match response_code(buf) {
        RESPONSE_NORMAL | RESPONSE_NORMAL_READ => {}
        code => return Err(SclpError::Response(code)),
    }
    let (increments, mib_per_increment) = match buf[10] {
        0 => (get_u64(buf, 104), u64::from(get_u32(buf, 100))),
        size => (u64::from(get_u16(buf, 8)), u64::from(size)),
    };
    match increments.checked_mul(mib_per_increment << 20) {
        Some(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(SclpError::NoStorageSize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> [u8; SCCB_SIZE] {
        [0xEE; SCCB_SIZE]
    }

    #[test]
    fn write_event_mask_layout() {
        let mut b = page();
        encode_write_event_mask(&mut b);
        assert_eq!(
            &b[..28],
            &[
                0, 28, 0, 0, 0, 0, 0, 0, // header
                0, 0, 0, 4, // reserved, mask length
                0, 0, 0, 0, // we receive nothing
                0, 0, 0, 0x40, // we send ASCII console events
                0, 0, 0, 0, 0, 0, 0, 0, // filled in by the SCLP
            ]
        );
        assert!(b[28..].iter().all(|&x| x == 0));
    }

    #[test]
    fn write_event_mask_reply() {
        let mut b = page();
        encode_write_event_mask(&mut b);
        assert_eq!(decode_write_event_mask(&b), Err(SclpError::Response(0)));
        b[6..8].copy_from_slice(&RESPONSE_NORMAL.to_be_bytes());
        assert_eq!(
            decode_write_event_mask(&b),
            Err(SclpError::ConsoleNotAccepted {
                sclp_receive_mask: 0
            })
        );
        b[20..24].copy_from_slice(&0x4000_0040u32.to_be_bytes());
        assert_eq!(decode_write_event_mask(&b), Ok(()));
    }

    #[test]
    fn write_event_data_layout() {
        let mut b = page();
        assert_eq!(encode_write_event_data(&mut b, b"hi\r\n"), 4);
        assert_eq!(
            &b[..18],
            &[0, 18, 0, 0, 0, 0, 0, 0, 0, 10, 0x1a, 0, 0, 0, b'h', b'i', b'\r', b'\n']
        );
    }

    #[test]
    fn write_event_data_truncates_to_one_page() {
        let mut b = page();
        let long = [b'x'; SCCB_SIZE];
        assert_eq!(encode_write_event_data(&mut b, &long), MAX_TEXT);
        assert_eq!(get_u16(&b, 0) as usize, SCCB_SIZE);
        assert_eq!(get_u16(&b, 8) as usize, MAX_TEXT + 6);
    }

    #[test]
    fn storage_size_narrow_and_wide() {
        let mut b = page();
        encode_read_scp_info(&mut b);
        assert_eq!(get_u16(&b, 0) as usize, SCCB_SIZE);
        b[6..8].copy_from_slice(&RESPONSE_NORMAL_READ.to_be_bytes());
        b[8..10].copy_from_slice(&128u16.to_be_bytes());
        b[10] = 1;
        assert_eq!(decode_storage_size(&b), Ok(128 << 20));

        b[10] = 0;
        b[100..104].copy_from_slice(&4u32.to_be_bytes());
        b[104..112].copy_from_slice(&(1u64 << 20).to_be_bytes());
        assert_eq!(decode_storage_size(&b), Ok(4 << 40));

        b[104..112].fill(0);
        assert_eq!(decode_storage_size(&b), Err(SclpError::NoStorageSize));

        b[6..8].copy_from_slice(&RESPONSE_INVALID_COMMAND.to_be_bytes());
        assert_eq!(
            decode_storage_size(&b),
            Err(SclpError::Response(RESPONSE_INVALID_COMMAND))
        );
    }
}
