//! Starting the manifest's clients: limits, spaces and threads.

use crate::clients::release_space;
use crate::platform::{self, shutdown, DirectMap};
use zpager_ipc::abi::utcb;
use zpager_ipc::bootarchive::{Archive, EntryKind};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::ids::{Badge, SpaceId};
use zpager_ipc::manifest::{self, ClientSpec, SegmentSource};
use zpager_ipc::segment::Name;
use zpager_memserver::segment::Source;
use zpager_memserver::{Server, PAGE_SIZE};
use zpager_rt::println;

/// The frame limit of clients without `frames=`: an equal share of what
/// the explicit limits leave of the `pool`, so that together the limits
/// never promise more frames than there are. Stops the system when the
/// manifest is malformed or its explicit limits exceed the pool.
pub fn frame_share(manifest_text: &str, pool: u64) -> u64 {
    if let Err(e) = manifest::validate(manifest_text) {
        println!("{e}");
        shutdown(ExitStatus::BadBootArchive);
    }
    let (mut explicit, mut shared) = (0u64, 0u64);
    for spec in manifest::clients(manifest_text).flatten() {
        match spec.frame_limit {
            Some(n) => explicit = explicit.saturating_add(n),
            None => shared += 1,
        }
    }
    if explicit > pool {
        println!(
            "the manifest's frame limits add up to {explicit} frames, more than the {pool} free"
        );
        shutdown(ExitStatus::BadBootArchive);
    }
    let share = (pool - explicit) / shared.max(1);
    if shared > 0 && share < manifest::MIN_FRAME_LIMIT {
        println!(
            "the manifest's frame limits leave {share} frames for each client without one, fewer than {}",
            manifest::MIN_FRAME_LIMIT
        );
        shutdown(ExitStatus::BadBootArchive);
    }
    if shared > 0 {
        println!("each client without frames= may hold {share} frames");
    }
    share
}

/// The live-space cap of families without `spaces=`: an equal share of
/// what the explicit caps leave of the client spaces (at least 1: the
/// client itself). `frame_share` has validated the manifest.
pub fn space_share(manifest_text: &str) -> u64 {
    let (mut explicit, mut shared) = (0u64, 0u64);
    for spec in manifest::clients(manifest_text).flatten() {
        match spec.space_limit {
            Some(n) => explicit = explicit.saturating_add(n),
            None => shared += 1,
        }
    }
    (manifest::MAX_SPACES.saturating_sub(explicit) / shared.max(1)).max(1)
}

/// Makes the manifest's boot segments and gives each client line's
/// grants; stops the system if one cannot be made (the manifest is
/// validated). Returns the pages the empty segments may take from the
/// pool as they are touched, which the clients' frame shares leave out.
/// Out of line: boot code stays out of the serving loop's registers.
#[inline(never)]
pub fn boot_segments(
    server: &mut Server<DirectMap>,
    archive: &Archive<'_>,
    archive_phys: u64,
    text: &str,
) -> u64 {
    let mut reserved = 0u64;
    for spec in manifest::segments(text).flatten() {
        let name = Name::new(spec.name).expect("validated");
        let (pages, source) = match spec.source {
            SegmentSource::Size(bytes) => {
                let pages = bytes.div_ceil(1 << 20) * 256;
                reserved = reserved.saturating_add(pages);
                (pages, Source::Empty)
            }
            SegmentSource::File(file) => {
                let Some(entry) = archive.find(file).filter(|e| !e.data.is_empty()) else {
                    println!("segment {name}: no file {file} in the boot archive");
                    shutdown(ExitStatus::BadBootArchive);
                };
                let first_pfn = (archive_phys + entry.offset as u64) / PAGE_SIZE;
                let pages = (entry.data.len() as u64).div_ceil(PAGE_SIZE);
                (pages, Source::Archive { first_pfn })
            }
        };
        if let Err(e) = server.create_segment(name, pages, source, None) {
            println!("segment {name}: cannot be made ({e:?})");
            shutdown(ExitStatus::TestFailed);
        }
        crate::heap::top_up_from(server);
        match spec.source {
            SegmentSource::Size(_) => println!(
                "segment {name}: {} MiB, empty, its {} page tables built",
                pages / 256,
                pages.div_ceil(256)
            ),
            SegmentSource::File(file) => println!(
                "segment {name}: {pages} pages of {file} read in place, its {} page tables built",
                pages.div_ceil(256)
            ),
        }
    }
    for client in manifest::clients(text).flatten() {
        let program = Name::new(client.name).expect("validated");
        for (segment, modes) in client.grants.iter() {
            let seg = Name::new(segment).and_then(|n| server.segment_named(n));
            let granted = seg.map(|seg| server.grant_segment(seg, program, modes));
            if granted != Some(Ok(())) {
                println!("client {program}: cannot be granted segment {segment}");
                shutdown(ExitStatus::TestFailed);
            }
            crate::heap::top_up_from(server);
        }
    }
    reserved
}

