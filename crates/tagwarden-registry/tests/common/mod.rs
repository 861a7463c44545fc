//! Helpers shared by the registry crate's integration tests.

#![allow(dead_code)]

pub mod shared;

use std::sync::{Arc, Mutex};

use tagwarden_core::Reference;
use tagwarden_registry::{Repository, RequestEvent};

/// The repository `name` on the registry at `addr` (`127.0.0.1:PORT`).
pub fn repo(addr: &str, name: &str) -> Repository {
    Repository::of(&Reference::parse(&format!("{addr}/{name}")).unwrap())
}

/// Every event an observer was given, in order.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<RequestEvent>>>);

impl Events {
    /// An observer that records into this list.
    pub fn observer(&self) -> impl Fn(&RequestEvent) + Send + Sync + 'static {
        let events = self.0.clone();
        move |event: &RequestEvent| events.lock().unwrap().push(event.clone())
    }

    /// The events so far.
    pub fn all(&self) -> Vec<RequestEvent> {
        self.0.lock().unwrap().clone()
    }

    /// How many events so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Forget the events so far.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}
