// Builds libadeadvm.a from this repository (make in the top folder) and links it statically.
// ADEAD_SOURCE names another source tree; ADEAD_BUILD another build folder in it.
use std::{env, path::PathBuf, process::Command};

fn main() {
    let top = env::var("ADEAD_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../.."));
    let build = env::var("ADEAD_BUILD").unwrap_or_else(|_| "build".to_string());
    let status = Command::new("make")
        .arg("-C")
        .arg(&top)
        .arg(format!("BUILD={build}"))
        .arg(format!("{build}/lib/libadeadvm.a"))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .status()
        .expect("make not found");
    assert!(status.success(), "make failed in {}", top.display());
    println!("cargo:rustc-link-search=native={}", top.join(&build).join("lib").display());
    println!("cargo:rustc-link-lib=static=adeadvm");
    for lib in ["m", "pthread", "dl"] {
        println!("cargo:rustc-link-lib={lib}");
    }
    println!("cargo:rerun-if-changed={}", top.join("include/adeadvm.h").display());
    println!("cargo:rerun-if-env-changed=ADEAD_SOURCE");
}
