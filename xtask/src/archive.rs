//! Packing boot archives: the configuration, the manifest, the memory
//! server and the client programs.

use crate::guest::Images;
use anyhow::{anyhow, bail, Context, Result};
use zpager_ipc::args;
use zpager_ipc::bootarchive::{ArchiveBuilder, EntryKind, CONFIG_ENTRY};
use zpager_ipc::bootconfig::BootConfig;
use zpager_ipc::elf::Program;
use zpager_ipc::manifest::{self, MANIFEST_ENTRY, MEMSERVER_ENTRY};

/// The clients `cargo xtask run` starts when none are named.
pub const DEMO: &[&str] = &[
    "hello",
    "anon",
    "zero",
    "fork",
    "cow",
    "mremap",
    "bigspace",
    "segment_ew",
    "spin",
    "bad_wild_store",
    "bad_text_store",
    "bad_privileged",
    "bad_syscall",
    "bad_message",
    "bad_sacf",
    "bad_protected_store",
    "bad_hog",
];

/// A manifest line for `spec` ("name" or "name args..."): clients whose
/// name starts with `bad_` are expected to be killed.
pub fn manifest_line(spec: &str) -> String {
    let (name, args) = spec.split_once(' ').unwrap_or((spec, ""));
    let expect = if name.starts_with("bad_") {
        " expect=killed"
    } else {
        ""
    };
    format!("client {name}{expect} {args}")
        .trim_end()
        .to_string()
}

