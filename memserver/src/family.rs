//! Families: a client started from the manifest and every space forked
//! from it. A family has one frame budget and a cap on its live spaces,
//! so a fork bomb exhausts its own family and nobody else's; a frame
//! shared inside the family is charged to it once.

/// One family's budget and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    /// Frames the family holds: page tables, anonymous frames, segment
    /// tables and message pages of its spaces.
    pub frames: u64,
    /// Of those, anonymous frames.
    pub anon_frames: u64,
    /// Most frames it may hold: a fault that would need more kills the
    /// faulting client, a fork that would need more is refused.
    pub frame_limit: u64,
    /// Live spaces.
    pub spaces: u64,
    /// Most live spaces.
    pub space_limit: u64,
    /// Whether its spaces may take storage offline (the manifest's
    /// `may_offline`).
    pub may_offline: bool,
    /// Whether its spaces see the whole server's frame counts in `Stats`
    /// (the manifest's `server_stats`).
    pub server_stats: bool,
    /// Its first live space: the live spaces are chained through
    /// `Space::next_in_family`, so the reverse map visits the family's
    /// live spaces and nothing else, without a list on the heap.
    pub first_space: usize,
    /// The program it runs (the manifest client's name): what segment
    /// grants name.
    pub program: Option<zpager_ipc::segment::Name>,
}

/// Ends the chain of a family's spaces.
pub const NO_SPACE: usize = usize::MAX;

impl Family {
    /// A family with no limits yet and nothing held.
    pub const fn new() -> Family {
        Family {
            frames: 0,
            anon_frames: 0,
            frame_limit: u64::MAX,
            spaces: 0,
            space_limit: u64::MAX,
            may_offline: false,
            server_stats: false,
            first_space: NO_SPACE,
            program: None,
        }
    }

    /// Whether the family may take `n` more frames.
    #[inline(always)]
    pub fn can_take(&self, n: u64) -> bool {
        self.frames.saturating_add(n) <= self.frame_limit
    }
}

impl Default for Family {
    fn default() -> Self {
        Family::new()
    }
}
