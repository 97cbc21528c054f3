//! The physical memory map: which 4 KiB frames exist, which the kernel and
//! the boot archive occupy, and which are free for the memory server.

use core::fmt;

/// Size of a frame.
pub const FRAME_SIZE: u64 = 4096;
/// How many reserved regions a map can hold.
pub const MAX_RESERVED: usize = 8;

/// A half-open range of physical frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRange {
    /// First frame number.
    pub start: u64,
    /// One past the last frame number.
    pub end: u64,
}

impl FrameRange {
    /// Frames in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range holds no frame.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// First byte address.
    pub fn start_address(&self) -> u64 {
        self.start * FRAME_SIZE
    }

    /// One past the last byte address.
    pub fn end_address(&self) -> u64 {
        self.end * FRAME_SIZE
    }
}

/// A region of memory that is not free, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The frames, rounded outward from the byte range given.
    pub frames: FrameRange,
    /// Who owns them.
    pub owner: &'static str,
}

/// Why a reservation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemMapError {
    /// The byte range is empty or reversed.
    EmptyRange,
    /// The range extends past the end of memory.
    BeyondMemory { end: u64, memory: u64 },
    /// More than [`MAX_RESERVED`] reservations.
    TooManyRegions,
}

impl fmt::Display for MemMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemMapError::EmptyRange => write!(f, "empty reservation"),
            MemMapError::BeyondMemory { end, memory } => {
                write!(
                    f,
                    "reservation ends at {end:#x}, beyond memory size {memory:#x}"
                )
            }
            MemMapError::TooManyRegions => write!(f, "more than {MAX_RESERVED} reservations"),
        }
    }
}

/// Physical memory: its size and the reserved regions.
#[derive(Clone, Debug)]
pub struct PhysMap {
    memory_bytes: u64,
    reserved: [Reserved; MAX_RESERVED],
    count: usize,
}

impl PhysMap {
    /// A map of `memory_bytes` of storage, all free. A partial last frame
    /// is not usable and is not counted.
    pub fn new(memory_bytes: u64) -> Self {
        PhysMap {
            memory_bytes,
            reserved: [Reserved {
                frames: FrameRange { start: 0, end: 0 },
                owner: "",
            }; MAX_RESERVED],
            count: 0,
        }
    }

    /// Storage size in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// Frames of storage.
    pub fn total_frames(&self) -> u64 {
        self.memory_bytes / FRAME_SIZE
    }

    /// Marks bytes `start..end` as owned by `owner`, widened to whole frames.
    pub fn reserve(
        &mut self,
        start: u64,
        end: u64,
        owner: &'static str,
    ) -> Result<(), MemMapError> {
        if end <= start {
            return Err(MemMapError::EmptyRange);
        }
        if end > self.memory_bytes {
            return Err(MemMapError::BeyondMemory {
                end,
                memory: self.memory_bytes,
            });
        }
        if self.count == MAX_RESERVED {
            return Err(MemMapError::TooManyRegions);
        }
        let frames = FrameRange {
            start: start / FRAME_SIZE,
            end: end.div_ceil(FRAME_SIZE).min(self.total_frames()),
        };
        self.reserved[self.count] = Reserved { frames, owner };
        self.count += 1;
        Ok(())
    }

    /// The reservations in the order they were made.
    pub fn reserved(&self) -> &[Reserved] {
        &self.reserved[..self.count]
    }

    /// Reserved frames, counting overlaps once.
    pub fn reserved_frames(&self) -> u64 {
        self.total_frames() - self.free_frames()
    }

    /// Free frames.
    pub fn free_frames(&self) -> u64 {
        self.free_ranges().map(|r| r.len()).sum()
    }

    /// Free frame ranges in ascending order, each maximal.
    pub fn free_ranges(&self) -> impl Iterator<Item = FrameRange> + Clone + '_ {
        let mut cursor = 0;
        let total = self.total_frames();
        core::iter::from_fn(move || {
            while cursor < total {
                // Skip past every reservation covering the cursor.
                if let Some(r) = self
                    .reserved()
                    .iter()
                    .find(|r| r.frames.start <= cursor && cursor < r.frames.end)
                {
                    cursor = r.frames.end;
                    continue;
                }
                let next_reserved = self
                    .reserved()
                    .iter()
                    .map(|r| r.frames.start)
                    .filter(|&s| s > cursor)
                    .min()
                    .unwrap_or(total)
                    .min(total);
                let range = FrameRange {
                    start: cursor,
                    end: next_reserved,
                };
                cursor = next_reserved;
                return Some(range);
            }
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_map_is_all_free() {
        let m = PhysMap::new(128 << 20);
        assert_eq!(m.total_frames(), 32768);
        assert_eq!(m.free_frames(), 32768);
        assert_eq!(
            m.free_ranges().collect::<heapless_vec::V>().0[..1],
            [FrameRange {
                start: 0,
                end: 32768
            }]
        );
    }

    #[test]
    fn reservations_round_outward_and_overlaps_count_once() {
        let mut m = PhysMap::new(1 << 20); // 256 frames
        m.reserve(0, 0x10001, "kernel").unwrap(); // frames 0..17
        m.reserve(0x8000, 0x9000, "inside").unwrap(); // already covered
        m.reserve(0x80_fff, 0x81_001, "straddle").unwrap(); // frames 128..130
        assert_eq!(m.reserved_frames(), 17 + 2);
        assert_eq!(m.free_frames(), 256 - 19);
        let free = m.free_ranges().collect::<heapless_vec::V>();
        assert_eq!(
            free.0[..free.1],
            [
                FrameRange {
                    start: 17,
                    end: 128
                },
                FrameRange {
                    start: 130,
                    end: 256
                }
            ]
        );
        assert_eq!(free.0[0].start_address(), 0x11000);
    }

    #[test]
    fn bad_reservations_are_refused() {
        let mut m = PhysMap::new(1 << 20);
        assert_eq!(m.reserve(5, 5, "x"), Err(MemMapError::EmptyRange));
        assert_eq!(
            m.reserve(0, (1 << 20) + 1, "x"),
            Err(MemMapError::BeyondMemory {
                end: (1 << 20) + 1,
                memory: 1 << 20
            })
        );
        for i in 0..MAX_RESERVED as u64 {
            m.reserve(i * 4096, i * 4096 + 1, "x").unwrap();
        }
        assert_eq!(m.reserve(0, 1, "x"), Err(MemMapError::TooManyRegions));
        assert_eq!(m.reserved().len(), MAX_RESERVED);
    }

    #[test]
    fn partial_last_frame_is_not_counted() {
        let m = PhysMap::new(3 * FRAME_SIZE + 100);
        assert_eq!(m.total_frames(), 3);
        assert_eq!(m.free_frames(), 3);
    }

    /// Collects up to 8 ranges without an allocator.
    mod heapless_vec {
        use super::FrameRange;
        pub struct V(pub [FrameRange; 8], pub usize);
        impl FromIterator<FrameRange> for V {
            fn from_iter<I: IntoIterator<Item = FrameRange>>(iter: I) -> Self {
                let mut v = V([FrameRange { start: 0, end: 0 }; 8], 0);
                for r in iter {
                    v.0[v.1] = r;
                    v.1 += 1;
                }
                v
            }
        }
    }
}
