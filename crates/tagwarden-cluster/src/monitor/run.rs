//! [`Monitor::run`]: the loop that runs due checks while this replica leads.
//!
//! Each turn it takes the due images (bounded by the free check slots), starts their
//! checks, and waits for whichever comes first: a check finishing, the next image
//! falling due, new uses or a `check_soon`, a change of leadership, or shutdown. A
//! *cycle* is the time from the first check started while idle to the moment nothing is
//! due or running; it feeds `tagwarden_check_cycle_duration_seconds`, and
//! `tagwarden_last_full_check_timestamp_seconds` when every image has an answer.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tagwarden_core::Verdict;
use tokio::sync::{mpsc, watch};

use super::book::Job;
use super::status::{Answer, Status};
use super::{Monitor, Transition};

/// How long the loop sleeps when nothing is known (it is woken by new uses anyway).
const IDLE: Duration = Duration::from_secs(3600);

impl Monitor {
    /// Runs checks while `active` is true (the leader-election flag) until `shutdown`
    /// resolves, sending a [`Transition`] for each change of an image's state (only while
    /// active). Losing the lead cancels the checks in flight; a closed `active` channel
    /// counts as not leading. Dropping `transitions`' receiver is harmless.
    pub async fn run(
        &self,
        mut active: watch::Receiver<bool>,
        transitions: mpsc::Sender<Transition>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let concurrency = self.shared.options.inspect.concurrency.max(1);
        let mut checks = FuturesUnordered::new();
        let mut cycle: Option<Instant> = None;
        let mut election_closed = false;
        loop {
            let leading = !election_closed && *active.borrow_and_update();
            self.shared.metrics.set_leader(leading);
            if !leading {
                if !checks.is_empty() {
                    tracing::info!(cancelled = checks.len(), "not leading: checks stop");
                    checks.clear();
                    self.book().cancel_in_flight(Instant::now());
                }
                cycle = None;
                tokio::select! {
                    () = &mut shutdown => return,
                    changed = active.changed(), if !election_closed => {
                        election_closed = changed.is_err();
                    }
                }
                continue;
            }

            let now = Instant::now();
            let free = concurrency.saturating_sub(checks.len());
            let (jobs, first_answers) = self.book().take_due(now, &self.shared.gates, free);
            self.announce(first_answers, &transitions, &active).await;
            for job in jobs {
                cycle.get_or_insert(now);
                checks.push(self.check(job));
            }
            if checks.is_empty()
                && let Some(started) = cycle.take()
            {
                let answered = self.book().all_answered();
                self.shared
                    .metrics
                    .observe_cycle(started.elapsed().as_secs_f64(), answered);
            }
            let next_due = self.book().next_due().unwrap_or(now + IDLE);
            let slots_free = checks.len() < concurrency;
            tokio::select! {
                () = &mut shutdown => return,
                changed = active.changed() => election_closed = changed.is_err(),
                Some((job, verdict)) = checks.next(), if !checks.is_empty() => {
                    let changes = self.record(&job, &verdict);
                    self.announce(changes, &transitions, &active).await;
                }
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep_until(next_due.into()), if slots_free => {}
            }
        }
    }

    /// One check: the engine's verdict about `job`'s image.
    fn check(&self, job: Job) -> impl Future<Output = (Job, Verdict)> + Send + 'static {
        let client = self.shared.clients.client_for(&job.pull_secrets);
        let mut options = self.shared.options.inspect.clone();
        options.tracking.kube_version = self.kube_version();
        if options.platforms.is_empty() {
            options.platforms = job.platforms.clone();
        }
        async move {
            let verdict = tagwarden_registry::inspect_image(&client, &job.image, &options).await;
            (job, verdict)
        }
    }

    /// Keep a check's answer; count tag drift; the transitions it causes.
    fn record(&self, job: &Job, verdict: &Verdict) -> Vec<Transition> {
        let now = Instant::now();
        let answer = Answer::of(verdict);
        let gates = &self.shared.gates;
        if answer.status == Status::RateLimited && gates.closed(&job.registry, now).is_none() {
            // The gates paused the registry already when they saw the 429 (unless the
            // client was built without them); this is the safe side.
            let reason = answer.reason.clone().unwrap_or_default();
            gates.pause(&job.registry, now + gates.default_pause(), reason);
        }
        let paused_until = gates.closed(&job.registry, now).map(|c| c.until);
        tracing::debug!(image = %job.image, status = %answer.status, "checked");
        let transitions = self
            .book()
            .apply(job, answer, &self.shared.options, now, paused_until);
        for transition in &transitions {
            if let Transition::TagChanged { change, .. } = transition {
                self.shared
                    .metrics
                    .count_tag_change(&job.registry, change.kind());
            }
        }
        transitions
    }

    /// Send `changes`, while leading.
    async fn announce(
        &self,
        changes: Vec<Transition>,
        transitions: &mpsc::Sender<Transition>,
        active: &watch::Receiver<bool>,
    ) {
        for change in changes {
            if !*active.borrow() {
                return;
            }
            tracing::info!(image = change.image(), ?change, "image state changed");
            if transitions.send(change).await.is_err() {
                return;
            }
        }
    }
}
