//! The monitor's memory: every unique image in use, its latest answer, its tag's digest,
//! and when it is due; and the rules that move an image from one answer to the next.
//!
//! - **Uses** come from [`Book::set_uses`], a full replacement, or
//!   [`Book::set_image_uses`], the uses of the images that changed: new images are due at
//!   once (ahead of routine rechecks), images nobody uses any more are forgotten.
//! - **Selection** ([`Book::take_due`]): images due now whose registry is open, urgent
//!   ones (`check_soon`) first, then new ones, then the most overdue. An image whose
//!   registry is closed waits until it opens; if it never had an answer and the registry
//!   itself rationed answers, it is `rate_limited` meanwhile.
//! - **Answers** ([`Book::apply`]) reschedule the image (present: `present_every`;
//!   missing/invalid: `failing_every`; undetermined: doubling backoff) and say what
//!   changed ([`Transition`]). A rate-limited answer never replaces a decided one.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use tagwarden_core::{ImageSet, Platform, Reference};

use crate::inventory::{GatheredUses, ImageUse, SecretRef, WorkloadLocation};

use super::gates::RegistryGates;
use super::options::MonitorOptions;
use super::status::{Answer, Status};
use super::transition::{TagChange, Transition};

/// The `registry` label of an image that is not a reference.
pub(crate) const NO_REGISTRY: &str = "none";

/// Which images go first when several are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Priority {
    /// `check_soon`: a Pod cannot pull it right now.
    Urgent,
    /// Never checked.
    New,
    /// A scheduled recheck.
    Routine,
}

/// One unique image.
#[derive(Debug)]
pub(crate) struct Entry {
    pub registry: String,
    /// Whether the reference names a digest (such an image cannot drift).
    pub pinned: bool,
    pub uses: Vec<WorkloadLocation>,
    /// The platforms of the nodes its Pods could run on (union over its uses).
    pub platforms: Vec<Platform>,
    /// The pull secrets its uses name, in order of first mention, without repeats.
    pub pull_secrets: Vec<SecretRef>,
    pub answer: Option<Answer>,
    pub checked_at: Option<SystemTime>,
    pub checks: u64,
    pub due: Instant,
    pub priority: Priority,
    pub in_flight: bool,
    /// Hurried while a check was in flight: that check may have started before the reason
    /// to hurry (a pull failure, a new Kubernetes version), so another follows at once.
    pub again: bool,
    /// The current undetermined backoff; `None` after a decided answer.
    pub backoff: Option<Duration>,
    /// The digest the tag had when last present.
    pub tag_digest: Option<String>,
    /// Tells this entry from an earlier one of the same image (removed, then re-added):
    /// a check started for the earlier one is ignored.
    pub epoch: u64,
}

/// A check to run.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub image: String,
    pub epoch: u64,
    pub registry: String,
    pub platforms: Vec<Platform>,
    pub pull_secrets: Vec<SecretRef>,
}

/// Every image the cluster uses now.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub images: BTreeMap<String, Entry>,
    next_epoch: u64,
}

impl Book {
    /// Replace the uses; see the [module documentation](self). True when an image is new.
    pub fn set_uses(&mut self, uses: Vec<ImageUse>, now: Instant) -> bool {
        let grouped: ImageSet<ImageUse> = uses
            .into_iter()
            .map(|image_use| (image_use.image.clone(), image_use))
            .collect();
        self.images
            .retain(|image, _| grouped.position(image.as_str()).is_some());
        let mut added = false;
        for entry in grouped {
            added |= self.set_image_uses(entry.image, entry.uses, now);
        }
        added
    }

