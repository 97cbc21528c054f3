use super::*;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

fn sample() -> Vec<u8> {
    let mut b = ArchiveBuilder::new();
    b.add("config", EntryKind::Config, b"selftest=none\n".to_vec())
        .unwrap()
        .add(
            "hello",
            EntryKind::Program,
            vec![0x7f, b'E', b'L', b'F', 1, 2, 3],
        )
        .unwrap();
    b.build().unwrap()
}

fn reseal(img: &mut [u8]) {
    let sum = checksum(&img[HEADER_LEN..]);
    img[20..24].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn round_trip() {
    let img = sample();
    let a = Archive::parse(&img).unwrap();
    let names: Vec<_> = a.entries().map(|e| e.name).collect();
    assert_eq!(names, ["config", "hello"]);
    let hello = a.find("hello").unwrap();
    assert_eq!(hello.kind, EntryKind::Program);
    assert_eq!(hello.data, &[0x7f, b'E', b'L', b'F', 1, 2, 3]);
    assert_eq!(hello.offset % PAYLOAD_ALIGN, 0);
    assert_eq!(a.find("config").unwrap().data, b"selftest=none\n");
    assert!(a.find("absent").is_none());
}

#[test]
fn trailing_memory_is_ignored() {
    let mut img = sample();
    let len = img.len();
    img.extend_from_slice(&[0xAA; 9000]);
    assert_eq!(Archive::parse(&img).unwrap().len(), len);
}

#[test]
fn zeroed_memory_is_bad_magic() {
    let zeros = [0u8; 64];
    assert!(matches!(
        Archive::parse(&zeros),
        Err(ArchiveError::BadMagic { .. })
    ));
}

#[test]
fn flipped_payload_byte_fails_checksum() {
    let mut img = sample();
    let last = img.iter().rposition(|&b| b == 3).unwrap();
    img[last] ^= 0x40;
    assert!(matches!(
        Archive::parse(&img),
        Err(ArchiveError::ChecksumMismatch { .. })
    ));
}

#[test]
fn truncated_image_is_rejected() {
    let img = sample();
    assert!(matches!(
        Archive::parse(&img[..img.len() - 1]),
        Err(ArchiveError::BadTotalLength { .. })
    ));
    assert!(matches!(
        Archive::parse(&img[..10]),
        Err(ArchiveError::Truncated { available: 10 })
    ));
}

#[test]
fn structural_errors_are_caught_even_with_a_valid_checksum() {
    let mut img = sample();
    img[HEADER_LEN + 32..HEADER_LEN + 36].copy_from_slice(&9u32.to_be_bytes());
    reseal(&mut img);
    assert_eq!(
        Archive::parse(&img).unwrap_err(),
        ArchiveError::UnknownKind { index: 0, kind: 9 }
    );

    let mut img = sample();
    img[HEADER_LEN + ENTRY_LEN + 40..HEADER_LEN + ENTRY_LEN + 44]
        .copy_from_slice(&0x10_0000u32.to_be_bytes());
    reseal(&mut img);
    assert_eq!(
        Archive::parse(&img).unwrap_err(),
        ArchiveError::BadPayload { index: 1 }
    );

    let mut img = sample();
    img[HEADER_LEN + ENTRY_LEN..HEADER_LEN + ENTRY_LEN + 6].copy_from_slice(b"config");
    img[HEADER_LEN + ENTRY_LEN + 6] = 0;
    reseal(&mut img);
    assert_eq!(
        Archive::parse(&img).unwrap_err(),
        ArchiveError::DuplicateName { index: 1 }
    );

    let mut img = sample();
    img[12..16].copy_from_slice(&100_000u32.to_be_bytes());
    assert!(matches!(
        Archive::parse(&img),
        Err(ArchiveError::BadEntryCount { .. })
    ));
}

#[test]
fn builder_rejects_bad_names() {
    let mut b = ArchiveBuilder::new();
    assert!(b.add("", EntryKind::Data, vec![]).is_err());
    assert!(b.add(&"x".repeat(33), EntryKind::Data, vec![]).is_err());
    b.add("a", EntryKind::Data, vec![]).unwrap();
    assert!(b.add("a", EntryKind::Data, vec![]).is_err());
}

proptest! {
    #[test]
    fn any_built_archive_parses_back(
        entries in proptest::collection::vec(
            ("[a-z]{1,32}", 1u32..=3, proptest::collection::vec(any::<u8>(), 0..5000)),
            0..6,
        )
    ) {
        let mut b = ArchiveBuilder::new();
        let mut kept = Vec::new();
        for (name, kind, data) in entries {
            let kind = EntryKind::from_code(kind).unwrap();
            if b.add(&name, kind, data.clone()).is_ok() {
                kept.push((name, kind, data));
            }
        }
        let img = b.build().unwrap();
        let a = Archive::parse(&img).unwrap();
        prop_assert_eq!(a.entries().count(), kept.len());
        for (e, (name, kind, data)) in a.entries().zip(&kept) {
            prop_assert_eq!(e.name, name.as_str());
            prop_assert_eq!(e.kind, *kind);
            prop_assert_eq!(e.data, data.as_slice());
        }
    }

    #[test]
    fn any_single_byte_corruption_is_rejected_or_harmless(pos in 0usize..8192, bit in 0u8..8) {
        let img = sample();
        let pos = pos % img.len();
        let mut bad = img.clone();
        bad[pos] ^= 1 << bit;
        prop_assert!(Archive::parse(&bad).is_err());
    }
}
