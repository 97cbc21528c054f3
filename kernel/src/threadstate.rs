//! A thread's scheduling state and what it waits for, with the checks
//! `THREAD_FORK` makes on them and the registers a forked thread starts
//! with. Plain logic, so the host tests can reach it; the thread table
//! itself lives in the kernel binary.

use zpager_ipc::abi::Error;
use zpager_ipc::ids::Badge;
use zpager_ipc::kmsg::MessageRegs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Free,
    /// In the ready queue.
    Ready,
    Running,
    /// The server, waiting for a message.
    Receiving,
    /// Queued on the server's endpoint with a message in its outbox.
    Sending,
    /// Message delivered; waiting for the server's reply.
    AwaitingReply,
}

/// What a thread's message to the server is, so the reply is applied right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// A client call; `bytes` if it carries message-page bytes (a
    /// `REQUEST`, as opposed to a `PING`).
    Call { bytes: bool },
    /// A page fault.
    Fault,
    /// The thread ended; the reply releases it.
    End,
}

/// What the kernel knows of the slot a `THREAD_FORK` names as the parent.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub badge: Badge,
    pub state: State,
    pub pending: Pending,
}

/// Whether `slot` (`None` beyond the table) may be forked as `parent`: it
/// must hold that very thread (same generation) and the server must owe
/// it the reply to a request, so the copy can resume as answered. A
/// queued request (`Sending`) has not reached the server yet, and a fault
/// or an end has no reply bytes to resume with.
pub fn check_fork_parent(slot: Option<Slot>, parent: Badge) -> Result<(), Error> {
    match slot {
        Some(Slot {
            badge,
            state: State::AwaitingReply,
            pending: Pending::Call { bytes: true },
        }) if badge == parent => Ok(()),
        _ => Err(Error::BadArgument),
    }
}

/// MR0-MR5 the caller of a request finds when the server answers with
/// `len` bytes in its message page.
pub const fn request_reply(len: usize) -> MessageRegs {
    [0, len as u64, 0, 0, 0, 0]
}

/// The GPRs a forked thread starts with: its parent's, with the reply to
/// its request in r2-r7 (MR0-MR5).
pub fn forked_gprs(parent: &[u64; 16], reply_len: usize) -> [u64; 16] {
    let mut gprs = *parent;
    gprs[2..8].copy_from_slice(&request_reply(reply_len));
    gprs
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: Badge = Badge::new(7, 3);

    fn slot(state: State, pending: Pending) -> Option<Slot> {
        Some(Slot {
            badge: PARENT,
            state,
            pending,
        })
    }

    #[test]
    fn only_a_thread_owed_a_request_reply_may_be_forked() {
        let request = Pending::Call { bytes: true };
        assert_eq!(
            check_fork_parent(slot(State::AwaitingReply, request), PARENT),
            Ok(())
        );
        for state in [
            State::Free,
            State::Ready,
            State::Running,
            State::Receiving,
            State::Sending,
        ] {
            assert_eq!(
                check_fork_parent(slot(state, request), PARENT),
                Err(Error::BadArgument),
                "{state:?}"
            );
        }
        for pending in [Pending::Call { bytes: false }, Pending::Fault, Pending::End] {
            assert_eq!(
                check_fork_parent(slot(State::AwaitingReply, pending), PARENT),
                Err(Error::BadArgument),
                "{pending:?}"
            );
        }
        assert_eq!(check_fork_parent(None, PARENT), Err(Error::BadArgument));
    }

    #[test]
    fn a_stale_badge_names_no_parent() {
        let owed = slot(State::AwaitingReply, Pending::Call { bytes: true });
        // The slot's earlier and later occupants, and another slot.
        for badge in [Badge::new(7, 2), Badge::new(7, 4), Badge::new(8, 3)] {
            assert_eq!(check_fork_parent(owed, badge), Err(Error::BadArgument));
        }
    }

    #[test]
    fn the_copy_resumes_with_the_reply_and_every_other_register() {
        let parent: [u64; 16] = core::array::from_fn(|i| 0x1000 + i as u64);
        let gprs = forked_gprs(&parent, 123);
        assert_eq!(gprs[..2], parent[..2]);
        assert_eq!(gprs[2..8], [0, 123, 0, 0, 0, 0]);
        assert_eq!(gprs[8..], parent[8..]);
    }
}
