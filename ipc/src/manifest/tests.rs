extern crate std;
use super::*;
use crate::segment::AttachMode;

#[test]
fn parses_clients() {
    let text = "# demo\nclient hello\n\nclient anon pages=512 x\nclient bad_priv expect=killed\nclient t expect=exit:3 a b";
    let got: [ClientSpec; 4] = core::array::from_fn({
        let mut it = clients(text);
        move |_| it.next().unwrap().unwrap()
    });
    assert_eq!(
        got[0],
        ClientSpec {
            name: "hello",
            expect: Expect::Exit(0),
            frame_limit: None,
            space_limit: None,
            may_offline: false,
            server_stats: false,
            grants: Grants::default(),
            pfn_grants: Grants::default(),
            args: ""
        }
    );
    assert_eq!(
        got[1],
        ClientSpec {
            name: "anon",
            expect: Expect::Exit(0),
            frame_limit: None,
            space_limit: None,
            may_offline: false,
            server_stats: false,
            grants: Grants::default(),
            pfn_grants: Grants::default(),
            args: "pages=512 x"
        }
    );
    assert_eq!(
        got[2],
        ClientSpec {
            name: "bad_priv",
            expect: Expect::Killed,
            frame_limit: None,
            space_limit: None,
            may_offline: false,
            server_stats: false,
            grants: Grants::default(),
            pfn_grants: Grants::default(),
            args: ""
        }
    );
    assert_eq!(
        got[3],
        ClientSpec {
            name: "t",
            expect: Expect::Exit(3),
            frame_limit: None,
            space_limit: None,
            may_offline: false,
            server_stats: false,
            grants: Grants::default(),
            pfn_grants: Grants::default(),
            args: "a b"
        }
    );
    assert_eq!(validate(text), Ok(4));
}

#[test]
fn at_most_31_clients() {
    let mut text = [0u8; 13 * 32];
    for line in text.chunks_mut(13) {
        line.copy_from_slice(b"client hello\n");
    }
    let text = core::str::from_utf8(&text).unwrap();
    assert_eq!(validate(&text[..13 * 31]), Ok(31));
    assert_eq!(
        validate(text),
        Err(ManifestError {
            line: 32,
            what: "more than 31 clients"
        })
    );
}

#[test]
fn options_in_any_order() {
    let text = "client hog frames=64 expect=killed pages=9\nclient a expect=exit:2 frames=16";
    let mut it = clients(text);
    assert_eq!(
        it.next(),
        Some(Ok(ClientSpec {
            name: "hog",
            expect: Expect::Killed,
            frame_limit: Some(64),
            space_limit: None,
            may_offline: false,
            server_stats: false,
            grants: Grants::default(),
            pfn_grants: Grants::default(),
            args: "pages=9"
        }))
    );
    assert_eq!(
        it.next(),
        Some(Ok(ClientSpec {
            name: "a",
            expect: Expect::Exit(2),
            frame_limit: Some(16),
            space_limit: None,
            may_offline: false,
            server_stats: false,
            grants: Grants::default(),
            pfn_grants: Grants::default(),
            args: ""
        }))
    );
    assert_eq!(
        validate("client memserver"),
        Err(ManifestError {
            line: 1,
            what: "the memory server cannot be started as a client"
        })
    );
    for bad in [
        "client a frames=15",
        "client a frames=x",
        "client a frames=",
    ] {
        assert_eq!(
            validate(bad),
            Err(ManifestError {
                line: 1,
                what: "frames must be a number of at least 16"
            })
        );
    }
}

#[test]
fn may_offline_is_an_option() {
    let mut it = clients("client offline may_offline frames=64 x\nclient a x may_offline");
    let first = it.next().unwrap().unwrap();
    assert!(first.may_offline);
    assert_eq!((first.frame_limit, first.args), (Some(64), "x"));
    // After the arguments it is an argument.
    let second = it.next().unwrap().unwrap();
    assert!(!second.may_offline);
    assert_eq!(second.args, "x may_offline");
}

#[test]
fn server_stats_is_an_option() {
    let mut it = clients("client a server_stats x\nclient b x server_stats");
    let first = it.next().unwrap().unwrap();
    assert!(first.server_stats && !first.may_offline);
    assert_eq!(first.args, "x");
    assert!(!it.next().unwrap().unwrap().server_stats);
}

