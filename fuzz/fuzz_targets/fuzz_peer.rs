//! libFuzzer entry point; the logic lives in `corral_fuzz::fuzz_peer`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| corral_fuzz::fuzz_peer(data));
