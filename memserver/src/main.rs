//! The memory server program: starts the clients named in the manifest,
//! then serves faults and requests until every client has ended.
// Clients' FP registers are switched lazily on the promise that this code
// never uses them (see kernel/src/thread/sched.rs).
#![deny(clippy::float_arithmetic)]
#![no_std]
#![no_main]

mod clients;
mod forking;
mod heap;
mod platform;
mod start;

use clients::{Client, Clients, Outcome};
use heap::Usage;
use platform::{shutdown, DirectMap};
use zpager_ipc::abi::{label, KillReason};
use zpager_ipc::bootarchive::Archive;
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::ids::Badge;
use zpager_ipc::kcall::PteReplace;
use zpager_ipc::kmsg::{FaultMsg, FaultReply, MessageRegs, ThreadEnd};
use zpager_ipc::manifest::{self, MANIFEST_ENTRY};
use zpager_ipc::protocol::{Request, Response, Stats, MAX_MESSAGE};
use zpager_memserver::frames::FrameAllocator;
use zpager_memserver::request::decode_request;
use zpager_memserver::{Server, PAGE_SIZE};
use zpager_rt::{println, sys};

zpager_rt::entry!(main);

fn main() -> u64 {
    let Some((info, free)) = platform::boot_info() else {
        println!("no boot information from the kernel");
        shutdown(ExitStatus::TestFailed);
    };
    heap::init(info.segment_table);
    // The heap first: the server keeps its record directory there.
    let mut frames = FrameAllocator::new(&mut DirectMap, free.clone());
    heap::top_up(|| frames.alloc(&DirectMap));
    let Some(mut server) = Server::with_frames(DirectMap, frames) else {
        println!("not enough memory to start");
        shutdown(ExitStatus::TestFailed);
    };
    heap::top_up_from(&mut server);
    let (archive_phys, archive_len) = info.archive;
    let archive_frames = (
        archive_phys / PAGE_SIZE,
        (archive_phys + archive_len).div_ceil(PAGE_SIZE),
    );
    // What `Offline` may move: before the baseline, so the heap's block
    // for the ranges is no leak.
    if server
        .set_storage(info.memory_bytes / PAGE_SIZE, archive_frames, free)
        .is_err()
    {
        println!("not enough memory to start");
        shutdown(ExitStatus::TestFailed);
    }
    heap::top_up_from(&mut server);
    let archive_bytes = platform::archive(archive_phys, archive_len);
    let Ok(archive) = Archive::parse(archive_bytes) else {
        println!("the boot archive does not parse");
        shutdown(ExitStatus::TestFailed);
    };
    let text = archive
        .find(MANIFEST_ENTRY)
        .and_then(|e| core::str::from_utf8(e.data).ok())
        .unwrap_or("");
    if let Err(e) = manifest::validate(text) {
        println!("{e}");
        shutdown(ExitStatus::BadBootArchive);
    }
    let segment_pages = start::boot_segments(&mut server, &archive, archive_phys, text);
    start::boot_pfn_ranges(&mut server, &archive, archive_phys, text);
    // On the stack (main never returns): the heap's bytes are what the
    // leak check compares.
    let mut clients = Clients::new();
    let baseline = Usage::now(&server);
    println!(
        "{} frames free of {} MiB; zero page at frame {:#x}; {} frames in use before any client",
        server.free_frames(),
        info.memory_bytes >> 20,
        server.zero_pfn(),
        baseline.frames
    );

    let pool = server.free_frames().saturating_sub(segment_pages);
    let share = start::frame_share(text, pool);
    let space_share = start::space_share(text);
    // `frame_share` has validated the manifest.
    for (instance, spec) in manifest::instances(text) {
        // The core's space index; the kernel adds the generation.
        let index = clients.list.len() + 1;
        heap::top_up_from(&mut server);
        let limits = (
            spec.frame_limit.unwrap_or(share),
            spec.space_limit.unwrap_or(space_share),
        );
        let mut name = heapless::String::new();
        let _ = core::fmt::write(&mut name, format_args!("{instance}"));
        match start::start_client(
            &mut server,
            &archive,
            archive_phys,
            index,
            &spec,
            &name,
            limits,
        ) {
            Ok((badge, space)) => {
                let _ = clients.list.push(Client {
                    name,
                    expect: Some(spec.expect),
                    badge,
                    space,
                    parent: None,
                    waiter: None,
                    outcome: Outcome::Running,
                    stats: Stats::default(),
                    as_expected: false,
                });
            }
            Err(why) => {
                println!("cannot start client {name}: {why}");
                clients.failed = true;
            }
        }
    }
    if clients.list.is_empty() {
        println!("no clients to run");
        shutdown(if clients.failed {
            ExitStatus::TestFailed
        } else {
            ExitStatus::Success
        });
    }

    let (mut badge, mut msg) = sys::recv();
    loop {
        // Faults first: decoding one checks its label on the way.
        let reply = match FaultMsg::from_regs(&msg) {
            Ok(fault) => serve_fault(&mut server, &fault),
            Err(_) => match msg[0] & 0xffff {
                label::REQUEST => match serve_request(&mut server, &mut clients, badge, &msg) {
                    Some(reply) => reply,
                    // The caller waits for a later answer.
                    None => {
                        (badge, msg) = sys::recv();
                        continue;
                    }
                },
                label::THREAD_END => {
                    let end = ThreadEnd::from_regs(&msg);
                    clients::thread_ended(&mut server, &mut clients, badge, end);
                    if clients.all_ended() {
                        clients::finish(&server, &clients, baseline);
                    }
                    (badge, msg) = sys::recv();
                    continue;
                }
                // A fault message the kernel built wrong: killing the
                // client is the safe answer.
                label::FAULT => FaultReply::Kill(KillReason::Spurious).to_regs(),
                // PING, and anything else: an empty answer.
                _ => [0; 6],
            },
        };
        (badge, msg) = sys::reply_recv(badge, reply);
    }
}

