//! The memory server runs in problem state like any client and shares
//! their linker script.
fn main() {
    println!("cargo:rerun-if-changed=../clients/user.ld");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("s390x") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/../clients/user.ld");
        println!("cargo:rustc-link-arg-bins=--defsym=__image_base=0x400000");
    }
}
