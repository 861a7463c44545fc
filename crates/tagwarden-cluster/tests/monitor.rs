//! The monitor of `tagwarden serve` against the real registry (docker-registry, through
//! the test bed's fault proxy, whose request log counts what was asked): the schedule,
//! `check_soon`, fallbacks in the metrics, tag drift, rate limits and budgets, leadership,
//! and the metrics text as `promtool` and a parser read it.
//!
//! Intervals are milliseconds; every wait polls with a deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tagwarden_cluster::monitor::{
    Budget, ImageState, Metrics, Monitor, MonitorOptions, RegistryClients, RegistryGates, Status,
    TagChange, Transition, prepare_client_options,
};
use tagwarden_cluster::{ImageUse, SecretRef, WorkloadLocation};
use tagwarden_core::{KubeVersion, Tracking};
use tagwarden_registry::{Client, ClientOptions, PullSecretKeychain};
use tagwarden_testbed::{Fault, FaultProxy, ManifestKind, Platform, Registry, RegistryMode, Rule};
use tokio::sync::{mpsc, oneshot, watch};

/// How long any awaited state may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unique_image_is_checked_once_then_on_its_own_schedule() {
    let bed = Bed::start(&["app:v1"]);
    let present = bed.image("app:v1");
    let missing = bed.image("app:v9");
    let invalid = "Not An Image!".to_string();
    let mut options = quick_options();
    options.present_every = Duration::from_secs(3600);
    options.failing_every = Duration::from_millis(150);
    let mut running = bed.run(options, true);
    running.monitor.set_uses(vec![
        use_of(&present, "web", "Deployment", "front", "app", 3),
        use_of(&present, "web", "Deployment", "back", "app", 2),
        // Scaled to zero: still checked.
        use_of(&present, "jobs", "CronJob", "nightly", "app", 0),
        use_of(&missing, "web", "Job", "migrate", "migrate", 1),
        use_of(&invalid, "web", "Pod", "broken", "main", 1),
    ]);

    let states = running
        .wait_for("the missing image checked three times", |states| {
            (state_of(states, &missing).checks >= 3).then(|| states.to_vec())
        })
        .await;
    let app = state_of(&states, &present);
    assert_eq!(app.status, Some(Status::Present), "{app:?}");
    assert_eq!(app.checks, 1, "present every hour: checked once");
    assert_eq!(app.uses.len(), 3, "{app:?}");
    assert!(
        app.digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(state_of(&states, &missing).status, Some(Status::Missing));
    assert_eq!(state_of(&states, &invalid).status, Some(Status::Invalid));
    assert_eq!(state_of(&states, &invalid).registry, "none");
    // One HEAD for three uses; the missing tag once per check.
    assert_eq!(
        bed.heads_of("app", "v1"),
        1,
        "{:?}",
        bed.proxy.request_lines()
    );
    assert!(bed.heads_of("app", "v9") >= 3);

    // One transition per change, not per check: the missing and the invalid image are
    // announced once each, the present one not at all.
    let transitions = running.drain();
    assert_eq!(transitions.len(), 2, "{transitions:#?}");
    let about = |image: &str| transitions.iter().find(|t| t.image() == image).unwrap();
    match about(&missing) {
        Transition::Unavailable {
            image,
            status,
            reason,
            fallback,
            uses,
        } => {
            assert_eq!(image, &missing);
            assert_eq!(*status, Status::Missing);
            assert!(reason.contains("not published"), "{reason}");
            assert_eq!(fallback, &None);
            assert_eq!(uses.len(), 1);
            assert_eq!(uses[0].name, "migrate");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        about(&invalid),
        Transition::Unavailable {
            status: Status::Invalid,
            ..
        }
    ));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_soon_skips_the_schedule() {
    let bed = Bed::start(&["app:v1"]);
    let image = bed.image("app:v1");
    let mut options = quick_options();
    options.present_every = Duration::from_secs(3600);
    let running = bed.run(options, true);
    running
        .monitor
        .set_uses(vec![use_of(&image, "web", "Deployment", "front", "app", 1)]);
    running
        .wait_for("the first check", |s| {
            (state_of(s, &image).checks == 1).then_some(())
        })
        .await;
    let due = state_of(&running.monitor.snapshot(), &image).next_check_in;
    assert!(
        due.is_some_and(|d| d > Duration::from_secs(3000)),
        "{due:?}"
    );

    running.monitor.check_soon(&image);
    running.monitor.check_soon("127.0.0.1:1/nobody/uses:this");
    running
        .wait_for("the hurried check", |s| {
            (state_of(s, &image).checks == 2).then_some(())
        })
        .await;
    assert_eq!(bed.heads_of("app", "v1"), 2);
    assert_eq!(
        running.monitor.snapshot().len(),
        1,
        "unknown images are ignored"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kubernetes_version_rechecks_the_images_that_track_it_at_once() {
    let bed = Bed::start(&["kubectl:v1.31", "app:v1"]);
    let kubectl = bed.image("kubectl:v1.32");
    let app = bed.image("app:v1");
    let mut options = quick_options();
    options.inspect.tracking = Tracking {
        kube_version: Some(KubeVersion::parse("v1.30.5").unwrap()),
        rules: Vec::new(),
    };
    let running = bed.run(options, true);
    running.monitor.set_uses(vec![
        use_of(&kubectl, "capsule", "Job", "crds", "hook", 0),
        use_of(&app, "web", "Deployment", "front", "app", 1),
    ]);
    // At 1.30, kubectl:v1.32 does not track the cluster: missing, nothing stands in.
    let first = running
        .wait_for("both checked", |s| {
            let k = state_of(s, &kubectl);
            (k.checks == 1 && state_of(s, &app).checks == 1).then(|| k.clone())
        })
        .await;
    assert_eq!(first.status, Some(Status::Missing));
    assert_eq!(first.fallback, None);

    // The cluster is upgraded: the tracking image is checked again at once (its schedule
    // says an hour), with the new version; the other one is left alone.
    running
        .monitor
        .set_kube_version(&KubeVersion::parse("v1.32.1").unwrap());
    let again = running
        .wait_for("the recheck", |s| {
            let k = state_of(s, &kubectl);
            (k.checks == 2).then(|| k.clone())
        })
        .await;
    assert_eq!(
        again.fallback.as_deref(),
        Some(bed.image("kubectl:v1.31").as_str())
    );
    assert_eq!(state_of(&running.monitor.snapshot(), &app).checks, 1);
    assert_eq!(running.monitor.kube_version().map(|v| v.minor), Some(32));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_shows_its_fallback_and_its_series_follow_the_uses() {
    let bed = Bed::start(&["clastix/kubectl:v1.31", "clastix/kubectl:v1.30"]);
    let wanted = bed.image("clastix/kubectl:v1.32");
    let present = bed.image("clastix/kubectl:v1.31");
    let mut options = quick_options();
    options.inspect.tracking = Tracking {
        kube_version: Some(KubeVersion::parse("v1.32.0").unwrap()),
        rules: Vec::new(),
    };
    let mut running = bed.run(options, true);
    running.monitor.set_uses(vec![
        use_of(&wanted, "capsule", "Job", "crds", "kubectl", 0),
        use_of(&wanted, "capsule", "CronJob", "cleanup", "kubectl", 0),
        use_of(&present, "tools", "Deployment", "shell", "kubectl", 1),
    ]);
    let states = running
        .wait_for("both answered", |s| {
            s.iter().all(|i| i.status.is_some()).then(|| s.to_vec())
        })
        .await;
    let state = state_of(&states, &wanted);
    assert_eq!(state.status, Some(Status::Missing));
    assert_eq!(state.fallback.as_deref(), Some(present.as_str()));
    match running.drain().as_slice() {
        [Transition::Unavailable { fallback, .. }] => {
            assert_eq!(fallback.as_deref(), Some(present.as_str()))
        }
        other => panic!("{other:#?}"),
    }

    let text = running.metrics.encode();
    tagwarden_testbed::promtool::check_metrics(&text);
    let samples = parse_exposition(&text);
    let registry = bed.proxy.addr();
    assert_eq!(
        values(&samples, "tagwarden_image_fallback_info"),
        vec![(labels(&[("fallback", &present), ("image", &wanted)]), 1.0)]
    );
    let unavailable = values(&samples, "tagwarden_image_unavailable");
    assert_eq!(
        unavailable,
        vec![
            (
                unavailable_labels("capsule", "CronJob", "cleanup", &wanted),
                1.0
            ),
            (unavailable_labels("capsule", "Job", "crds", &wanted), 1.0),
        ],
        "no series for the present image"
    );
    let images = values(&samples, "tagwarden_images");
    assert_eq!(
        images.len(),
        6,
        "every status of the one registry: {images:?}"
    );
    for (labels, value) in &images {
        assert_eq!(labels["registry"], registry);
        let want = match labels["status"].as_str() {
            "present" | "missing" => 1.0,
            _ => 0.0,
        };
        assert_eq!(*value, want, "{labels:?}");
    }
    let heads = values(&samples, "tagwarden_registry_requests_total")
        .into_iter()
        .find(|(l, _)| l["operation"] == "head_manifest" && l["code"] == "200")
        .expect("HEAD 200 counted");
    assert_eq!(heads.0["registry"], registry);
    assert!(heads.1 >= 1.0);
    assert!(samples.iter().any(
        |s| s.name == "tagwarden_registry_request_duration_seconds_count"
            && s.labels["operation"] == "head_manifest"
    ));
    assert_eq!(single(&samples, "tagwarden_is_leader"), 1.0);
    assert_eq!(
        values(&samples, "tagwarden_build_info"),
        vec![(labels(&[("version", env!("CARGO_PKG_VERSION"))]), 1.0)]
    );
    assert!(single(&samples, "tagwarden_last_full_check_timestamp_seconds") > 1.7e9);
    assert!(single(&samples, "tagwarden_check_cycle_duration_seconds_count") >= 1.0);

    // One use goes: its series goes. All go: nothing of the image is left.
    running.monitor.set_uses(vec![
        use_of(&wanted, "capsule", "Job", "crds", "kubectl", 0),
        use_of(&present, "tools", "Deployment", "shell", "kubectl", 1),
    ]);
    let samples = parse_exposition(&running.metrics.encode());
    assert_eq!(
        values(&samples, "tagwarden_image_unavailable"),
        vec![(unavailable_labels("capsule", "Job", "crds", &wanted), 1.0)]
    );
    running.monitor.set_uses(Vec::new());
    let text = running.metrics.encode();
    tagwarden_testbed::promtool::check_metrics(&text);
    let samples = parse_exposition(&text);
    for gone in [
        "tagwarden_image_unavailable",
        "tagwarden_image_fallback_info",
        "tagwarden_images",
    ] {
        assert_eq!(values(&samples, gone), vec![], "{gone}");
    }
    assert!(running.monitor.snapshot().is_empty());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retagged_and_then_deleted_tag_is_drift() {
    let bed = Bed::start(&["app:v1", "app:v2"]);
    let first = bed.digest("app:v1");
    let second = bed.digest("app:v2");
    let tagged = bed.image("app:v1");
    let pinned = format!("{}/app@{first}", bed.proxy.addr());
    let mut options = quick_options();
    options.present_every = Duration::from_millis(100);
    options.failing_every = Duration::from_millis(100);
    let mut running = bed.run(options, true);
    running.monitor.set_uses(vec![
        use_of(&tagged, "web", "Deployment", "front", "app", 2),
        use_of(&pinned, "web", "Deployment", "pinned", "app", 1),
    ]);
    running
        .wait_for("both present", |s| {
            s.iter()
                .all(|i| i.status == Some(Status::Present))
                .then_some(())
        })
        .await;

    // v1 now points at v2's manifest.
    bed.registry.seeder().alias("app", "v2", "v1");
    let retagged = running.next_transition().await;
    assert_eq!(
        retagged,
        Transition::TagChanged {
            image: tagged.clone(),
            change: TagChange::Retagged {
                from: first.clone(),
                to: second.clone()
            },
            uses: vec![location("web", "Deployment", "front", "app", 2)],
        }
    );
    assert_eq!(tag_changes(&running.metrics, "retagged"), 1.0);

    // The manifest behind v1 (and v2) is deleted upstream.
    bed.registry.seeder().delete_manifest("app", &second);
    let mut changes = vec![
        running.next_transition().await,
        running.next_transition().await,
    ];
    changes.sort_by_key(|t| matches!(t, Transition::TagChanged { .. }));
    assert!(
        matches!(&changes[0], Transition::Unavailable { image, status: Status::Missing, .. } if image == &tagged),
        "{changes:#?}"
    );
    assert!(
        matches!(&changes[1], Transition::TagChanged { image, change: TagChange::Deleted { digest }, .. } if image == &tagged && digest == &second),
        "{changes:#?}"
    );
    assert_eq!(tag_changes(&running.metrics, "deleted"), 1.0);

    // The pinned image never drifted and is still there (its manifest was not deleted).
    let pinned_state = state_of(&running.monitor.snapshot(), &pinned).clone();
    assert_eq!(pinned_state.status, Some(Status::Present));
    assert!(pinned_state.checks >= 2, "{pinned_state:?}");
    assert!(
        running.drain().iter().all(|t| t.image() != pinned),
        "a digest cannot drift"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_the_registry_and_is_never_missing() {
    let bed = Bed::start(&["app:v1"]);
    let known = bed.image("app:v1");
    let newcomer = bed.image("app:v9");
    let mut options = quick_options();
    options.present_every = Duration::from_millis(100);
    let mut running = bed.run(options, true);
    running
        .monitor
        .set_uses(vec![use_of(&known, "web", "Deployment", "front", "app", 1)]);
    running
        .wait_for("present", |s| {
            (state_of(s, &known).status == Some(Status::Present)).then_some(())
        })
        .await;

    // The next recheck is rate-limited, for 4 seconds.
    let rule = bed.proxy.add_rule(
        Rule::new(
            Fault::too_many_requests(4)
                .with_header("ratelimit-remaining", "0;w=21600")
                .with_header("ratelimit-limit", "100;w=21600"),
        )
        .method("HEAD")
        .times(1),
    );
    let paused_at = running
        .wait_for("the 429", |_| {
            (bed.proxy.hits(rule) == 1).then(Instant::now)
        })
        .await;
    let requests_at_429 = bed.proxy.requests().len();
    running.monitor.set_uses(vec![
        use_of(&known, "web", "Deployment", "front", "app", 1),
        use_of(&newcomer, "web", "Job", "migrate", "migrate", 1),
    ]);
    let states = running
        .wait_for("the newcomer rate-limited without asking", |s| {
            (state_of(s, &newcomer).status == Some(Status::RateLimited)).then(|| s.to_vec())
        })
        .await;
    // The known image keeps its last answer; both wait for the end of the pause.
    assert_eq!(state_of(&states, &known).status, Some(Status::Present));
    for state in &states {
        let left = Duration::from_secs(4).saturating_sub(paused_at.elapsed());
        assert!(
            state
                .next_check_in
                .is_some_and(|d| d + Duration::from_millis(500) >= left),
            "{state:?} should wait about {left:?}"
        );
    }
    let samples = parse_exposition(&running.metrics.encode());
    assert_eq!(
        values(&samples, "tagwarden_registry_rate_limit_remaining"),
        vec![(labels(&[("registry", &bed.proxy.addr())]), 0.0)]
    );
    assert!(
        values(&samples, "tagwarden_registry_requests_total")
            .iter()
            .any(|(l, v)| l["code"] == "429" && *v == 1.0)
    );
    assert_eq!(
        bed.proxy.requests().len(),
        requests_at_429,
        "nothing is asked while paused: {:?}",
        bed.proxy.request_lines()
    );

    // After the pause, both are asked again and decided.
    let states = running
        .wait_for("the newcomer decided after the pause", |s| {
            (state_of(s, &newcomer).status == Some(Status::Missing)).then(|| s.to_vec())
        })
        .await;
    assert!(
        paused_at.elapsed() >= Duration::from_secs(3),
        "asked too early"
    );
    assert_eq!(state_of(&states, &known).status, Some(Status::Present));
    let transitions = running.drain();
    assert!(
        transitions.iter().all(|t| t.image() != known),
        "a rate limit never changes a known answer: {transitions:#?}"
    );
    let newcomer_statuses: Vec<Status> = transitions
        .iter()
        .filter_map(|t| match t {
            Transition::Unavailable { image, status, .. } if image == &newcomer => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        newcomer_statuses,
        vec![Status::RateLimited, Status::Missing]
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_rate_limit_pauses_the_registry_for_its_window() {
    let bed = Bed::start(&["app:v1"]);
    let (known, newcomer) = (bed.image("app:v1"), bed.image("app:v2"));
    // The answer is fine, but it was the last one of the window.
    let rule = bed.proxy.add_rule(
        Rule::new(Fault::header("ratelimit-remaining", "0;w=3600"))
            .method("HEAD")
            .times(1),
    );
    let running = bed.run(quick_options(), true);
    running
        .monitor
        .set_uses(vec![use_of(&known, "web", "Deployment", "a", "app", 1)]);
    running
        .wait_for("present", |s| {
            (state_of(s, &known).status == Some(Status::Present)).then_some(())
        })
        .await;
    assert_eq!(bed.proxy.hits(rule), 1);
    running.monitor.set_uses(vec![
        use_of(&known, "web", "Deployment", "a", "app", 1),
        use_of(&newcomer, "web", "Deployment", "b", "app", 1),
    ]);
    let newcomer_state = running
        .wait_for("the newcomer waiting", |s| {
            (state_of(s, &newcomer).status == Some(Status::RateLimited))
                .then(|| state_of(s, &newcomer).clone())
        })
        .await;
    assert!(
        newcomer_state
            .next_check_in
            .is_some_and(|d| d > Duration::from_secs(3000)),
        "{newcomer_state:?}"
    );
    assert_eq!(
        bed.proxy.requests().len(),
        1,
        "{:?}",
        bed.proxy.request_lines()
    );
    let samples = parse_exposition(&running.metrics.encode());
    assert_eq!(
        values(&samples, "tagwarden_registry_rate_limit_remaining"),
        vec![(labels(&[("registry", &bed.proxy.addr())]), 0.0)]
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_budget_waits_for_its_window() {
    let bed = Bed::start(&["app:v1", "app:v2"]);
    let mut options = quick_options();
    options.default_budget = Some(Budget {
        requests: 1,
        per: Duration::from_secs(3600),
    });
    options.inspect.concurrency = 1;
    let mut running = bed.run(options, true);
    let (one, two) = (bed.image("app:v1"), bed.image("app:v2"));
    running.monitor.set_uses(vec![
        use_of(&one, "web", "Deployment", "a", "app", 1),
        use_of(&two, "web", "Deployment", "b", "app", 1),
    ]);
    let states = running
        .wait_for("one checked, the other waiting for the budget", |s| {
            s.iter()
                .any(|i| i.status == Some(Status::Present))
                .then(|| s.to_vec())
        })
        .await;
    // The wait is tagwarden's own: the image is not called rate-limited (no alert, no
    // Event), it is simply due when the window ends.
    let waiting = states
        .iter()
        .find(|s| s.status.is_none())
        .expect("one waits");
    assert_eq!(waiting.checks, 0);
    assert!(
        waiting
            .next_check_in
            .is_some_and(|d| d > Duration::from_secs(3000)),
        "{waiting:?}"
    );
    assert_eq!(
        bed.proxy.requests().len(),
        1,
        "{:?}",
        bed.proxy.request_lines()
    );
    assert!(running.drain().is_empty());
    running.stop().await;
}

/// The budget is the registry gates' own observer, not the metrics': a client that no
/// metrics observe keeps its budget all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_with_no_metrics_observing_the_client() {
    let bed = Bed::start(&["app:v1", "app:v2", "app:v3"]);
    let mut options = quick_options();
    options.default_budget = Some(Budget {
        requests: 1,
        per: Duration::from_secs(3600),
    });
    options.inspect.concurrency = 1;
    let running = bed.run_observed(options, true, false);
    let images = ["app:v1", "app:v2", "app:v3"].map(|image| bed.image(image));
    running.monitor.set_uses(
        images
            .iter()
            .enumerate()
            .map(|(i, image)| use_of(image, "web", "Deployment", &format!("w{i}"), "app", 1))
            .collect(),
    );
    // The positive signal first: one image checked, and the check cycle counted (the
    // monitor went idle, nothing more due within the window).
    let states = running
        .wait_for("one checked and the cycle over", |s| {
            (s.iter().any(|i| i.status == Some(Status::Present))
                && check_cycles(&running.metrics) >= 1.0)
                .then(|| s.to_vec())
        })
        .await;
    let waiting: Vec<&ImageState> = states.iter().filter(|s| s.status.is_none()).collect();
    assert_eq!(waiting.len(), 2, "{states:#?}");
    for image in &waiting {
        assert_eq!(image.checks, 0, "{image:?}");
        assert!(
            image
                .next_check_in
                .is_some_and(|d| d > Duration::from_secs(3000)),
            "{image:?}"
        );
    }
    assert_eq!(
        bed.proxy.requests().len(),
        1,
        "{:?}",
        bed.proxy.request_lines()
    );
    // And the metrics really were off: they counted no registry request.
    assert_eq!(registry_requests(&running.metrics), 0.0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_checks_and_announces_and_a_comeback_repeats_nothing() {
    let bed = Bed::start(&["app:v1"]);
    let missing = bed.image("app:v9");
    let mut options = quick_options();
    options.failing_every = Duration::from_millis(100);
    let uses = vec![use_of(&missing, "web", "Job", "migrate", "migrate", 1)];
    let mut running = bed.run(options.clone(), false);
    running.monitor.set_uses(uses.clone());
    // Not leading: the state stays unknown. Absence needs a window: the one in which a
    // leader on the same schedule and registry, started after it, counts three check
    // cycles.
    let leader = bed.run(options, true);
    leader.monitor.set_uses(uses);
    leader
        .wait_for("three check cycles of the leader", |_| {
            (check_cycles(&leader.metrics) >= 3.0).then_some(())
        })
        .await;
    leader.stop().await;
    assert_eq!(state_of(&running.monitor.snapshot(), &missing).checks, 0);
    assert_eq!(check_cycles(&running.metrics), 0.0);
    assert_eq!(
        registry_requests(&running.metrics),
        0.0,
        "{}",
        running.metrics.encode()
    );
    assert!(running.drain().is_empty());
    let samples = parse_exposition(&running.metrics.encode());
    assert_eq!(single(&samples, "tagwarden_is_leader"), 0.0);

    running.lead(true);
    match running.next_transition().await {
        Transition::Unavailable { image, status, .. } => {
            assert_eq!(image, missing);
            assert_eq!(status, Status::Missing);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        single(
            &parse_exposition(&running.metrics.encode()),
            "tagwarden_is_leader"
        ),
        1.0
    );

    // Lead lost and regained: the image is still missing, which this replica knew.
    running.lead(false);
    running
        .wait_for("not leader", |_| {
            (single(
                &parse_exposition(&running.metrics.encode()),
                "tagwarden_is_leader",
            ) == 0.0)
                .then_some(())
        })
        .await;
    let before = state_of(&running.monitor.snapshot(), &missing).checks;
    running.lead(true);
    running
        .wait_for("rechecked twice as leader again", |s| {
            (state_of(s, &missing).checks >= before + 2).then_some(())
        })
        .await;
    assert!(running.drain().is_empty(), "nothing new to announce");
    running.stop().await;
}

/// Chooses the client by pull secrets: only `web/regcred` holds the registry's password.
struct BySecret {
    anonymous: Client,
    with_regcred: Client,
}

impl RegistryClients for BySecret {
    fn client_for(&self, pull_secrets: &[SecretRef]) -> Client {
        let regcred = SecretRef {
            namespace: "web".into(),
            name: "regcred".into(),
        };
        if pull_secrets.contains(&regcred) {
            self.with_regcred.clone()
        } else {
            self.anonymous.clone()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_image_is_asked_with_the_pull_secrets_of_its_workloads() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let seeder = registry.seeder();
    for tag in ["v1", "v2"] {
        seeder.push_image(
            "private/app",
            tag,
            ManifestKind::Oci,
            &[Platform::linux_amd64()],
        );
    }
    let (user, password) = registry.credentials();
    let secret = serde_json::json!({
        "auths": { registry.addr(): { "username": user, "password": password } }
    })
    .to_string();
    let metrics = Metrics::new();
    let gates = RegistryGates::default();
    let client = |keychain: Option<PullSecretKeychain>| {
        let mut builder = ClientOptions::builder()
            .max_retry_wait(Duration::from_secs(1))
            .ca_file(registry.ca_cert_path().unwrap());
        if let Some(keychain) = keychain {
            builder = builder.credentials(keychain);
        }
        let mut options = builder.build();
        prepare_client_options(&mut options, &gates, Some(&metrics));
        Client::new(options).unwrap()
    };
    let clients = BySecret {
        anonymous: client(None),
        with_regcred: client(Some(
            PullSecretKeychain::from_cluster_secrets(&[("web/regcred".into(), secret)]).unwrap(),
        )),
    };
    let monitor = Monitor::new(clients, quick_options(), metrics.clone(), gates);
    let shared = format!("{}/private/app:v1", registry.addr());
    let unshared = format!("{}/private/app:v2", registry.addr());
    let with_secret = |image: &str, name: &str| ImageUse {
        pull_secrets: vec![SecretRef {
            namespace: "web".into(),
            name: "regcred".into(),
        }],
        ..use_of(image, "web", "Deployment", name, "app", 1)
    };
    monitor.set_uses(vec![
        // v1: one of its workloads names the secret, so it is asked with it.
        use_of(&shared, "batch", "Job", "report", "app", 1),
        with_secret(&shared, "front"),
        // v2: nobody names it.
        use_of(&unshared, "batch", "CronJob", "nightly", "app", 0),
    ]);
    let (_lead, active) = watch::channel(true);
    let (sender, _transitions) = mpsc::channel(16);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn({
        let monitor = monitor.clone();
        async move {
            monitor
                .run(active, sender, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let started = Instant::now();
    let states = loop {
        let states = monitor.snapshot();
        if states.iter().all(|s| s.status.is_some()) {
            break states;
        }
        assert!(started.elapsed() < DEADLINE, "{states:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(state_of(&states, &shared).status, Some(Status::Present));
    let denied = state_of(&states, &unshared);
    assert_eq!(denied.status, Some(Status::Denied), "{denied:?}");
    stop.send(()).unwrap();
    within(DEADLINE, task).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// The test bed: a registry behind a fault proxy, and a monitor running on it.

struct Bed {
    registry: Registry,
    proxy: FaultProxy,
    digests: BTreeMap<String, String>,
}

impl Bed {
    /// A registry with these `repo:tag` images (linux/amd64), behind a proxy.
    fn start(images: &[&str]) -> Bed {
        let registry = Registry::start();
        let seeder = registry.seeder();
        let digests = images
            .iter()
            .map(|image| {
                let (repo, tag) = image.split_once(':').unwrap();
                let digest =
                    seeder.push_image(repo, tag, ManifestKind::Oci, &[Platform::linux_amd64()]);
                (image.to_string(), digest)
            })
            .collect();
        let proxy = FaultProxy::in_front_of(&registry);
        Bed {
            registry,
            proxy,
            digests,
        }
    }

    /// `repo:tag` on the proxy.
    fn image(&self, image: &str) -> String {
        format!("{}/{image}", self.proxy.addr())
    }

    fn digest(&self, image: &str) -> String {
        self.digests[image].clone()
    }

    /// HEAD requests for `repo:tag`'s manifest seen by the proxy.
    fn heads_of(&self, repo: &str, tag: &str) -> usize {
        let path = format!("/v2/{repo}/manifests/{tag}");
        self.proxy
            .requests()
            .iter()
            .filter(|r| r.method == "HEAD" && r.target == path)
            .count()
    }

    /// A monitor on this registry, running (leading when `leading`), its client observed
    /// by the registry gates and the metrics, as `serve` builds it.
    fn run(&self, options: MonitorOptions, leading: bool) -> Running {
        self.run_observed(options, leading, true)
    }

    /// [`Bed::run`], the metrics observing the client only when `metrics_observe`.
    fn run_observed(
        &self,
        options: MonitorOptions,
        leading: bool,
        metrics_observe: bool,
    ) -> Running {
        let metrics = Metrics::new();
        let gates = RegistryGates::default();
        let mut client_options = ClientOptions::builder()
            .max_retry_wait(Duration::from_secs(1))
            .build();
        prepare_client_options(
            &mut client_options,
            &gates,
            metrics_observe.then_some(&metrics),
        );
        let client = Client::new(client_options).unwrap();
        let monitor = Monitor::new(client, options, metrics.clone(), gates);
        let (lead, active) = watch::channel(leading);
        let (sender, transitions) = mpsc::channel(64);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let monitor = monitor.clone();
            async move {
                monitor
                    .run(active, sender, async {
                        let _ = stopped.await;
                    })
                    .await
            }
        });
        Running {
            monitor,
            metrics,
            lead,
            transitions,
            stop,
            task,
        }
    }
}

struct Running {
    monitor: Monitor,
    metrics: Metrics,
    lead: watch::Sender<bool>,
    transitions: mpsc::Receiver<Transition>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Polls the snapshot until `done` says yes, failing after [`DEADLINE`].
    async fn wait_for<T>(&self, what: &str, mut done: impl FnMut(&[ImageState]) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            let states = self.monitor.snapshot();
            if let Some(value) = done(&states) {
                return value;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for {what}; the monitor knows {states:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn next_transition(&mut self) -> Transition {
        within(DEADLINE, self.transitions.recv())
            .await
            .expect("the monitor stopped")
    }

    /// The transitions sent so far, without waiting.
    fn drain(&mut self) -> Vec<Transition> {
        std::iter::from_fn(|| self.transitions.try_recv().ok()).collect()
    }

    fn lead(&self, leading: bool) {
        self.lead.send(leading).unwrap();
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        within(DEADLINE, self.task).await.unwrap();
    }
}

async fn within<T>(deadline: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(deadline, future)
        .await
        .unwrap_or_else(|_| panic!("nothing within {deadline:?}"))
}

/// Short intervals for tests.
fn quick_options() -> MonitorOptions {
    MonitorOptions {
        present_every: Duration::from_secs(3600),
        failing_every: Duration::from_secs(3600),
        undetermined_backoff: (Duration::from_millis(200), Duration::from_secs(1)),
        rate_limit_pause: Duration::from_secs(1),
        ..MonitorOptions::default()
    }
}

fn location(
    namespace: &str,
    kind: &str,
    name: &str,
    container: &str,
    pods: usize,
) -> WorkloadLocation {
    WorkloadLocation {
        namespace: namespace.into(),
        kind: kind.into(),
        name: name.into(),
        container: container.into(),
        path: "spec.template.spec.containers[0].image".into(),
        pods,
        uid: None,
    }
}

fn use_of(
    image: &str,
    namespace: &str,
    kind: &str,
    name: &str,
    container: &str,
    pods: usize,
) -> ImageUse {
    ImageUse {
        image: image.into(),
        location: location(namespace, kind, name, container, pods),
        pull_secrets: Vec::new(),
        node_platforms: Vec::new(),
    }
}

fn state_of<'a>(states: &'a [ImageState], image: &str) -> &'a ImageState {
    states
        .iter()
        .find(|s| s.image == image)
        .unwrap_or_else(|| panic!("{image} is not known: {states:#?}"))
}

/// The check cycles `metrics` counted (`tagwarden_check_cycle_duration_seconds_count`).
fn check_cycles(metrics: &Metrics) -> f64 {
    single(
        &parse_exposition(&metrics.encode()),
        "tagwarden_check_cycle_duration_seconds_count",
    )
}

/// The registry requests `metrics` counted, all registries and answers together.
fn registry_requests(metrics: &Metrics) -> f64 {
    values(
        &parse_exposition(&metrics.encode()),
        "tagwarden_registry_requests_total",
    )
    .iter()
    .map(|(_, value)| value)
    .sum()
}

fn tag_changes(metrics: &Metrics, kind: &str) -> f64 {
    values(
        &parse_exposition(&metrics.encode()),
        "tagwarden_image_tag_changes_total",
    )
    .into_iter()
    .find(|(l, _)| l["kind"] == kind)
    .map_or(0.0, |(_, v)| v)
}

// ---------------------------------------------------------------------------------------
// Reading the exposition: promtool, and a parser of the text format.

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus text exposition (comments skipped, label values unescaped).
fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let name_end = line.find(['{', ' ']).unwrap();
            let name = line[..name_end].to_string();
            let mut rest = &line[name_end..];
            let mut labels = BTreeMap::new();
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices();
                let mut key = String::new();
                loop {
                    let (i, c) = chars.next().expect("unterminated labels");
                    match c {
                        '}' => {
                            rest = &inner[i + 1..];
                            break;
                        }
                        ',' => {}
                        '=' => {
                            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                            let mut value = String::new();
                            loop {
                                match chars.next().expect("unterminated value").1 {
                                    '"' => break,
                                    '\\' => match chars.next().unwrap().1 {
                                        'n' => value.push('\n'),
                                        other => value.push(other),
                                    },
                                    other => value.push(other),
                                }
                            }
                            labels.insert(std::mem::take(&mut key), value);
                        }
                        other => key.push(other),
                    }
                }
            }
            let value = rest.trim().split(' ').next().unwrap();
            Sample {
                name,
                labels,
                value: value.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
            }
        })
        .collect()
}

/// The label sets and values of `name`, sorted by labels.
fn values(samples: &[Sample], name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut found: Vec<_> = samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| (s.labels.clone(), s.value))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The value of a metric without labels.
fn single(samples: &[Sample], name: &str) -> f64 {
    match values(samples, name).as_slice() {
        [(labels, value)] if labels.is_empty() => *value,
        other => panic!("{name}: {other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn unavailable_labels(
    namespace: &str,
    kind: &str,
    workload: &str,
    image: &str,
) -> BTreeMap<String, String> {
    labels(&[
        ("container", "kubectl"),
        ("image", image),
        ("kind", kind),
        ("namespace", namespace),
        ("reason", "missing"),
        ("workload", workload),
    ])
}