    /// Replace the uses of one image (none: it is forgotten). True when it is new.
    pub fn set_image_uses(&mut self, image: String, uses: Vec<ImageUse>, now: Instant) -> bool {
        if uses.is_empty() {
            self.images.remove(&image);
            return false;
        }
        let GatheredUses {
            locations: uses,
            pull_secrets,
            platforms,
        } = GatheredUses::of(uses);
        let platforms: Vec<Platform> = platforms.into_iter().map(|p| p.platform).collect();
        if let Some(entry) = self.images.get_mut(&image) {
            entry.uses = uses;
            entry.platforms = platforms;
            entry.pull_secrets = pull_secrets;
            return false;
        }
        let parsed = Reference::parse(&image).ok();
        self.next_epoch += 1;
        let entry = Entry {
            registry: parsed
                .as_ref()
                .map_or(NO_REGISTRY.to_string(), |r| r.registry().to_string()),
            pinned: parsed.as_ref().is_some_and(|r| r.digest().is_some()),
            uses,
            platforms,
            pull_secrets,
            answer: None,
            checked_at: None,
            checks: 0,
            due: now,
            priority: Priority::New,
            in_flight: false,
            again: false,
            backoff: None,
            tag_digest: None,
            epoch: self.next_epoch,
        };
        self.images.insert(image, entry);
        true
    }

    /// Make `image` due now, ahead of everything else. False when nobody uses it.
    pub fn hurry(&mut self, image: &str, now: Instant) -> bool {
        match self.images.get_mut(image) {
            Some(entry) => {
                entry.due = entry.due.min(now);
                entry.priority = Priority::Urgent;
                entry.again |= entry.in_flight;
                true
            }
            None => false,
        }
    }

    /// Up to `limit` due images whose registry is open, marked in flight; and the
    /// transitions of images that got their first answer, `rate_limited`, because their
    /// registry is closed.
    pub fn take_due(
        &mut self,
        now: Instant,
        gates: &RegistryGates,
        limit: usize,
    ) -> (Vec<Job>, Vec<Transition>) {
        let mut candidates: Vec<(Priority, Instant, &String)> = Vec::new();
        let mut transitions = Vec::new();
        let mut closed: HashMap<String, Option<super::gates::Closed>> = HashMap::new();
        for (image, entry) in self.images.iter_mut() {
            if entry.in_flight || entry.due > now {
                continue;
            }
            let gate = closed
                .entry(entry.registry.clone())
                .or_insert_with(|| gates.closed(&entry.registry, now));
            match gate {
                Some(closed) => {
                    entry.due = closed.until;
                    if entry.answer.is_none() && closed.by_registry {
                        let answer = Answer::paused(closed.reason.clone());
                        transitions.extend(changes(image, entry, &answer));
                        entry.answer = Some(answer);
                    }
                }
                None => candidates.push((entry.priority, entry.due, image)),
            }
        }
        candidates.sort();
        let chosen: Vec<String> = candidates
            .into_iter()
            .take(limit)
            .map(|(_, _, image)| image.clone())
            .collect();
        let jobs = chosen
            .into_iter()
            .map(|image| {
                let entry = self.images.get_mut(&image).expect("chosen from the book");
                entry.in_flight = true;
                Job {
                    epoch: entry.epoch,
                    registry: entry.registry.clone(),
                    platforms: entry.platforms.clone(),
                    pull_secrets: entry.pull_secrets.clone(),
                    image,
                }
            })
            .collect();
        (jobs, transitions)
    }

