//! Names for interruption codes, for readable failure reports.

/// What a program-interruption code means (the PER and transaction bits,
/// 0x80 and 0x200, are masked off).
pub fn program_check_name(code: u16) -> &'static str {
    match code & 0x7f {
        0x01 => "operation exception",
        0x02 => "privileged-operation exception",
        0x03 => "execute exception",
        0x04 => "protection exception",
        0x05 => "addressing exception",
        0x06 => "specification exception",
        0x07 => "data exception",
        0x08 => "fixed-point overflow",
        0x09 => "fixed-point divide exception",
        0x0a => "decimal overflow",
        0x0b => "decimal divide exception",
        0x0c..=0x0f => "floating-point exception",
        0x10 => "segment-translation exception",
        0x11 => "page-translation exception",
        0x12 => "translation-specification exception",
        0x13 => "special-operation exception",
        0x15 => "operand exception",
        0x16 => "trace-table exception",
        0x38 => "ASCE-type exception",
        0x39 => "region-first-translation exception",
        0x3a => "region-second-translation exception",
        0x3b => "region-third-translation exception",
        _ => "unknown program interruption",
    }
}

/// Instruction length in bytes from the ILC byte the machine stores with a
/// program or supervisor-call interruption (bits 5-6 count halfwords).
pub fn instruction_length(ilc_byte: u8) -> u64 {
    u64::from((ilc_byte >> 1) & 3) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ignore_per_bit() {
        assert_eq!(program_check_name(0x05), "addressing exception");
        assert_eq!(program_check_name(0x85), "addressing exception");
        assert_eq!(program_check_name(0x11), "page-translation exception");
        assert_eq!(program_check_name(0x7e), "unknown program interruption");
    }

    #[test]
    fn ilc_to_bytes() {
        assert_eq!(instruction_length(0b010), 2);
        assert_eq!(instruction_length(0b100), 4);
        assert_eq!(instruction_length(0b110), 6);
        assert_eq!(instruction_length(0), 0);
    }
}
