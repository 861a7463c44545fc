//! The on-disk cache end to end: shared by parallel runs, removable when corrupt, honest
//! about what `cache clear` did, and never the reason for a stale fallback.

use std::path::Path;

use crate::common::{Run, tagwarden_with};
use tagwarden_testbed::{ManifestKind, Platform, Registry};

fn with_cache_home(cache_home: &Path, args: &[&str]) -> Run {
    tagwarden_with(args, &[("XDG_CACHE_HOME", cache_home.to_str().unwrap())])
}

#[test]
fn a_tag_published_after_the_tag_list_was_cached_is_the_fallback() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    let amd64 = [Platform::linux_amd64()];
    seeder.push_image("acme/tools/kubectl", "v1.31.1", ManifestKind::Oci, &amd64);
    let home = tempfile::tempdir().unwrap();
    let wanted = format!("{}/acme/tools/kubectl:v1.32.1", registry.addr());

    // The first run caches the tag list (v1.31.1 only) and falls back across a minor.
    let run = with_cache_home(home.path(), &["resolve", &wanted]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.trim().ends_with(":v1.31.1"), "{run:?}");

    // v1.32.0 is published. The wanted v1.32.1 is still missing, and the answer is now a
    // fallback within the same minor: the cached tag list must not hide it.
    seeder.push_image("acme/tools/kubectl", "v1.32.0", ManifestKind::Oci, &amd64);
    let run = with_cache_home(home.path(), &["resolve", &wanted]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.trim().ends_with(":v1.32.0"), "{run:?}");

    // And the refreshed list is what the cache holds now.
    let run = with_cache_home(home.path(), &["resolve", &wanted, "-o", "json"]);
    assert_eq!(run.json()["tag"], "v1.32.0", "{run:?}");
}

#[test]
fn parallel_runs_share_the_cache_and_clear_works_while_they_run() {
    let registry = Registry::start();
    let seeder = registry.seeder();
    seeder.push_image(
        "acme/app",
        "v1.31",
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    let home = tempfile::tempdir().unwrap();
    let image = format!("{}/acme/app:v1.31", registry.addr());
    let entries = home.path().join("tagwarden").join("entries");

    // Eight runs at once: with an exclusive lock all but one silently skipped the cache.
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (image, home) = (&image, home.path());
                scope.spawn(move || {
                    if i == 4 {
                        with_cache_home(home, &["cache", "clear"])
                    } else {
                        with_cache_home(home, &["--debug", "resolve", image])
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            !run.stderr.contains("without the persistent cache"),
            "no run skips the cache: {run:?}"
        );
    }
    let run = with_cache_home(home.path(), &["resolve", &image]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = with_cache_home(home.path(), &["--debug", "resolve", &image]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(entries.read_dir().unwrap().count() > 0);
    assert!(
        run.stderr.contains("from the disk cache"),
        "a run after the parallel ones is answered from the cache: {run:?}"
    );
}

#[test]
fn cache_clear_removes_a_corrupt_cache_and_only_claims_what_it_did() {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("tagwarden");
    std::fs::create_dir_all(folder.join("entries")).unwrap();
    std::fs::write(folder.join("cache.redb"), b"Not a redb database").unwrap();
    std::fs::write(folder.join("entries").join("0.json"), b"\x00garbage").unwrap();

    let run = with_cache_home(home.path(), &["cache", "clear"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.starts_with("cleared 1 entry and the cache file"),
        "{run:?}"
    );
    assert!(!folder.join("cache.redb").exists());
    assert!(!folder.join("entries").exists());

    let run = with_cache_home(home.path(), &["cache", "clear"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.starts_with("nothing to clear"), "{run:?}");

    // A cache home that cannot exist: nothing is claimed.
    let run = with_cache_home(Path::new("/proc/x"), &["cache", "clear"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("cleared"), "{run:?}");
    assert!(run.stderr.contains("/proc/x/tagwarden"), "{run:?}");
}

#[test]
fn a_relative_cache_home_is_ignored_as_the_xdg_spec_says() {
    let run = tagwarden_with(&["cache", "path"], &[("XDG_CACHE_HOME", "relative/cache")]);
    assert_eq!(run.code, 0, "{run:?}");
    let path = run.stdout.trim();
    assert!(Path::new(path).is_absolute(), "{run:?}");
    assert!(
        path.ends_with("/.cache/tagwarden"),
        "falls back to HOME: {run:?}"
    );
}