    /// When the next image not in flight is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.images
            .values()
            .filter(|e| !e.in_flight)
            .map(|e| e.due)
            .min()
    }

    /// Forget that checks are in flight (they were cancelled): they are due again.
    pub fn cancel_in_flight(&mut self, now: Instant) {
        for entry in self.images.values_mut().filter(|e| e.in_flight) {
            entry.in_flight = false;
            entry.again = false;
            entry.due = entry.due.min(now);
        }
    }

    /// True when every image has an answer.
    pub fn all_answered(&self) -> bool {
        self.images.values().all(|e| e.answer.is_some())
    }

    /// Record the answer of a check, reschedule, and say what changed. `paused_until`:
    /// until when the image's registry is closed (for a rate-limited answer).
    pub fn apply(
        &mut self,
        job: &Job,
        answer: Answer,
        options: &MonitorOptions,
        now: Instant,
        paused_until: Option<Instant>,
    ) -> Vec<Transition> {
        let Some(entry) = self.images.get_mut(&job.image) else {
            return Vec::new();
        };
        if entry.epoch != job.epoch {
            return Vec::new();
        }
        entry.in_flight = false;
        entry.checks += 1;
        entry.checked_at = Some(SystemTime::now());
        entry.priority = Priority::Routine;
        let status = answer.status;
        entry.due = now + next_interval(entry, status, options);
        if std::mem::take(&mut entry.again) {
            entry.due = now;
            entry.priority = Priority::Urgent;
        }
        if status == Status::RateLimited
            && let Some(until) = paused_until
        {
            entry.due = entry.due.max(until);
        }
        let keeps_last_answer = status == Status::RateLimited
            && entry
                .answer
                .as_ref()
                .is_some_and(|a| a.status != Status::RateLimited);
        if keeps_last_answer {
            return Vec::new();
        }
        let transitions = changes(&job.image, entry, &answer);
        entry.answer = Some(answer);
        transitions
    }
}

/// The delay before the next check after an answer of `status` (updating the backoff).
fn next_interval(entry: &mut Entry, status: Status, options: &MonitorOptions) -> Duration {
    if status.is_undetermined() {
        let (first, most) = options.undetermined_backoff;
        let backoff = entry
            .backoff
            .map_or(first, |b| b.saturating_mul(2).min(most));
        entry.backoff = Some(backoff);
        return backoff;
    }
    entry.backoff = None;
    match status {
        Status::Present => options.present_every,
        _ => options.failing_every,
    }
}

/// What changes when `entry` gets `answer`: availability, and tag drift (which also
/// updates the remembered digest).
fn changes(image: &str, entry: &mut Entry, answer: &Answer) -> Vec<Transition> {
    let mut transitions = Vec::new();
    let before = entry.answer.as_ref().map(|a| a.status);
    let after = answer.status;
    if !after.is_available() && before != Some(after) {
        transitions.push(Transition::Unavailable {
            image: image.to_string(),
            status: after,
            reason: answer
                .reason
                .clone()
                .unwrap_or_else(|| after.as_str().to_string()),
            fallback: answer.fallback.clone(),
            uses: entry.uses.clone(),
        });
    }
    if after.is_available() && before.is_some_and(|b| !b.is_available()) {
        transitions.push(Transition::Available {
            image: image.to_string(),
            uses: entry.uses.clone(),
        });
    }
    if let Some(change) = drift(entry, answer) {
        transitions.push(Transition::TagChanged {
            image: image.to_string(),
            change,
            uses: entry.uses.clone(),
        });
    }
    transitions
}