/// Resolves a fault; the reply tells the kernel what to do.
#[inline(always)]
fn serve_fault(server: &mut Server<DirectMap>, fault: &FaultMsg) -> MessageRegs {
    let reply = match server.fault(fault.space.index(), fault.address, fault.access) {
        Ok(done) => FaultReply::Resume {
            replace: done.replace.map(|r| PteReplace {
                pte_phys: r.pte_phys,
                vaddr: r.vaddr,
                new: r.new,
            }),
            kind: done.kind as u64,
            pages: done.pages,
        },
        Err(why) => FaultReply::Kill(why),
    };
    reply.to_regs()
}

/// Serves a postcard request from the message page, answering in place;
/// `None` when the answer comes later (a wait for a running child).
/// Kept out of the loop, so the fault path keeps its registers.
#[inline(never)]
fn serve_request(
    server: &mut Server<DirectMap>,
    clients: &mut Clients,
    badge: u64,
    msg: &[u64; 6],
) -> Option<[u64; 6]> {
    // The request is copied out and the answer copied in: while the
    // request is served, the page carries batched calls to the kernel.
    let len = (msg[1] as usize).min(MAX_MESSAGE);
    let mut input = [0u8; MAX_MESSAGE];
    input[..len].copy_from_slice(&platform::message_page()[..len]);
    let caller = clients.by_badge(badge);
    let space = caller.map_or(0, |i| clients.list[i].space.index());
    let response = match (decode_request(&input[..len]), caller) {
        (Err(e), _) => Response::Error(e),
        (Ok(Request::Fork), Some(i)) => forking::fork(server, clients, i, Badge::from_raw(badge)),
        (Ok(Request::Wait { child }), Some(i)) => {
            forking::wait(clients, i, Badge::from_raw(badge), child)?
        }
        (Ok(request), _) => server.request(space, request),
    };
    let page = platform::message_page();
    let n = postcard::to_slice(&response, &mut page[..]).map_or(0, |s| s.len());
    heap::top_up_from(server);
    Some([0, n as u64, 0, 0, 0, 0])
}
