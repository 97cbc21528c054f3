//! Names for interruption codes, for readable failure reports.

/// Defined with the kill reasons that name program checks.
pub use zpager_ipc::kill::program_check_name;

/// Instruction length in bytes from the ILC byte the machine stores with a
/// program or supervisor-call interruption (bits 5-6 count halfwords).
pub fn instruction_length(ilc_byte: u8) -> u64 {
    u64::from((ilc_byte >> 1) & 3) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ilc_to_bytes() {
        assert_eq!(instruction_length(0b010), 2);
        assert_eq!(instruction_length(0b100), 4);
        assert_eq!(instruction_length(0b110), 6);
        assert_eq!(instruction_length(0), 0);
    }
}