/// Tag drift between the remembered digest and `answer`; remembers the new digest.
fn drift(entry: &mut Entry, answer: &Answer) -> Option<TagChange> {
    if entry.pinned {
        return None;
    }
    match (answer.status, &answer.digest) {
        (Status::Present, Some(digest)) => match entry.tag_digest.replace(digest.clone()) {
            Some(from) if &from != digest => Some(TagChange::Retagged {
                from,
                to: digest.clone(),
            }),
            _ => None,
        },
        (Status::Missing, _) if answer.tag_absent => entry
            .tag_digest
            .take()
            .map(|digest| TagChange::Deleted { digest }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::WorkloadLocation;

    fn book_with(image: &str, now: Instant) -> (Book, Job) {
        let mut book = Book::default();
        book.set_uses(uses_of(image), now);
        let (jobs, _) = book.take_due(now, &RegistryGates::default(), 10);
        assert_eq!(jobs.len(), 1);
        (book, jobs.into_iter().next().unwrap())
    }

    fn uses_of(image: &str) -> Vec<ImageUse> {
        vec![ImageUse {
            image: image.to_string(),
            location: WorkloadLocation {
                namespace: "web".into(),
                kind: "Deployment".into(),
                name: "front".into(),
                container: "app".into(),
                path: "spec.template.spec.containers[0].image".into(),
                pods: 1,
                uid: None,
            },
            pull_secrets: Vec::new(),
            node_platforms: Vec::new(),
        }]
    }

    fn answer(status: Status) -> Answer {
        Answer {
            status,
            reason: Some(status.as_str().to_string()),
            digest: (status == Status::Present).then(|| "sha256:aa".to_string()),
            fallback: None,
            tag_absent: status == Status::Missing,
        }
    }

    fn options() -> MonitorOptions {
        MonitorOptions {
            present_every: Duration::from_secs(3600),
            failing_every: Duration::from_secs(300),
            undetermined_backoff: (Duration::from_secs(30), Duration::from_secs(100)),
            ..MonitorOptions::default()
        }
    }

    #[test]
    fn each_status_has_its_interval_and_undetermined_ones_back_off() {
        let now = Instant::now();
        let image = "registry.example/app:v1";
        let (mut book, job) = book_with(image, now);
        let mut delays = Vec::new();
        for status in [
            Status::Unreachable,
            Status::Denied,
            Status::Unreachable,
            Status::Unreachable,
            Status::Present,
            Status::Unreachable,
            Status::Missing,
            Status::Invalid,
        ] {
            book.images.get_mut(image).unwrap().in_flight = true;
            book.apply(&job, answer(status), &options(), now, None);
            delays.push(book.images[image].due - now);
        }
        let secs = |s: u64| Duration::from_secs(s);
        assert_eq!(
            delays,
            [30, 60, 100, 100, 3600, 30, 300, 300].map(secs).to_vec(),
            "doubling to the cap, reset by a decided answer"
        );
    }

    #[test]
    fn a_rate_limit_keeps_a_decided_answer_and_waits_for_the_pause() {
        let now = Instant::now();
        let image = "registry.example/app:v1";
        let (mut book, job) = book_with(image, now);
        let changes = book.apply(&job, answer(Status::Present), &options(), now, None);
        assert!(changes.is_empty(), "a first present answer is no news");
        let pause_ends = now + Duration::from_secs(600);
        let changes = book.apply(
            &job,
            answer(Status::RateLimited),
            &options(),
            now,
            Some(pause_ends),
        );
        assert!(changes.is_empty(), "{changes:?}");
        let entry = &book.images[image];
        assert_eq!(entry.answer.as_ref().unwrap().status, Status::Present);
        assert_eq!(entry.due, pause_ends);
        assert_eq!(entry.checks, 2);
    }

    #[test]
    fn an_image_hurried_while_in_flight_is_checked_again_at_once() {
        let now = Instant::now();
        let image = "registry.example/app:v1";
        let (mut book, job) = book_with(image, now);
        assert!(book.hurry(image, now));
        book.apply(&job, answer(Status::Present), &options(), now, None);
        assert_eq!(book.images[image].due, now, "due again at once");
        // Once only.
        book.images.get_mut(image).unwrap().in_flight = true;
        book.apply(&job, answer(Status::Present), &options(), now, None);
        assert_eq!(book.images[image].due, now + Duration::from_secs(3600));
    }

    #[test]
    fn a_check_of_a_forgotten_image_is_ignored() {
        let now = Instant::now();
        let image = "registry.example/app:v1";
        let (mut book, job) = book_with(image, now);
        book.set_uses(Vec::new(), now);
        assert!(
            book.apply(&job, answer(Status::Missing), &options(), now, None)
                .is_empty()
        );
        // Used again: a new entry, which the old check does not answer.
        let (mut book, _) = book_with(image, now);
        let stale = Job { epoch: 0, ..job };
        assert!(
            book.apply(&stale, answer(Status::Missing), &options(), now, None)
                .is_empty()
        );
        assert!(book.images[image].answer.is_none());
    }
}
