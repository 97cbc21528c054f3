// The module's documentation is on its declaration in `dat.rs`.

/// Designation type: the table is a segment table.
pub const SEGMENT_TABLE: u64 = 0x0;
/// Designation type: the table is a region-third table.
pub const REGION_THIRD: u64 = 0x4;
/// The designation-type bits.
pub const TYPE_MASK: u64 = 0xc;
/// The table-length bits: 0 for 512 entries (4 KiB) to 3 for 2048
/// (16 KiB).
pub const LENGTH_MASK: u64 = 0x3;
/// The table-origin bits.
pub const ORIGIN_MASK: u64 = !0xfff;
/// The control bits between origin and designation type (subspace group,
/// private space, storage-alteration and space-switch events, real
/// space): a client's ASCE has none of them.
pub const CONTROL_MASK: u64 = 0xff0;

/// The ASCE of the table at `origin` (4 KiB aligned) of type
/// `designation`, `frames` 4 KiB frames long (1 to 4).
pub const fn new(origin: u64, designation: u64, frames: u64) -> u64 {
    (origin & ORIGIN_MASK) | designation | ((frames - 1) & LENGTH_MASK)
}

/// The physical address of the table an ASCE designates.
pub const fn origin(asce: u64) -> u64 {
    asce & ORIGIN_MASK
}

/// Bytes of table an ASCE designates.
pub const fn table_bytes(asce: u64) -> u64 {
    ((asce & LENGTH_MASK) + 1) * 4096
}

/// Whether `asce` has the form a client space may take: a segment table
/// (up to 2 GiB) or a region-third table (up to 4 TiB), of any length,
/// and no control bit. In particular not the real-space bit, which would
/// make the client's addresses real storage, nor a region-first or
/// region-second table, which the memory server never builds. Where the
/// table lies is the kernel's to check (`table_bytes` from `origin`, in
/// storage the server owns).
pub const fn is_client_designation(asce: u64) -> bool {
    let designation = asce & TYPE_MASK;
    asce & CONTROL_MASK == 0 && (designation == SEGMENT_TABLE || designation == REGION_THIRD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_and_region_third_tables_of_any_length_are_client_designations() {
        for frames in 1..=4 {
            for designation in [SEGMENT_TABLE, REGION_THIRD] {
                let a = new(0x12_4000, designation, frames);
                assert!(is_client_designation(a), "{a:#x}");
                assert_eq!(origin(a), 0x12_4000);
                assert_eq!(table_bytes(a), frames * 4096);
            }
        }
    }

    #[test]
    fn other_types_and_control_bits_are_refused() {
        // Region-second and region-first tables.
        assert!(!is_client_designation(0x12_4008));
        assert!(!is_client_designation(0x12_400f));
        // Each control bit on its own, on either allowed type.
        for bit in 4..12 {
            for designation in [SEGMENT_TABLE, REGION_THIRD] {
                let a = new(0x12_4000, designation, 1) | 1 << bit;
                assert!(!is_client_designation(a), "{a:#x}");
            }
        }
        // The real-space bit (0x20) in particular.
        assert!(!is_client_designation(0x12_4020));
    }
}
