//! Building archive images (host side: xtask and the tests).

use super::*;
use alloc::string::String;
use alloc::vec::Vec;

/// Builds an archive image (host side).
#[derive(Default, Debug, Clone)]
pub struct ArchiveBuilder {
    entries: Vec<(String, EntryKind, Vec<u8>)>,
}

/// Why an archive could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Empty, too long or containing NUL.
    BadName(String),
    /// The name was already added.
    DuplicateName(String),
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries,
    /// The image would exceed 4 GiB.
    TooLarge,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadName(n) => write!(
                f,
                "entry name {n:?} must be 1..={NAME_LEN} bytes without NUL"
            ),
            BuildError::DuplicateName(n) => write!(f, "entry name {n:?} used twice"),
            BuildError::TooManyEntries => write!(f, "more than {MAX_ENTRIES} entries"),
            BuildError::TooLarge => write!(f, "archive larger than 4 GiB"),
        }
    }
}

impl ArchiveBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn add(
        &mut self,
        name: &str,
        kind: EntryKind,
        data: Vec<u8>,
    ) -> Result<&mut Self, BuildError> {
        if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
            return Err(BuildError::BadName(name.into()));
        }
        if self.entries.iter().any(|(n, _, _)| n == name) {
            return Err(BuildError::DuplicateName(name.into()));
        }
        if self.entries.len() >= MAX_ENTRIES as usize {
            return Err(BuildError::TooManyEntries);
        }
        self.entries.push((name.into(), kind, data));
        Ok(self)
    }

    /// Lays out the image.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let align = |n: usize| n.div_ceil(PAYLOAD_ALIGN) * PAYLOAD_ALIGN;
        let table_end = HEADER_LEN + self.entries.len() * ENTRY_LEN;
        let mut offsets = Vec::with_capacity(self.entries.len());
        let mut end = align(table_end);
        for (_, _, data) in &self.entries {
            offsets.push(end);
            end = align(end + data.len());
        }
        let total = if self.entries.is_empty() {
            table_end
        } else {
            end
        };
        let total32 = u32::try_from(total).map_err(|_| BuildError::TooLarge)?;
        let mut out = alloc::vec![0u8; total];
        out[..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&VERSION.to_be_bytes());
        out[10..12].copy_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        out[12..16].copy_from_slice(&(self.entries.len() as u32).to_be_bytes());
        out[16..20].copy_from_slice(&total32.to_be_bytes());
        for (i, ((name, kind, data), &offset)) in self.entries.iter().zip(&offsets).enumerate() {
            let rec = &mut out[HEADER_LEN + i * ENTRY_LEN..][..ENTRY_LEN];
            rec[..name.len()].copy_from_slice(name.as_bytes());
            rec[32..36].copy_from_slice(&kind.code().to_be_bytes());
            rec[40..44].copy_from_slice(&(offset as u32).to_be_bytes());
            rec[44..48].copy_from_slice(&(data.len() as u32).to_be_bytes());
            out[offset..offset + data.len()].copy_from_slice(data);
        }
        let sum = checksum(&out[HEADER_LEN..]);
        out[20..24].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}