/// The manifest for the `--client` specs, checked before anything is
/// built so a mistake is reported against the option that made it: one
/// line per spec, a known program name, options the manifest accepts, at
/// most 31 clients. `known` lists the client programs. Options written
/// after the arguments are passed to the client as arguments; that is
/// allowed but probably a mistake, so it earns a note on stderr.
pub fn manifest_for(specs: &[String], known: &[String]) -> Result<String> {
    if specs.len() > manifest::MAX_CLIENTS {
        bail!(
            "{} clients named; at most {} can run at once",
            specs.len(),
            manifest::MAX_CLIENTS
        );
    }
    let mut text = String::new();
    for spec in specs {
        if spec.contains(['\n', '\r']) {
            bail!("--client {spec:?}: one client per --client, without line breaks");
        }
        if spec.trim().is_empty() {
            bail!("--client {spec:?}: no client name");
        }
        let line = manifest_line(spec.trim());
        let parsed = manifest::clients(&line)
            .next()
            .ok_or_else(|| anyhow!("--client {spec:?}: no client name"))?
            .map_err(|e| anyhow!("--client {spec:?}: {}", e.what))?;
        if !known.iter().any(|k| k == parsed.name) {
            bail!(
                "--client {spec:?}: no client program {:?}; there are: {}",
                parsed.name,
                known.join(", ")
            );
        }
        if let Some(late) = parsed.args.split_whitespace().find(|w| {
            [
                "expect=",
                "frames=",
                "spaces=",
                "may_offline",
                "server_stats",
                "grant=",
                "pfn=",
            ]
            .iter()
            .any(|o| w.starts_with(o))
        }) {
            eprintln!(
                "xtask: note: in --client {spec:?}, {late:?} comes after the arguments, so {} gets it as an argument; options go right after the name",
                parsed.name
            );
        }
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

/// Data entries packed beside the programs: a name and its bytes.
pub type Files = Vec<(String, Vec<u8>)>;

/// The archive entry holding the file of boot segment `name`.
pub fn segment_entry(name: &str) -> String {
    format!("seg_{name}")
}

/// The manifest lines and archive files for `--segment` specs: `NAME
/// size=64M` (empty) or `NAME file=PATH` (a host file, packed as entry
/// [`segment_entry`] and read in place), checked as the manifest checks
/// them.
pub fn segments_for(specs: &[String]) -> Result<(String, Files)> {
    boot_objects_for("segment", "segment", segment_entry, specs)
}

/// The archive entry holding the file of pfn range `name`.
pub fn pfn_entry(name: &str) -> String {
    format!("pfn_{name}")
}

/// The manifest lines and archive files for `--pfn` specs: `NAME
/// size=64K` (storage kept out of the pool at boot, zeroed) or `NAME
/// file=PATH` (a host file, packed as entry [`pfn_entry`] and mapped in
/// place), checked as the manifest checks them.
pub fn pfn_ranges_for(specs: &[String]) -> Result<(String, Files)> {
    boot_objects_for("pfn", "pfnrange", pfn_entry, specs)
}

/// The manifest lines and archive files for both: segments first.
pub fn boot_objects(segments: &[String], pfn_ranges: &[String]) -> Result<(String, Files)> {
    let (mut text, mut files) = segments_for(segments)?;
    let (pfn_text, pfn_files) = pfn_ranges_for(pfn_ranges)?;
    text.push_str(&pfn_text);
    files.extend(pfn_files);
    Ok((text, files))
}

/// Manifest lines `KEYWORD NAME size=N|file=ENTRY` for the specs of
/// option `--OPTION`, with the host files they name packed as `entry`.
fn boot_objects_for(
    option: &str,
    keyword: &str,
    entry: fn(&str) -> String,
    specs: &[String],
) -> Result<(String, Files)> {
    let (mut text, mut files) = (String::new(), Vec::new());
    for spec in specs {
        let (name, source) = spec.trim().split_once(' ').ok_or_else(|| {
            anyhow!("--{option} {spec:?}: expected `NAME size=N` or `NAME file=PATH`")
        })?;
        let line = match source.trim().strip_prefix("file=") {
            Some(path) => {
                let data = std::fs::read(path)
                    .with_context(|| format!("--{option} {spec:?}: reading {path}"))?;
                if data.is_empty() {
                    bail!("--{option} {spec:?}: {path} is empty");
                }
                files.push((entry(name), data));
                format!("{keyword} {name} file={}\n", entry(name))
            }
            None => format!("{keyword} {name} {}\n", source.trim()),
        };
        if let Err(e) = manifest::validate(&line) {
            bail!("--{option} {spec:?}: {}", e.what);
        }
        text.push_str(&line);
    }
    Ok((text, files))
}

/// Checks every client's arguments against what its program declares
/// (`zpager_rt::entry!`, read from the ELF's [`args::SECTION`]), so an
/// unknown or misspelt argument is refused before booting rather than
/// ignored. A program without the section (one not built on the runtime)
/// is not checked here.
pub fn check_arguments(manifest_text: &str, images: &Images) -> Result<()> {
    for spec in manifest::clients(manifest_text) {
        let spec = spec.map_err(|e| anyhow!("{e}"))?;
        let Some(path) = images.client(spec.name) else {
            continue;
        };
        let Some(accepted) = accepted_arguments(path)? else {
            continue;
        };
        if let Some(word) = args::first_unknown(spec.args, &accepted) {
            bail!(
                "client {}: unknown argument {word:?}; it takes: {}",
                spec.name,
                if accepted.is_empty() {
                    "no arguments"
                } else {
                    &accepted
                }
            );
        }
    }
    Ok(())
}

/// The arguments the program at `path` declares it accepts, if it
/// declares them.
pub fn accepted_arguments(path: &std::path::Path) -> Result<Option<String>> {
    use object::{Object, ObjectSection};
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", path.display()))?;
    let Some(section) = file.section_by_name(args::SECTION) else {
        return Ok(None);
    };
    let data = section
        .data()
        .with_context(|| format!("reading {} of {}", args::SECTION, path.display()))?;
    let text = data.strip_suffix(&[0]).unwrap_or(data);
    let text = std::str::from_utf8(text)
        .with_context(|| format!("{} of {} is not UTF-8", args::SECTION, path.display()))?;
    Ok(Some(text.to_string()))
}

/// The manifest clients that have not ended in `transcript`: the server
/// prints one `memserver: client <name> exited ...` or `... was killed`
/// line as each ends (or `cannot start client <name>` if it never
/// started), so any other client is still running when the console
/// stops. Used to say who was still at it when a timeout fired.
pub fn still_running(manifest_text: &str, transcript: &str) -> Vec<String> {
    manifest::instances(manifest_text)
        .map(|(instance, _)| instance.to_string())
        .filter(|name| {
            let ended = [
                format!("memserver: client {name} exited "),
                format!("memserver: client {name} was killed "),
            ];
            let not_started = format!("memserver: cannot start client {name}:");
            !transcript.lines().any(|l| {
                ended.iter().any(|e| l.starts_with(e.as_str())) || l.starts_with(&not_started)
            })
        })
        .collect()
}

/// What goes into an archive.
pub struct Contents<'a> {
    pub config: BootConfig,
    /// Manifest text; `None` packs no manifest (and no programs).
    pub manifest: Option<String>,
    pub images: Option<&'a Images>,
    /// Data entries to pack beside the programs (boot segments' files).
    pub files: Files,
}

/// Builds the archive image. Every client the manifest names is packed,
/// and every program is checked with the same ELF reader the guest uses.
pub fn pack(contents: &Contents<'_>) -> Result<Vec<u8>> {
    let mut text = String::new();
    contents
        .config
        .write_to(&mut text)
        .map_err(|_| anyhow!("formatting the boot configuration"))?;
    let mut builder = ArchiveBuilder::new();
    let add = |b: &mut ArchiveBuilder, name: &str, kind, data| -> Result<()> {
        b.add(name, kind, data).map_err(|e| anyhow!("{e}"))?;
        Ok(())
    };
    add(
        &mut builder,
        CONFIG_ENTRY,
        EntryKind::Config,
        text.into_bytes(),
    )?;
    if let (Some(manifest_text), Some(images)) = (&contents.manifest, contents.images) {
        manifest::validate(manifest_text).map_err(|e| anyhow!("{e}"))?;
        add(
            &mut builder,
            MANIFEST_ENTRY,
            EntryKind::Data,
            manifest_text.clone().into_bytes(),
        )?;
        add(
            &mut builder,
            MEMSERVER_ENTRY,
            EntryKind::Program,
            program(&images.memserver)?,
        )?;
        for (name, data) in &contents.files {
            add(&mut builder, name, EntryKind::Data, data.clone())?;
        }
        let mut packed: Vec<&str> = Vec::new();
        for spec in manifest::clients(manifest_text) {
            let name = spec.map_err(|e| anyhow!("{e}"))?.name;
            if packed.contains(&name) {
                continue;
            }
            let Some(path) = images.client(name) else {
                let known: Vec<_> = images.clients.iter().map(|(n, _)| n.as_str()).collect();
                bail!(
                    "no client program {name:?}; there are: {}",
                    known.join(", ")
                );
            };
            add(&mut builder, name, EntryKind::Program, program(path)?)?;
            packed.push(name);
        }
    }
    builder.build().map_err(|e| anyhow!("{e}"))
}

/// Reads a program for the archive: checked with the guest's ELF reader
/// and cut after its last loadable byte, which drops debug information
/// and section headers the guest never reads (the unstripped file stays
/// in `target/guest` for gdb).
fn program(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let program = Program::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let end = program
        .segments()
        .map(|s| s.offset + s.file_size)
        .max()
        .unwrap_or(0)
        .max(64) as usize;
    let mut kept = bytes[..end].to_vec();
    // No section headers any more: e_shoff, e_shnum and e_shstrndx.
    kept[40..48].fill(0);
    kept[60..64].fill(0);
    Program::parse(&kept).map_err(|e| anyhow!("{} after stripping: {e}", path.display()))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpager_ipc::bootarchive::Archive;
    use zpager_ipc::bootconfig::SelfTest;

    fn specs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn clients_without_an_ending_line_are_still_running() {
        let manifest =
            "client spin\nclient hello\nclient hello\nclient bad_x expect=killed\nclient anon\n";
        let transcript = "hello#1: hello from zpager\n\
            memserver: client hello#1 exited 0 (expected exit:0): faults ...\n\
            memserver: client bad_x was killed (expected killed) [..]\n\
            memserver: cannot start client anon: no such program\n\
            hello#2: memserver: client spin exited 0 (a forged line)\n";
        assert_eq!(still_running(manifest, transcript), ["spin", "hello#2"]);
        assert!(still_running(manifest, "").len() == 5);
    }

    #[test]
    fn client_specs_are_checked_before_building() {
        let known = specs(&["hello", "anon", "bad_hog"]);
        assert_eq!(
            manifest_for(&specs(&["hello", "bad_hog frames=64 x"]), &known).unwrap(),
            "client hello\nclient bad_hog expect=killed frames=64 x\n"
        );
        let err = |list: &[&str]| manifest_for(&specs(list), &known).unwrap_err().to_string();
        assert!(err(&["nosuch"])
            .contains("no client program \"nosuch\"; there are: hello, anon, bad_hog"));
        assert_eq!(
            err(&["hello frames=15"]),
            "--client \"hello frames=15\": frames must be a number of at least 16"
        );
        assert!(err(&["hello\nclient bad_hog"]).contains("without line breaks"));
        assert_eq!(err(&["  "]), "--client \"  \": no client name");
        assert!(err(&["hello"; 32]).contains("at most 31"));
        // Late options are arguments (with a note on stderr), not errors.
        assert!(manifest_for(&specs(&["anon pages=8 frames=20"]), &known).is_ok());
    }

    #[test]
    fn packed_config_reads_back() {
        let config = BootConfig {
            selftest: SelfTest::ProgramCheck,
        };
        let image = pack(&Contents {
            config,
            manifest: None,
            images: None,
            files: Vec::new(),
        })
        .unwrap();
        let archive = Archive::parse(&image).unwrap();
        let entry = archive.find(CONFIG_ENTRY).unwrap();
        assert_eq!(entry.kind, EntryKind::Config);
        assert_eq!(BootConfig::parse(entry.data).unwrap(), config);
    }

    #[test]
    fn pfn_specs_become_pfnrange_lines() {
        let dir = std::env::temp_dir().join(format!("zpager-pfn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.bin");
        std::fs::write(&path, b"abc").unwrap();
        let (text, files) = pfn_ranges_for(&specs(&[
            "buf size=64K",
            &format!("table file={}", path.display()),
        ]))
        .unwrap();
        assert_eq!(
            text,
            "pfnrange buf size=64K\npfnrange table file=pfn_table\n"
        );
        assert_eq!(files, vec![("pfn_table".to_string(), b"abc".to_vec())]);
        let err = |spec: &str| pfn_ranges_for(&specs(&[spec])).unwrap_err().to_string();
        assert!(err("buf").contains("--pfn \"buf\": expected `NAME size=N`"));
        assert!(err("buf size=0").contains("from 1 byte"));
        assert!(err("b.f size=4K").contains("names"));
        std::fs::write(&path, b"").unwrap();
        assert!(err(&format!("t file={}", path.display())).contains("is empty"));
        std::fs::remove_dir_all(&dir).unwrap();
        // Segments still make segment lines.
        let (text, _) = segments_for(&specs(&["s size=1M"])).unwrap();
        assert_eq!(text, "segment s size=1M\n");
    }

    #[test]
    fn manifest_lines_expect_bad_clients_to_die() {
        assert_eq!(manifest_line("hello"), "client hello");
        assert_eq!(manifest_line("anon pages=4"), "client anon pages=4");
        assert_eq!(
            manifest_line("bad_syscall"),
            "client bad_syscall expect=killed"
        );
    }
}
