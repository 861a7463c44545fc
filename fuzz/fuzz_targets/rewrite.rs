//! Rewrites every image of arbitrary input (the first byte chooses the new values). The
//! invariants live in `tagwarden_manifest::fuzzing::rewrite`, which a normal test also runs
//! over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tagwarden_manifest::fuzzing::rewrite(data);
});
