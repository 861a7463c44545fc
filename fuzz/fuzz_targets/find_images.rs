//! Finds image fields in arbitrary bytes. The invariants live in
//! `tagwarden_manifest::fuzzing::find_images`, which a normal test also runs over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tagwarden_manifest::fuzzing::find_images(data);
});
