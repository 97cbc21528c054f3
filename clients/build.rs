//! Links client programs with the shared user linker script.
fn main() {
    println!("cargo:rerun-if-changed=user.ld");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("s390x") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    }
}
