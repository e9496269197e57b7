//! Stamps the build date into `CORRAL_BUILD_DATE` for the "built on" part of the version
//! string (SOURCE_DATE_EPOCH wins, for reproducible builds).

#[path = "src/timefmt.rs"]
mod timefmt;

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    println!(
        "cargo:rustc-env=CORRAL_BUILD_DATE={}",
        timefmt::build_date(secs)
    );
}