#[test]
fn rejects_arguments_that_do_not_fit_the_startup_block() {
    const PREFIX: &[u8] = b"client anon ";
    let mut line = [b'x'; PREFIX.len() + crate::abi::utcb::MAX_ARGS + 1];
    line[..PREFIX.len()].copy_from_slice(PREFIX);
    let text = |len| core::str::from_utf8(&line[..len]).unwrap();
    assert_eq!(validate(text(line.len() - 1)), Ok(1));
    assert_eq!(
        validate(text(line.len())),
        Err(ManifestError {
            line: 1,
            what: "client arguments longer than 1024 bytes"
        })
    );
}

#[test]
fn rejects_bad_lines() {
    assert_eq!(
        validate("client a\nprogram b"),
        Err(ManifestError {
            line: 2,
            what: "expected `client <name> [options] [args]`, `segment <name> file=|size=` or `pfnrange <name> file=|size=`"
        })
    );
    assert!(validate("client x expect=maybe").is_err());
    assert!(validate("client ").is_err());
}

#[test]
fn programs_started_more_than_once_are_numbered() {
    extern crate std;
    use std::string::ToString;
    use std::vec::Vec;
    let text = "client a x=1\nclient b\nclient a\nclient c\nclient a";
    let names: Vec<_> = instances(text).map(|(i, _)| i.to_string()).collect();
    assert_eq!(names, ["a#1", "b", "a#2", "c", "a#3"]);
    let args: Vec<_> = instances(text).map(|(_, s)| s.args).collect();
    assert_eq!(args, ["x=1", "", "", "", ""]);
    let long = "client abcdefghijklmnopqrstuvwxyz01\n".repeat(MAX_CLIENTS);
    let longest = instances(&long).last().unwrap().0.to_string();
    assert_eq!(longest.len(), crate::abi::utcb::MAX_NAME - 1, "{longest}");
    assert_eq!(
        validate("client abcdefghijklmnopqrstuvwxyz012"),
        Err(ManifestError {
            line: 1,
            what: "client name must be 1 to 28 bytes"
        })
    );
}

#[test]
fn reserved_and_odd_names_are_refused() {
    extern crate std;
    use std::format;
    for name in RESERVED_NAMES {
        for line in [
            format!("client {name}"),
            format!("client {}", name.to_ascii_uppercase()),
        ] {
            let want = if line == "client memserver" {
                "the memory server cannot be started as a client"
            } else {
                "that name is reserved: the system's own console lines start with it"
            };
            assert_eq!(validate(&line).map_err(|e| e.what), Err(want), "{line}");
        }
    }
    for bad in ["a:b", "a#2", "caf\u{e9}", "x/y"] {
        assert_eq!(
            validate(&format!("client {bad}")).map_err(|e| e.what),
            Err("client names are letters, digits, `_` and `-`"),
            "{bad}"
        );
    }
    assert_eq!(validate("client Bad-name_2"), Ok(1));
}

#[test]
fn parses_segments_and_grants() {
    let text = "segment ro file=ro.bin\nclient a grant=ro:sr+ew grant=scratch:sw x\nsegment scratch size=3M\n";
    assert_eq!(validate(text), Ok(1));
    let segs: std::vec::Vec<_> = segments(text).flatten().collect();
    assert_eq!(
        segs,
        [
            SegmentSpec {
                name: "ro",
                source: SegmentSource::File("ro.bin")
            },
            SegmentSpec {
                name: "scratch",
                source: SegmentSource::Size(3 << 20)
            },
        ]
    );
    let a = clients(text).next().unwrap().unwrap();
    let grants: std::vec::Vec<_> = a.grants.iter().collect();
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[0].0, "ro");
    assert!(grants[0].1.contains(AttachMode::ExclusiveWrite));
    assert!(!grants[0].1.contains(AttachMode::SharedWrite));
    assert_eq!(a.args, "x");
    assert_eq!(clients(text).count(), 1);
}

#[test]
fn bad_segments_and_grants_are_refused() {
    let bad = [
        ("segment ro\n", "expected"),
        ("segment ro size=0\n", "size"),
        ("segment ro size=2X\n", "size"),
        ("segment r.o size=1M\n", "names"),
        ("segment ro size=1M extra\n", "one of"),
        ("segment ro size=1M\nsegment ro size=2M\n", "one name"),
        ("client a grant=ro:sr\n", "no `segment` line"),
        (
            "segment ro file=x\nclient a grant=ro:sw\n",
            "cannot be granted sw",
        ),
        ("segment ro size=1M\nclient a grant=ro:rw\n", "modes"),
        ("segment ro size=1M\nclient a grant=ro\n", "grant="),
    ];
    for (text, want) in bad {
        let e = validate(text).unwrap_err();
        assert!(e.what.contains(want), "{text:?}: {}", e.what);
    }
    assert_eq!(parse_size("64M"), Some(64 << 20));
    assert_eq!(parse_size("1T"), Some(1 << 40));
    assert_eq!(parse_size("M"), None);
}