/// Makes the manifest's pfn ranges (an archive data entry's frames, or
/// storage kept out of the pool and zeroed) and gives each client line's
/// `pfn=` grants; stops the system with a bad-archive status if one
/// cannot be made (the manifest is validated). Kept storage leaves the
/// pool for good, before the leak check's baseline and the clients'
/// frame shares: it is never in use, so never a leak. Out of line, as
/// `boot_segments` is.
#[inline(never)]
pub fn boot_pfn_ranges(
    server: &mut Server<DirectMap>,
    archive: &Archive<'_>,
    archive_phys: u64,
    text: &str,
) {
    for spec in manifest::pfn_ranges(text).flatten() {
        let name = Name::new(spec.name).expect("validated");
        let made = match spec.source {
            SegmentSource::Size(bytes) => {
                let pages = bytes.div_ceil(PAGE_SIZE);
                server.keep_pfn_range(name, pages)
            }
            SegmentSource::File(file) => {
                // Only the data entries: never a program (the server's
                // own among them), the configuration or the manifest.
                let entry = archive.find(file).filter(|e| {
                    e.kind == EntryKind::Data
                        && file != manifest::MANIFEST_ENTRY
                        && !e.data.is_empty()
                });
                let Some(entry) = entry else {
                    println!("pfn range {name}: no data file {file} in the boot archive");
                    shutdown(ExitStatus::BadBootArchive);
                };
                let first_pfn = (archive_phys + entry.offset as u64) / PAGE_SIZE;
                let pages = (entry.data.len() as u64).div_ceil(PAGE_SIZE);
                server.add_file_pfn_range(name, first_pfn, pages)
            }
        };
        let range = match made {
            Ok(r) => server.pfn_range(r).expect("just made"),
            Err(e) => {
                println!("pfn range {name}: cannot be made ({e:?})");
                shutdown(ExitStatus::BadBootArchive);
            }
        };
        let (first, end) = (range.first_pfn, range.first_pfn + range.pages);
        match spec.source {
            SegmentSource::Size(_) => println!(
                "pfn range {name}: {} pages kept at frames {first:#x}-{:#x}, zeroed",
                range.pages,
                end - 1
            ),
            SegmentSource::File(file) => println!(
                "pfn range {name}: {} pages of {file} read in place at frames {first:#x}-{:#x}",
                range.pages,
                end - 1
            ),
        }
        crate::heap::top_up_from(server);
    }
    for client in manifest::clients(text).flatten() {
        let program = Name::new(client.name).expect("validated");
        for (range, modes) in client.pfn_grants.iter() {
            let r = Name::new(range).and_then(|n| server.pfn_range_named(n));
            let granted = r.map(|r| server.grant_pfn(r, program, modes));
            if granted != Some(Ok(())) {
                println!("client {program}: cannot be granted pfn range {range}");
                shutdown(ExitStatus::BadBootArchive);
            }
            crate::heap::top_up_from(server);
        }
    }
}

/// Builds a client's space (index `index` in the core) from its program
/// and starts its thread, named `instance` on the console; returns its
/// badge and the kernel's id for the space.
pub fn start_client(
    server: &mut Server<DirectMap>,
    archive: &Archive<'_>,
    archive_phys: u64,
    index: usize,
    spec: &ClientSpec<'_>,
    instance: &str,
    (frame_limit, space_limit): (u64, u64),
) -> Result<(Badge, SpaceId), &'static str> {
    let (name, args) = (spec.name, spec.args);
    let entry = archive
        .find(name)
        .filter(|e| e.kind == EntryKind::Program)
        .ok_or("no such program in the boot archive")?;
    // Everything that can fail without side effects comes first.
    let mut block = [0u8; 4 + utcb::MAX_NAME + utcb::MAX_ARGS];
    let n = utcb::write_startup(&mut block, name, args).ok_or("name or arguments too long")?;
    let asce = server.create_space(index).map_err(|_| "no space left")?;
    server.set_frame_limit(index, frame_limit);
    server.set_space_limit(index, space_limit);
    server.set_may_offline(index, spec.may_offline);
    server.set_server_stats(index, spec.server_stats);
    if let Some(program) = Name::new(name) {
        server.set_program(index, program);
    }
    let image = archive_phys + entry.offset as u64;
    let loaded = match server.load_program(index, image, entry.data.len() as u64) {
        Ok(l) => l,
        Err(_) => {
            server.destroy_space(index);
            return Err("not a loadable program");
        }
    };
    platform::write_phys(loaded.utcb_pfn * PAGE_SIZE, &block[..n]);
    // The first client's slot doubles as a check of the kernel's
    // generation rules.
    let created = if index == 1 {
        platform::create_space_checking_generations(asce, index)
    } else {
        platform::create_space(asce, index)
    };
    let Ok(space) = created else {
        server.destroy_space(index);
        return Err("the kernel refused the space");
    };
    let utcb_phys = loaded.utcb_pfn * PAGE_SIZE;
    match platform::create_thread(space, loaded.entry, utcb_phys, instance) {
        Ok(badge) => Ok((badge, space)),
        Err(_) => {
            release_space(server, space);
            Err("the kernel refused the thread")
        }
    }
}
