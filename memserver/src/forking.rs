//! Fork and wait, as the program serves them: the core forks the space,
//! the kernel copies the calling thread into it, and a parent waiting
//! for a child is answered when the child ends.

use crate::clients::{child_end, Client, Clients, Outcome};
use crate::platform::{self, DirectMap};
use zpager_ipc::ids::Badge;
use zpager_ipc::protocol::{MemError, Response};
use zpager_memserver::{Server, PAGE_SIZE};

/// Forks client `caller` (its thread `badge` waits for the answer).
pub fn fork(
    server: &mut Server<DirectMap>,
    clients: &mut Clients,
    caller: usize,
    badge: Badge,
) -> Response {
    match try_fork(server, clients, caller, badge) {
        Ok(child) => Response::Forked { child },
        Err(e) => Response::Error(e),
    }
}

fn try_fork(
    server: &mut Server<DirectMap>,
    clients: &mut Clients,
    caller: usize,
    badge: Badge,
) -> Result<u64, MemError> {
    if clients.list.is_full() {
        return Err(MemError::TooManySpaces);
    }
    let index = clients.free_index().ok_or(MemError::TooManySpaces)?;
    let parent = clients.list[caller].space;
    let forked = server.fork(parent.index(), index)?;
    // Past this point a refusal undoes the fork: the kernel never saw the
    // child, so its space goes without a purge.
    let Ok(space) = platform::create_space(forked.asce, index) else {
        server.destroy_space(index);
        return Err(MemError::TooManySpaces);
    };
    let Some(utcb_pfn) = forked.utcb_pfn else {
        crate::clients::release_space(server, space);
        return Err(MemError::Malformed);
    };
    // The child's answer waits in its own message page.
    let mut answer = [0u8; 16];
    let n = postcard::to_slice(&Response::Forked { child: 0 }, &mut answer).map_or(0, |s| s.len());
    platform::write_phys(utcb_pfn * PAGE_SIZE, &answer[..n]);
    let Ok(child_badge) = platform::fork_thread(badge, space, utcb_pfn * PAGE_SIZE, n) else {
        crate::clients::release_space(server, space);
        return Err(MemError::TooManySpaces);
    };
    let name = clients.list[caller].name.clone();
    clients.forked += 1;
    // `is_full` was checked above.
    let _ = clients.list.push(Client {
        name,
        expect: None,
        badge: child_badge,
        space,
        parent: Some(parent),
        waiter: None,
        outcome: Outcome::Running,
        stats: Default::default(),
        as_expected: false,
    });
    Ok(space.raw())
}

/// Client `caller` (thread `badge`) waits for its child `child`: the
/// answer now if the child has ended, else `None` (it is answered when
/// the child ends).
pub fn wait(clients: &mut Clients, caller: usize, badge: Badge, child: u64) -> Option<Response> {
    let parent = clients.list[caller].space;
    let Some(i) = clients
        .list
        .iter()
        .position(|c| c.space.raw() == child && c.parent == Some(parent) && c.waiter.is_none())
    else {
        return Some(Response::Error(MemError::NoSuchChild));
    };
    match clients.list[i].outcome {
        Outcome::Ended(ending) => {
            clients.list.swap_remove(i);
            Some(Response::Ended(child_end(ending)))
        }
        Outcome::Running => {
            clients.list[i].waiter = Some(badge);
            None
        }
    }
}
