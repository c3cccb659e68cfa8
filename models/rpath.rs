// Shared by the build scripts of the root package, models and bench (included with `include!`).
// Bakes the libtorch library directory into the rpath of everything this package links (unit tests,
// integration tests, benches, examples), so they run without LD_LIBRARY_PATH. `torch-sys` only emits
// `-L`; the dynamic loader still needs to find libtorch at run time.
// LIBTORCH comes from `.cargo/config.toml` (`.deps/libtorch`, a symlink made by scripts/setup.sh); the
// symlink is canonicalized so the rpath names the real directory.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(dir) = std::env::var_os("LIBTORCH") else {
        println!("cargo:warning=LIBTORCH is not set (run scripts/setup.sh); no rpath for libtorch");
        return;
    };
    let lib = PathBuf::from(&dir).join("lib");
    match lib.canonicalize() {
        Ok(lib) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            // Re-run when scripts/setup.sh repoints the symlink at another install (the path goes
            // through the symlink on purpose, so cargo sees the new target's file).
            let version = PathBuf::from(&dir).join("build-version");
            if version.exists() {
                println!("cargo:rerun-if-changed={}", version.display());
            }
        }
        Err(e) => println!(
            "cargo:warning=libtorch lib dir {} not usable ({e}); run scripts/setup.sh",
            lib.display()
        ),
    }
}