#[test]
fn parses_pfn_ranges_and_grants() {
    use crate::pfn::PfnMode;
    let text = "pfnrange table file=pfn_table\nsegment ro size=1M\n\
        client a pfn=table:ro+private grant=ro:sr pfn=buf:rw x pfn=buf:ro\n\
        pfnrange buf size=64K\n";
    assert_eq!(validate(text), Ok(1));
    let ranges: std::vec::Vec<_> = pfn_ranges(text).flatten().collect();
    assert_eq!(
        ranges,
        [
            PfnRangeSpec {
                name: "table",
                source: SegmentSource::File("pfn_table")
            },
            PfnRangeSpec {
                name: "buf",
                source: SegmentSource::Size(64 << 10)
            },
        ]
    );
    // Each kind of line is seen by its own iterator only.
    assert_eq!(segments(text).count(), 1);
    assert_eq!(clients(text).count(), 1);
    let a = clients(text).next().unwrap().unwrap();
    let pfn: std::vec::Vec<_> = a.pfn_grants.iter().collect();
    assert_eq!(pfn.len(), 2);
    assert_eq!(pfn[0].0, "table");
    assert!(pfn[0].1.contains(PfnMode::ReadOnly) && pfn[0].1.contains(PfnMode::Private));
    assert!(!pfn[0].1.contains(PfnMode::ReadWrite));
    assert_eq!(pfn[1].0, "buf");
    assert!(pfn[1].1.contains(PfnMode::ReadWrite) && !pfn[1].1.contains(PfnMode::ReadOnly));
    assert_eq!(a.grants.iter().count(), 1);
    // After the arguments, `pfn=` is an argument.
    assert_eq!(a.args, "x pfn=buf:ro");
    // A line without `pfn=` grants nothing.
    let plain = clients("client b").next().unwrap().unwrap();
    assert_eq!(plain.pfn_grants.iter().count(), 0);
}

#[test]
fn bad_pfn_ranges_and_grants_are_refused() {
    extern crate std;
    use std::string::String;
    let bad = [
        ("pfnrange t\n", "expected `pfnrange"),
        ("pfnrange t file=\n", "expected `pfnrange"),
        ("pfnrange t size=0\n", "from 1 byte"),
        ("pfnrange t size=2T\n", "from 1 byte"),
        ("pfnrange t size=4Q\n", "like 64K"),
        ("pfnrange t.x size=4K\n", "names"),
        ("pfnrange t size=4K more\n", "one of"),
        ("pfnrange t size=4K\npfnrange t file=x\n", "one name"),
        ("client a pfn=t:ro\n", "no `pfnrange` line"),
        // A segment of that name is no pfn range.
        (
            "segment t size=1M\nclient a pfn=t:ro\n",
            "no `pfnrange` line",
        ),
        (
            "pfnrange t file=x\nclient a pfn=t:ro+rw\n",
            "cannot be granted rw",
        ),
        ("pfnrange t size=4K\nclient a pfn=t:sw\n", "pfn modes"),
        ("pfnrange t size=4K\nclient a pfn=t\n", "pfn=<range>"),
        ("pfnrange t size=4K\nclient a pfn=t/x:ro\n", "names"),
    ];
    for (text, want) in bad {
        let e = validate(text).unwrap_err();
        assert!(e.what.contains(want), "{text:?}: {}", e.what);
    }
    // The limits: 8 grants a line, 16 ranges.
    let mut text = String::from("pfnrange t size=4K\nclient a");
    for _ in 0..MAX_CLIENT_PFN_GRANTS {
        text.push_str(" pfn=t:ro");
    }
    assert_eq!(validate(&text), Ok(1));
    text.push_str(" pfn=t:ro");
    assert_eq!(
        validate(&text).unwrap_err().what,
        "more than 8 pfn grants on one client line"
    );
    let mut many = String::new();
    for i in 0..=MAX_PFN_RANGES {
        many.push_str(&std::format!("pfnrange r{i} size=4K\n"));
    }
    let e = validate(&many).unwrap_err();
    assert_eq!((e.line, e.what), (17, "more than 16 pfn ranges"));
    // rw is fine for kept storage, ro and private for a file.
    assert_eq!(
        validate(
            "pfnrange k size=1M\npfnrange f file=x\nclient a pfn=k:ro+rw+private pfn=f:ro+private"
        ),
        Ok(1)
    );
}
