//! Regenerate the seed corpus: `cargo run -p corral-fuzz --example write_seeds`.
//!
//! Writes `fuzz/corpus/<target>/<name>` for every seed of `corral_fuzz::seeds::seeds()`.
//! Files found by real fuzzing runs can sit beside them; they are left alone.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for seed in corral_fuzz::seeds::seeds() {
        let dir = root.join(seed.target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(seed.name), &seed.data)?;
    }
    println!("wrote seeds under {}", root.display());
    Ok(())
}
